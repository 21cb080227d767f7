"""The trading core on its own, for workloads that drive orders directly (OR-1, ER-1, CR-1, property tests).

The kernel's engines (risk gate, journal, order manager, paper venue, ledger) over a plain stock
universe with deep quotes, on a manual clock and with no feed or strategy, so a workload controls time
and measures exactly the order path. Risk limits that would rightly refuse a deliberate flood (throttle,
duplicate guard, open-order cap) are lifted; every other check runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from alluse.app.config import AccountConfig, Config, RunConfig
from alluse.app.kernel import Kernel, build_kernel
from alluse.brokers.paper import PaperVenue, PaperVenueConfig
from alluse.common.clock import NS, TestClock
from alluse.execution.config import ExecutionConfig, JournalConfig
from alluse.execution.journal import JOURNAL_FILE, Journal
from alluse.execution.oms import OrderManager
from alluse.marketdata import MarketConfig, QuoteCache
from alluse.model import Equity, Order, OrderType, Quote, Side
from alluse.model.registry import InstrumentRegistry
from alluse.portfolio import Ledger
from alluse.risk import RiskGate
from alluse.risk.config import RiskConfig
from alluse.strategies.config import StrategyConfig

ACCOUNT = "BENCH"
CASH = Decimal(1_000_000_000)
START_NS = 1_795_000_000 * NS  # a fixed simulated start (November 2026)
FLOOD_RISK = RiskConfig(
    orders_per_second=1e9, order_burst=1_000_000, duplicate_window_s=0, max_open_orders=1_000_000,
    max_position_shares=10**9,
)  # fmt: skip
INSTANT_VENUE = PaperVenueConfig(ack_latency_ms=0, fill_latency_ms=0)  # no simulated latency: the path itself


@dataclass(slots=True)
class TradingCore:
    """A kernel's order path, named for the workloads (the same objects as `kernel`'s)."""

    kernel: Kernel
    clock: TestClock
    venue: PaperVenue
    symbols: list[str]
    registry: InstrumentRegistry
    cache: QuoteCache
    journal: Journal
    ledger: Ledger
    risk: RiskGate
    oms: OrderManager

    def quote_all(self, size: int = 1_000_000) -> None:
        """Fresh quotes for every stock (same prices, new size), shown to the venue so resting orders trade."""
        now = self.clock.now_ns()
        cache, venue = self.cache, self.venue
        for i, sym in enumerate(self.symbols):
            px = 50.0 + i
            q = Quote(sym, px - 0.01, px + 0.01, size, size, now, now)
            cache.put(q)
            venue.on_quote(q)

    def order(self, k: int, qty: int = 100, style: str = "market") -> Order:
        """The k-th order of a workload: alternating sides in blocks, cycling over the stocks.

        `style`: "market", "marketable" (a limit at the far touch) or "resting" (a limit a dollar away).
        """
        i = k % len(self.symbols)
        sym = self.symbols[i]
        side = Side.BUY if (k // len(self.symbols)) % 2 == 0 else Side.SELL
        oms = self.oms
        if style == "market":
            return Order(oms.next_client_order_id(), ACCOUNT, sym, side, qty, OrderType.MARKET)
        offset = {"marketable": Decimal("0.01"), "resting": Decimal("-1.00")}[style]
        px = Decimal(50 + i) + (offset if side is Side.BUY else -offset)
        return Order(oms.next_client_order_id(), ACCOUNT, sym, side, qty, OrderType.LIMIT, px)

    def settle(self, limit_ns: int = 120 * NS, step_ns: int = 10_000_000) -> None:
        """Run the clock until nothing is open or in flight and the venue is connected (or the limit passes),
        quoting as it goes."""
        deadline = self.clock.now_ns() + limit_ns
        oms = self.oms
        busy = lambda: oms.open_orders() or oms.in_flight() or not self.venue.connected  # noqa: E731
        while busy() and self.clock.now_ns() < deadline:
            self.clock.advance(step_ns)
            self.quote_all()

    def close(self) -> None:
        self.kernel.close()


def core_config(
    *,
    venue: PaperVenueConfig = INSTANT_VENUE,
    execution: ExecutionConfig | None = None,
    journal: JournalConfig | None = None,
    seed: int = 0,
) -> Config:
    """The one config a workload's core is built from."""
    return Config(
        run=RunConfig(seed=seed),
        market=MarketConfig(quote_ttl_s=3600, option_cache_capacity=1000, calendar="24/7"),  # the path, not hours
        venue=venue,
        risk=FLOOD_RISK,
        journal=journal or JournalConfig(),
        execution=execution or ExecutionConfig(),
        accounts={ACCOUNT: AccountConfig(cash=CASH)},
        strategy=StrategyConfig(enabled=False, sleeves=[]),
    )


def build_core(
    data_dir: Path,
    *,
    stocks: int = 50,
    venue_config: PaperVenueConfig = INSTANT_VENUE,
    execution: ExecutionConfig | None = None,
    journal_config: JournalConfig | None = None,
    venue_store: bool = True,
    start_ns: int = START_NS,
    seed: int = 0,
) -> TradingCore:
    """Build (or, on existing files, recover) a trading core in `data_dir`. `venue_store=False`: the venue
    keeps its book in memory."""
    config = core_config(venue=venue_config, execution=execution, journal=journal_config, seed=seed)
    clock = TestClock(start_ns)
    symbols = [f"S{i:03d}" for i in range(stocks)]
    journal = Journal.from_config(data_dir / JOURNAL_FILE, config.journal)
    kernel = build_kernel(config, clock, data_dir if venue_store else None, instruments=map(Equity, symbols),
                          feed=False, journal=journal)  # fmt: skip
    k = kernel
    assert isinstance(k.broker, PaperVenue)
    core = TradingCore(k, clock, k.broker, symbols, k.registry, k.cache, k.journal, k.ledger, k.risk, k.oms)
    core.quote_all()
    kernel.recover()
    return core
