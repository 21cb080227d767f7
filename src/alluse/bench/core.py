"""The trading core on its own, for workloads that drive orders directly (OR-1, ER-1, CR-1, property tests).

The same components the full system wires — risk gate, journal, order manager, paper venue,
ledger — over a plain stock universe with deep quotes, on a manual clock, so a workload
controls time and measures exactly the order path. Risk limits that would rightly refuse a
deliberate flood (throttle, duplicate guard, open-order cap) are lifted; every other check runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from alluse.app.config import JournalConfig, RiskConfig
from alluse.brokers.paper import PaperVenue, PaperVenueConfig
from alluse.common.bus import MessageBus
from alluse.common.clock import NS, TestClock
from alluse.execution.journal import Journal
from alluse.execution.oms import OrderManager
from alluse.execution.retry import RetryPolicy
from alluse.marketdata import QuoteCache
from alluse.model import Equity, Order, OrderType, Quote, Side
from alluse.model.registry import InstrumentRegistry
from alluse.portfolio import ExecutionQuality, Ledger
from alluse.risk import RiskContext, RiskGate

ACCOUNT = "BENCH"
CASH = Decimal(1_000_000_000)
START_NS = 1_795_000_000 * NS  # a fixed simulated start (November 2026)
FLOOD_RISK = RiskConfig(
    orders_per_second=1e9, order_burst=1_000_000, duplicate_window_s=0, max_open_orders=1_000_000,
    max_position_shares=10**9,
)  # fmt: skip


@dataclass(slots=True)
class TradingCore:
    clock: TestClock
    registry: InstrumentRegistry
    cache: QuoteCache
    venue: PaperVenue
    journal: Journal
    ledger: Ledger
    risk: RiskGate
    oms: OrderManager
    symbols: list[str]

    def quote_all(self, size: int = 1_000_000) -> None:
        """Fresh quotes for every stock (same prices, new size), shown to the venue so resting orders trade."""
        now = self.clock.now_ns()
        for i, sym in enumerate(self.symbols):
            px = 50.0 + i
            q = Quote(sym, px - 0.01, px + 0.01, size, size, now, now)
            self.cache.put(q)
            self.venue.on_quote(q)

    def order(self, k: int, qty: int = 100, style: str = "market") -> Order:
        """The k-th order of a workload: alternating sides in blocks, cycling over the stocks.

        `style`: "market", "marketable" (a limit at the far touch) or "resting" (a limit a dollar away).
        """
        i = k % len(self.symbols)
        sym = self.symbols[i]
        side = Side.BUY if (k // len(self.symbols)) % 2 == 0 else Side.SELL
        if style == "market":
            return Order(self.oms.next_client_order_id(), ACCOUNT, sym, side, qty, OrderType.MARKET)
        offset = {"marketable": Decimal("0.01"), "resting": Decimal("-1.00")}[style]
        px = Decimal(50 + i) + (offset if side is Side.BUY else -offset)
        return Order(self.oms.next_client_order_id(), ACCOUNT, sym, side, qty, OrderType.LIMIT, px)

    def settle(self, limit_ns: int = 120 * NS, step_ns: int = 10_000_000) -> None:
        """Run the clock until nothing is open or in flight and the venue is connected (or the limit passes),
        quoting as it goes."""
        deadline = self.clock.now_ns() + limit_ns
        busy = lambda: self.oms.open_orders() or self.oms.in_flight() or not self.venue.connected  # noqa: E731
        while busy() and self.clock.now_ns() < deadline:
            self.clock.advance(step_ns)
            self.quote_all()

    def close(self) -> None:
        self.journal.close()
        self.venue.close()


def build_core(
    data_dir: Path,
    *,
    stocks: int = 50,
    venue_config: PaperVenueConfig | None = None,
    retry: RetryPolicy | None = None,
    journal_config: JournalConfig | None = None,
    venue_store: bool = True,
    start_ns: int = START_NS,
    seed: int = 0,
) -> TradingCore:
    """Build (or, on existing files, recover) a trading core in `data_dir`."""
    clock = TestClock(start_ns)
    symbols = [f"S{i:03d}" for i in range(stocks)]
    registry = InstrumentRegistry(Equity(s) for s in symbols)
    cache = QuoteCache(clock, 3600 * NS, 1000, registry.is_option)
    jc = journal_config or JournalConfig()
    journal = Journal.from_config(data_dir / "journal.db", jc)
    venue = PaperVenue(
        clock,
        registry,
        cache.fresh_view(),
        venue_config or PaperVenueConfig(id_prefix=f"P{journal.sessions() + 1}"),
        store_path=data_dir / "venue.db" if venue_store else None,
    )
    ledger = Ledger(lambda iid: 1)

    mid_of = cache.fresh_mid
    holder: list[OrderManager] = []
    risk = RiskGate(RiskContext(clock, registry, ledger, mid_of, lambda: holder[0].open_orders()), FLOOD_RISK)
    bus = MessageBus()
    risk.attach(bus)
    oms = OrderManager(
        clock=clock,
        bus=bus,
        registry=registry,
        journal=journal,
        broker=venue,
        risk=risk,
        ledger=ledger,
        quality=ExecutionQuality(),
        mid_of=mid_of,
        accounts=[ACCOUNT],
        retry=retry,
        seed=seed,
        journal_flush_ns=int(jc.flush_ms * 1e6),
    )
    holder.append(oms)
    core = TradingCore(clock, registry, cache, venue, journal, ledger, risk, oms, symbols)
    core.quote_all()
    oms.recover({ACCOUNT: CASH})
    venue.load_account(ACCOUNT, ledger.cash[ACCOUNT], {p.instrument_id: p.quantity for p in ledger.open_positions()})
    return core
