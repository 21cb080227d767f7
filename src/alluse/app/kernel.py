"""The kernel: the one place that builds a trading process's engines from one config and wires them.

`alluse run` (app/system.py), the benchmarks (bench/core.py) and the tests all build through
`build_kernel`: every engine is made after what it reads, and the two listeners that close a loop (a
halt cancels working orders, a new loss watermark is journaled) are attached last, here.
Brokers are registered by name in `BROKERS`: a broker is a subpackage of `alluse.brokers`, its config
section in app/config.py and an entry here; `run.broker` picks one. Start-up is recovery
(`Kernel.recover`): the journal is read, positions and cash rebuilt from its fills and the broker
reconciled, before anything trades.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from alluse.app import operator
from alluse.app.config import Config, ConfigError
from alluse.brokers.base import Broker, Connecting
from alluse.brokers.paper import PaperVenue
from alluse.common.bus import MessageBus
from alluse.common.clock import Clock, LiveClock, ns_to_datetime
from alluse.common.market_hours import Sessions, load_market_hours
from alluse.common.metrics import MetricSource
from alluse.execution.journal import JOURNAL_FILE, Journal
from alluse.execution.oms import OrderManager, RecoveryReport
from alluse.marketdata import DataEngine, OptionChainService, QuoteCache, QuoteSink, SimulatedMarket
from alluse.model import Instrument, TradingState
from alluse.model.registry import InstrumentRegistry
from alluse.portfolio import ExecutionQuality, Ledger
from alluse.portfolio.valuation import LedgerValuation
from alluse.risk import RiskContext, RiskGate, TradingStates
from alluse.strategies.wheel import Phase, WheelStrategy

if TYPE_CHECKING:  # ib_async costs a quarter of a second to import, which a paper run need not pay
    from alluse.brokers.ibkr.broker import IbkrBroker
    from alluse.brokers.ibkr.market_data import IbkrMarketData

log = logging.getLogger("alluse.kernel")

VENUE_FILE = "venue.db"


@dataclass(slots=True, frozen=True)
class BrokerContext:
    """What a broker may be built from, besides its own config section."""

    clock: Clock
    registry: InstrumentRegistry
    cache: QuoteCache
    engine: DataEngine
    chains: OptionChainService  # a broker with its own greeks (IB) lends them to the chains
    data_dir: Path | None  # None: the broker keeps nothing on disk
    session: int  # the journal session about to start (a paper venue numbers its ids by it)
    synchronous: str  # the journal's SQLite durability, for a broker that keeps a store
    hours: Sessions  # the market's sessions: a simulated venue fills only while open


@dataclass(slots=True, frozen=True)
class BrokerPlugin:
    build: Callable[[Config, BrokerContext], Broker]
    # after recovery: hand the broker what the journal says the accounts hold (a simulated broker has
    # no other source; a real one ignores it)
    seed_accounts: Callable[[Broker, Ledger, Iterable[str]], None]
    feeds_market: bool = False  # the broker brings the quotes (no simulated market is built)
    # a simulation whose latencies are its config played on our clock: on an accelerated or virtual clock they are
    # measured there and exported as simulated; at 1x they take real wall time, measured like a remote venue's
    simulated: Callable[[Config], bool] = lambda config: False


def _build_paper(config: Config, ctx: BrokerContext) -> Broker:
    venue = PaperVenue(
        ctx.clock,
        ctx.registry,
        ctx.cache.fresh_view(),
        config.venue,
        store_path=None if ctx.data_dir is None else ctx.data_dir / VENUE_FILE,  # its own records, apart from ours
        id_prefix=f"P{ctx.session}",
        store_synchronous=ctx.synchronous,
        hours=ctx.hours,
    )
    ctx.engine.subscribe_all(venue.on_quote)  # it fills against the live quotes
    return venue


def _seed_paper(broker: Broker | PaperVenue, ledger: Ledger, accounts: Iterable[str]) -> None:
    assert isinstance(broker, PaperVenue)
    for account in accounts:
        positions = {p.instrument_id: p.quantity for p in ledger.open_positions(account)}
        broker.load_account(account, ledger.cash.get(account, Decimal(0)), positions)


def _build_ibkr(config: Config, ctx: BrokerContext) -> Broker:
    from alluse.brokers.ibkr.broker import IbkrBroker  # here, not at the top: see TYPE_CHECKING above
    from alluse.brokers.ibkr.gateway.exchange import Exchange
    from alluse.brokers.ibkr.gateway.server import Gateway
    from alluse.brokers.ibkr.order_ids import ORDER_IDS_FILE, OrderIds

    gateway = None
    if config.ibkr.local_gateway:  # the project's own TWS-protocol gateway, in this process, on its own market
        accounts = {name: a.cash for name, a in config.accounts.items()}
        exchange = Exchange(ctx.clock, config.market, config.venue, accounts, config.run.seed, open_accounts=False,
                            hours=ctx.hours, instance=ctx.session)  # ids never repeat across our restarts  # fmt: skip
        gateway = Gateway(exchange, config.gateway)
    ids = OrderIds(None if ctx.data_dir is None else ctx.data_dir / ORDER_IDS_FILE)
    broker = IbkrBroker(config.ibkr, ctx.clock, ctx.registry, ids, local_gateway=gateway)
    market_data = attach_ibkr_market_data(broker, config, ctx.clock, ctx.registry, ctx.engine.on_quotes)
    ctx.chains.broker_greeks = market_data.model_greeks  # IB's model greeks first, ours where it has none
    return broker


def attach_ibkr_market_data(
    broker: IbkrBroker, config: Config, clock: Clock, registry: InstrumentRegistry, sink: QuoteSink
) -> IbkrMarketData:
    """IB's market-data lines for what the strategy's sleeves trade (their underlyings, the options in their
    delta and DTE bands), pushed into `sink`: a process's data engine, or the cluster's quote publisher."""
    from alluse.brokers.ibkr.market_data import Band, IbkrMarketData

    bands = [Band(u, s.delta_min, s.delta_max, config.strategy.min_dte, config.strategy.max_dte)
             for s in config.strategy.sleeves for u in s.underlyings]  # fmt: skip

    def vol_guess(underlying: str) -> float:  # before IB's own model volatility is known
        found = config.market.underlyings.get(underlying)
        return found.vol if found is not None else 0.4

    broker.market_data = IbkrMarketData(broker.ib, config.ibkr, clock, registry, sink, bands,
                                        config.market.weekly_expiries, vol_guess, config.market.rate)  # fmt: skip
    return broker.market_data


def _seed_ibkr(broker: Broker, ledger: Ledger, accounts: Iterable[str]) -> None:
    """IB is the truth for its accounts; only the local gateway's simulated venue is told what the journal holds."""
    from alluse.brokers.ibkr.broker import IbkrBroker

    assert isinstance(broker, IbkrBroker)
    held = [p.instrument_id for a in accounts for p in ledger.open_positions(a)]
    if broker.market_data is not None:
        broker.market_data.pin_held(held)
    if broker.local_gateway is not None:
        _seed_paper(broker.local_gateway.exchange.venue, ledger, accounts)
        for account in accounts:
            broker.local_gateway.publish_account(account, positions=True)


