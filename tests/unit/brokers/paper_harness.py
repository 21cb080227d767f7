"""The paper venue plus a recording stand-in for the order manager, shared by the venue's tests."""

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from alluse.brokers.paper import PaperVenue, PaperVenueConfig
from alluse.common.clock import TestClock, datetime_to_ns
from alluse.model import Equity, Option, Order, OrderStatus, OrderType, Quote, Right, Side, TimeInForce, expiry_ns
from alluse.model.events import EventKind, OrderEvent, SettlementEvent
from alluse.model.registry import InstrumentRegistry

D = Decimal
MS = 1_000_000
T0 = datetime_to_ns(datetime(2026, 1, 5, 14, 30, tzinfo=UTC))  # a Monday, mid-session
CASH = D("100000")
STOCK = Equity("AAPL")
EXPIRY = date(2026, 1, 16)
PUT = Option("AAPL", EXPIRY, D("200"), Right.PUT)
CALL = Option("AAPL", EXPIRY, D("200"), Right.CALL)
EXPIRY_NS = expiry_ns(PUT)  # 16:00 New York: 21:00 UTC in January


class FakeQuotes:
    def __init__(self) -> None:
        self.latest: dict[str, Quote] = {}

    def get(self, instrument_id: str) -> Quote | None:
        return self.latest.get(instrument_id)


class Harness:
    """`store` is a path for a persistent venue; `clock` lets a restarted venue continue in time."""

    def __init__(
        self,
        cash: D = CASH,
        positions: dict[str, int] | None = None,
        *,
        store: Path | None = None,
        clock: TestClock | None = None,
        id_prefix: str = "P1",
        **config,
    ) -> None:
        self.clock = clock or TestClock(T0)
        self.quotes = FakeQuotes()
        self.registry = InstrumentRegistry([STOCK, PUT, CALL])
        config = PaperVenueConfig(**{"ack_latency_ms": 0, "fill_latency_ms": 0, **config})  # instant unless asked
        self.venue = PaperVenue(self.clock, self.registry, self.quotes, config, store, id_prefix=id_prefix)
        self.events: list[tuple[int, OrderEvent]] = []  # (clock time delivered, event)
        self.settlements: list[SettlementEvent] = []
        self.connection: list[tuple[int, bool]] = []
        self.venue.set_event_handler(lambda e: self.events.append((self.clock.now_ns(), e)), self.settlements.append)
        self.venue.set_connection_handler(lambda up: self.connection.append((self.clock.now_ns(), up)))
        self.venue.load_account("A", cash, positions or {})

    def quote(self, iid: str, bid: float, ask: float, bid_size: int = 100, ask_size: int = 100) -> Quote:
        now = self.clock.now_ns()
        q = Quote(iid, bid, ask, bid_size, ask_size, now, now)
        self.quotes.latest[iid] = q
        self.venue.on_quote(q)
        return q

    def submit(self, cid, side=Side.BUY, qty=100, *, iid=STOCK.id, limit=None, tif=TimeInForce.DAY, account="A"):
        order = Order(
            cid,
            account,
            iid,
            side,
            qty,
            order_type=OrderType.MARKET if limit is None else OrderType.LIMIT,
            limit_price=None if limit is None else D(limit),
            time_in_force=tif,
            status=OrderStatus.SUBMITTED,
        )
        self.venue.submit(order)
        return order

    def of(self, cid: str) -> list[OrderEvent]:
        return [e for _, e in self.events if e.client_order_id == cid]

    def kinds(self, cid: str) -> list[EventKind]:
        return [e.kind for e in self.of(cid)]

    def fills(self, cid: str):
        return [e.fill for e in self.of(cid) if e.kind is EventKind.FILL]
