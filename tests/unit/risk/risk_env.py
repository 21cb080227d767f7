"""A risk gate over a small book: a registry, a ledger, quotes, greeks and equity the tests set.

`env.submit` plays the order manager (check, then the order is working), `env.fill` and
`env.cancel` play the venue's events through the bus, as the system wires them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from alluse.common.bus import TOPIC_FILL, TOPIC_ORDER_EVENT, MessageBus
from alluse.common.clock import TestClock, datetime_to_ns
from alluse.model import Equity, Fill, Option, Order, OrderStatus, OrderType, Right, Side
from alluse.model.registry import InstrumentRegistry
from alluse.portfolio import Ledger
from alluse.risk import Denial, RiskContext, RiskGate, TradingStates
from alluse.risk.config import RiskConfig

T0 = datetime_to_ns(datetime(2026, 12, 1, 15, 0, tzinfo=UTC))
PUT = Option("AAPL", date(2026, 12, 18), Decimal("200"), Right.PUT)  # 17.2 days out at T0
CALL = Option("AAPL", date(2026, 12, 18), Decimal("200"), Right.CALL)
NEAR_PUT = Option("AAPL", date(2026, 12, 1), Decimal("190"), Right.PUT)  # expires 20:00 UTC today
FAR_PUT = Option("AAPL", date(2027, 6, 18), Decimal("180"), Right.PUT)  # ~200 days out


class Env:
    def __init__(self, config: RiskConfig | None = None, accounts: tuple[str, ...] = ("A",), greeks: bool = True):
        self.clock = TestClock(T0)
        self.registry = InstrumentRegistry([Equity("AAPL"), Equity("NOQ"), PUT, CALL, NEAR_PUT, FAR_PUT])
        self.ledger = Ledger(lambda iid: self.registry.require(iid).multiplier)
        for account in accounts:
            self.ledger.deposit(account, Decimal(100_000))
        self.mids: dict[str, float] = {"AAPL": 200.0, PUT.id: 3.0, CALL.id: 0.20, NEAR_PUT.id: 0.5, FAR_PUT.id: 6.0}
        self.deltas: dict[str, float] = {PUT.id: -0.45, NEAR_PUT.id: -0.45, FAR_PUT.id: -0.45}
        self.equity: dict[str, Decimal] = {a: Decimal(100_000) for a in accounts}
        self.changes: list[tuple] = []
        self.states = TradingStates(accounts, on_change=lambda *change: self.changes.append(change))
        self.open: dict[str, Order] = {}
        self.bus = MessageBus()
        self.ctx = RiskContext(
            self.clock,
            self.registry,
            self.ledger,
            self.mids.get,
            self.greeks_of if greeks else None,
            self.equity.__getitem__,
        )
        self.gate = RiskGate(self.ctx, config if config is not None else RiskConfig(), self.states)
        self.gate.attach(self.bus)
        self.gate.rebuild([])  # the first count, as the order manager's recovery makes it
        self._seq = 0
        self._fills = 0

    def rebuild(self) -> list[str]:
        """The gate recounted from the ledger and the working orders, as the order manager asks after recovery."""
        return self.gate.rebuild(list(self.open.values()))

    def greeks_of(self, option: Option) -> tuple[float, float] | None:
        delta = self.deltas.get(option.id)
        return None if delta is None else (0.3, delta)

    def order(self, iid="AAPL", side=Side.BUY, qty=10, price: str | None = "200.00", account="A") -> Order:
        self._seq += 1
        kind = OrderType.LIMIT if price is not None else OrderType.MARKET
        return Order(f"O{self._seq}", account, iid, side, qty, kind, None if price is None else Decimal(price))

    def submit(self, order: Order) -> Denial | None:
        """Check, and if it passes the order is working (as the order manager would make it)."""
        denial = self.gate.check(order)
        if denial is None:
            order.status = OrderStatus.ACCEPTED
            self.open[order.client_order_id] = order
        return denial

    def hold(self, iid: str, qty: int, price: str = "1.00", account: str = "A") -> None:
        """A position from an earlier fill (no order involved), announced on the bus like a settlement."""
        self._fills += 1
        side = Side.BUY if qty > 0 else Side.SELL
        fill = Fill("EXT", account, iid, side, abs(qty), Decimal(price), Decimal(0), 0, f"h{self._fills}")
        self.ledger.apply_fill(fill)
        self.bus.publish(TOPIC_FILL, fill)

    def fill(self, order: Order, qty: int, price: str | None = None) -> None:
        self._fills += 1
        px = Decimal(price) if price is not None else order.limit_price
        fill = Fill(
            order.client_order_id,
            order.account,
            order.instrument_id,
            order.side,
            qty,
            px,
            Decimal(0),
            0,
            f"f{self._fills}",
        )
        self.ledger.apply_fill(fill)
        order.filled_qty += qty
        order.status = OrderStatus.FILLED if order.remaining == 0 else OrderStatus.PARTIALLY_FILLED
        self._event(order)
        self.bus.publish(TOPIC_FILL, fill)

    def cancel(self, order: Order) -> None:
        order.status = OrderStatus.CANCELED
        self._event(order)

    def _event(self, order: Order) -> None:
        if order.status.is_terminal:
            self.open.pop(order.client_order_id, None)
        self.bus.publish(TOPIC_ORDER_EVENT, (order, None))