BROKERS: dict[str, BrokerPlugin] = {
    "paper": BrokerPlugin(_build_paper, _seed_paper, simulated=lambda config: True),
    "ibkr": BrokerPlugin(_build_ibkr, _seed_ibkr, feeds_market=True, simulated=lambda c: c.ibkr.local_gateway),
}


@dataclass(slots=True)
class Kernel:
    config: Config
    clock: Clock
    bus: MessageBus
    registry: InstrumentRegistry
    cache: QuoteCache
    engine: DataEngine
    chains: OptionChainService
    hours: Sessions
    market: SimulatedMarket | None  # the feed; None where the caller feeds quotes itself
    journal: Journal
    broker: Broker
    broker_plugin: BrokerPlugin | None  # None: a broker the caller built
    ledger: Ledger
    quality: ExecutionQuality
    states: TradingStates
    operator: operator.OperatorInbox  # `alluse halt`/`reducing`/`resume` from another process
    risk: RiskGate
    oms: OrderManager
    strategy: WheelStrategy | None

    def recover(self) -> RecoveryReport:
        """Rebuild the book from the journal and reconcile with the broker; then the broker's accounts are
        seeded from it. The only start path."""
        initial = {name: account.cash for name, account in self.config.accounts.items()}
        report = self.oms.recover(initial)
        if self.broker_plugin is not None:
            self.broker_plugin.seed_accounts(self.broker, self.ledger, self.config.accounts)
        return report

    def metric_sources(self) -> list[MetricSource]:
        """Every component's plain counters, for the collector and the Prometheus exporter."""
        sources: list[object] = [self.engine, self.cache, self.oms, self.risk, self.broker, self.ledger]
        sources.append(LedgerValuation(self.ledger, self.cache.fresh_mid))
        return [s for s in sources if isinstance(s, MetricSource)]

    def on_state_change(self, account: str, old: TradingState, new: TradingState, reason: str, source: str) -> None:
        """Journal a trading-state change (unless the operator's own journal record made it) and cancel the
        account's working orders on HALTED: a halt holds, and cancels, even when the journal cannot record it."""
        try:
            if source != operator.SOURCE:  # the operator's command is its own journal record
                self.journal.record_trading_state(account, new.value, reason, source, self.clock.now_ns())
        finally:
            log.warning("%s: %s -> %s (%s: %s)", account, old.value, new.value, source, reason)
            if new is TradingState.HALTED:
                cancelled = self.oms.cancel_all(account)
                log.warning("%s halted: %d working orders cancelled", account, cancelled)

    async def connect(self) -> None:
        """A networked broker connects (and lists its instruments) before `recover` reads its book."""
        if isinstance(self.broker, Connecting):
            await self.broker.start()

    async def disconnect(self) -> None:
        if isinstance(self.broker, Connecting):
            await self.broker.stop()

    def close(self) -> None:
        self.journal.close()
        self.broker.close()


def market_hours(config: Config, now_ns: int, years: int = 3) -> Sessions:  # a backtest asks for its span
    """The sessions of `market.calendar` from two weeks before `now_ns` to `years` after (a run past the end
    stops quoting, with a warning)."""
    today = ns_to_datetime(now_ns).date()
    return load_market_hours(config.market.calendar, today - timedelta(days=14), today + timedelta(days=366 * years),
                             config.venue.session_close_utc_hour)  # fmt: skip


def build_kernel(
    config: Config,
    clock: Clock,
    data_dir: Path | None,
    *,
    instruments: Iterable[Instrument] = (),
    feed: bool = True,
    journal: Journal | None = None,
    broker: Broker | None = None,
    hours: Sessions | None = None,
) -> Kernel:
    """The engines of one trading process, wired, not yet started (call `recover`, then start the feed).

    `data_dir` holds the journal and the broker's own files (None: the broker keeps nothing on disk; a
    journal must then be given). `instruments` are known from the start besides the feed's; `feed=False`
    builds no simulated market (the caller feeds quotes). A caller may bring its own `journal` or
    `broker` (tests do). `hours`: the market's sessions (default: `market.calendar` around the clock's date).
    """
    bus = MessageBus()
    registry = InstrumentRegistry(instruments)
    mc = config.market
    cache = QuoteCache(clock, mc.quote_ttl_ns, mc.option_cache_capacity, registry.is_option)
    engine = DataEngine(registry, cache, clock)
    chains = OptionChainService(registry, cache, clock, rate=mc.rate)
    plugin = None
    if broker is None:  # checked before any file is opened
        plugin = BROKERS.get(config.run.broker)
        if plugin is None:
            known = ", ".join(sorted(BROKERS))
            raise ConfigError(f"run.broker = {config.run.broker!r}: unknown broker (known: {known})")
    if hours is None:
        hours = market_hours(config, clock.now_ns())
    feed = feed and not (plugin is not None and plugin.feeds_market)
    market = SimulatedMarket(mc, clock, registry, seed=config.run.seed, hours=hours) if feed else None
    own_journal = journal is None
    if journal is None:
        if data_dir is None:
            raise ValueError("build_kernel: without a data_dir, bring a journal")
        journal = Journal.from_config(data_dir / JOURNAL_FILE, config.journal)
    if broker is None:
        assert plugin is not None  # looked up above, or refused
        broker_context = BrokerContext(clock, registry, cache, engine, chains, data_dir, journal.sessions() + 1,
                                       config.journal.synchronous, hours)  # fmt: skip
        try:
            broker = plugin.build(config, broker_context)
        except BaseException:  # a broker that cannot start (its store refused): the journal is not left open
            if own_journal:
                journal.close()
            raise

    def multiplier_of(instrument_id: str) -> int:
        return registry.resolve(instrument_id).multiplier

    ledger = Ledger(multiplier_of)
    mid_of = cache.fresh_mid
    states = TradingStates(config.accounts)
    # made before the states are seeded: a command journaled in between is read again (harmless), not missed
    inbox = operator.OperatorInbox(journal, config.accounts)
    for account, (state, reason, _source) in journal.trading_states().items():
        if account in config.accounts:
            states.seed(account, state, reason)  # a halt survives a restart
    risk_context = RiskContext(clock, registry, ledger, mid_of, chains.greeks_for, lambda a: ledger.equity(a, mid_of))
    risk = RiskGate(risk_context, config.risk, states)
    risk.attach(bus)  # before the strategy subscribes: exposure is counted before decisions see an event
    for account, (day, day_start, peak) in journal.watermarks().items():
        risk.loss.seed(account, day, day_start, peak)
    quality = ExecutionQuality()
    oms = OrderManager(
        clock=clock,
        bus=bus,
        registry=registry,
        journal=journal,
        broker=broker,
        risk=risk,
        ledger=ledger,
        quality=quality,
        mid_of=mid_of,
        accounts=config.accounts,
        config=config.execution,
        journal_flush_ns=config.journal.flush_ns,
        seed=config.run.seed,
        simulated_venue=(plugin.simulated(config) if plugin is not None else isinstance(broker, PaperVenue))
        and not (isinstance(clock, LiveClock) and clock.speed == 1.0),
    )
    strategy = None
    if config.strategy.enabled:
        strategy = WheelStrategy(
            config=config.strategy,
            clock=clock,
            bus=bus,
            oms=oms,
            ledger=ledger,
            registry=registry,
            chains=chains,
            quote_of=cache.get_fresh,
            spot_of=mid_of,
            state_of=states.get,
            hours=hours,
            on_phase=lambda account, underlying, phase, why: journal.record_wheel_phase(
                account, underlying, phase.value, why, clock.now_ns()
            ),
        )
        strategy.phases = {key: Phase(phase) for key, (phase, _) in journal.wheel_phases().items()}
    kernel = Kernel(config, clock, bus, registry, cache, engine, chains, hours, market, journal, broker, plugin, ledger,
                    quality, states, inbox, risk, oms, strategy)  # fmt: skip
    states.on_change = kernel.on_state_change
    risk.loss.on_watermark = lambda account, w: journal.record_watermark(
        account, w.day, w.day_start, w.peak, clock.now_ns()
    )
    return kernel
