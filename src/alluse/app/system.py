"""Builds the whole system from a config and runs it: the same wiring for any clock.

Start-up is recovery: the journal is read, positions and cash rebuilt from its fills, open
orders reconciled with the venue, and only then do market data and the strategy start.
Simulated time resumes after the last journaled event, so a restart never moves backwards.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from alluse.app.config import Config
from alluse.brokers.paper import FaultConfig, PaperVenue, PaperVenueConfig
from alluse.common.bus import MessageBus
from alluse.common.clock import NS, Clock, LiveClock, datetime_to_ns
from alluse.execution.journal import Journal, resume_ns
from alluse.execution.oms import OrderManager, RecoveryReport
from alluse.execution.retry import RetryPolicy
from alluse.marketdata import (
    DataEngine,
    OptionChainService,
    QuoteCache,
    SimulatedMarket,
    SimulatedMarketConfig,
)
from alluse.model import Quote, TradingState
from alluse.model.registry import InstrumentRegistry
from alluse.monitoring.alert_events import AlertEvent
from alluse.monitoring.service import Monitoring
from alluse.portfolio import ExecutionQuality, Ledger
from alluse.portfolio.valuation import LedgerValuation
from alluse.risk import RiskContext, RiskGate, TradingStates
from alluse.strategies.wheel import WheelStrategy

log = logging.getLogger("alluse.app.system")

JOURNAL_FILE = "journal.db"
VENUE_FILE = "venue.db"
RISK_EVALUATE_EVERY_NS = 60 * NS  # loss and drawdown limits, in clock time
OPERATOR = "cli"  # the source `alluse halt`/`resume` records


@dataclass(slots=True)
class Components:
    registry: InstrumentRegistry
    cache: QuoteCache
    engine: DataEngine
    market: SimulatedMarket
    chains: OptionChainService
    venue: PaperVenue
    journal: Journal
    ledger: Ledger
    quality: ExecutionQuality
    risk: RiskGate
    oms: OrderManager
    strategy: WheelStrategy | None
    bus: MessageBus = field(default_factory=MessageBus)


class TradingSystem:
    def __init__(self, config: Config, clock: Clock, data_dir: str | Path | None = None) -> None:
        self.config = config
        self.clock = clock
        self.data_dir = Path(data_dir if data_dir is not None else config.run.data_dir)
        self.journal_path = self.data_dir / JOURNAL_FILE
        self.sim_start_ns = clock.now_ns()
        self.c = self._build()
        self.recovery: RecoveryReport | None = None
        self.started = False
        self.closed = False
        self._state_seq = 0
        self._risk_timer = None
        self.monitoring: Monitoring | None = None

    def _build(self) -> Components:
        cfg, clock = self.config, self.clock
        journal = Journal.from_config(self.journal_path, cfg.journal)
        bus = MessageBus()
        registry = InstrumentRegistry()
        market = SimulatedMarket(
            SimulatedMarketConfig(
                underlyings={k: (u.spot, u.vol) for k, u in cfg.market.underlyings.items()},
                rate=cfg.market.rate,
                step_interval_ns=int(cfg.market.step_interval_s * NS),
                weekly_expiries=cfg.market.weekly_expiries,
                strikes_each_side=cfg.market.strikes_each_side,
                skew=cfg.market.skew,
                options_per_step_fraction=cfg.market.options_per_step_fraction,
            ),
            clock,
            registry,
            seed=cfg.run.seed,
        )
        cache = QuoteCache(
            clock, int(cfg.market.quote_ttl_s * NS), cfg.market.option_cache_capacity, registry.is_option
        )
        engine = DataEngine(registry, cache, clock)
        chains = OptionChainService(registry, cache, clock, rate=cfg.market.rate)
        f = cfg.venue.faults
        venue = PaperVenue(
            clock,
            registry,
            cache.fresh_view(),
            PaperVenueConfig(
                ack_latency_ns=int(cfg.venue.ack_latency_ms * 1e6),
                fill_latency_ns=int(cfg.venue.fill_latency_ms * 1e6),
                session_close_utc_hour=cfg.venue.session_close_utc_hour,
                id_prefix=f"P{journal.sessions() + 1}",  # the session recovery is about to start
                store_synchronous=cfg.journal.synchronous,
                faults=FaultConfig(
                    seed=f.seed,
                    lose_submit_rate=f.lose_submit_rate,
                    lose_response_rate=f.lose_response_rate,
                    drop_ack_rate=f.drop_ack_rate,
                    duplicate_event_rate=f.duplicate_event_rate,
                    delay_rate=f.delay_rate,
                    max_delay_ns=int(f.max_delay_ms * 1e6),
                    disconnect_rate=f.disconnect_rate,
                    disconnect_ns=int(f.disconnect_ms * 1e6),
                    pacing_reject_rate=f.pacing_reject_rate,
                    permanent_reject_rate=f.permanent_reject_rate,
                ),
            ),
            store_path=self.data_dir / VENUE_FILE,  # the broker's own records, apart from our journal
        )
        engine.subscribe_all(venue.on_quote)

        def multiplier_of(instrument_id: str) -> int:
            return registry.resolve(instrument_id).multiplier

        mid_of = cache.fresh_mid

        ledger = Ledger(multiplier_of)
        quality = ExecutionQuality()
        oms_ref: list[OrderManager] = []
        states = TradingStates(cfg.accounts, on_change=self._on_state_change)
        for account, (state, reason, _source) in journal.trading_states().items():
            if account in cfg.accounts:
                states.seed(account, state, reason)  # a halt survives a restart
        risk = RiskGate(
            RiskContext(
                clock=clock,
                registry=registry,
                ledger=ledger,
                mid_of=mid_of,
                open_orders=lambda: oms_ref[0].open_orders(),
                greeks_of=chains.greeks_for,
                equity_of=lambda account: ledger.equity(account, mid_of),
            ),
            cfg.risk,
            states,
        )
        risk.attach(bus)  # before the strategy subscribes: exposure is counted before decisions see an event
        for account, (day, day_start, peak) in journal.watermarks().items():
            risk.loss.seed(account, day, day_start, peak)
        risk.loss.on_watermark = lambda account, w: journal.record_watermark(
            account, w.day, w.day_start, w.peak, clock.now_ns()
        )
        x = cfg.execution
        oms = OrderManager(
            clock=clock,
            bus=bus,
            registry=registry,
            journal=journal,
            broker=venue,
            risk=risk,
            ledger=ledger,
            quality=quality,
            mid_of=mid_of,
            accounts=cfg.accounts,
            retry=RetryPolicy(
                max_attempts=x.max_attempts,
                initial_backoff_ns=int(x.initial_backoff_ms * 1e6),
                max_backoff_ns=int(x.max_backoff_ms * 1e6),
                multiplier=x.backoff_multiplier,
                jitter=x.jitter,
                ack_timeout_ns=int(x.ack_timeout_ms * 1e6),
            ),
            seed=cfg.run.seed,
            journal_flush_ns=int(cfg.journal.flush_ms * 1e6),
        )
        oms_ref.append(oms)
        strategy = None
        if cfg.strategy.enabled:
            strategy = WheelStrategy(
                config=cfg.strategy,
                clock=clock,
                bus=bus,
                oms=oms,
                ledger=ledger,
                registry=registry,
                chains=chains,
                quote_of=cache.get_fresh,
                spot_of=mid_of,
                state_of=states.get,
            )
        return Components(
            registry, cache, engine, market, chains, venue, journal, ledger, quality, risk, oms, strategy, bus
        )

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> RecoveryReport:
        c = self.c
        initial = {name: acct.cash for name, acct in self.config.accounts.items()}
        changes = c.journal.trading_state_changes(0)  # all reflected already: the states were seeded at build
        self._state_seq = changes[-1][0] if changes else 0
        self.recovery = c.oms.recover(initial)
        for account in self.config.accounts:
            positions = {p.instrument_id: p.quantity for p in c.ledger.open_positions(account)}
            c.venue.load_account(account, c.ledger.cash.get(account, Decimal(0)), positions)
        c.market.start(c.engine.on_quotes)
        if c.strategy is not None:
            c.strategy.start()
        self._risk_timer = self.clock.call_later(RISK_EVALUATE_EVERY_NS, self._evaluate_risk)
        self.started = True
        return self.recovery

    def _evaluate_risk(self) -> None:
        try:
            self.c.risk.evaluate(self.clock.now_ns())
        finally:
            self._risk_timer = self.clock.call_later(RISK_EVALUATE_EVERY_NS, self._evaluate_risk)

    def _on_state_change(self, account: str, old, new, reason: str, source: str) -> None:
        """Journal the change (unless it came from the journal) and cancel working orders on HALTED.

        `_state_seq` is left alone: `follow_operator` reads on from its own position, so an operator's
        row written just before this one is never skipped."""
        try:
            if source != OPERATOR:
                self.c.journal.record_trading_state(account, new.value, reason, source, self.clock.now_ns())
        finally:  # a halt holds, and cancels, even when the journal cannot record it
            log.warning("%s: %s -> %s (%s: %s)", account, old.value, new.value, source, reason)
            if new is TradingState.HALTED:
                cancelled = self.c.oms.cancel_all(account)
                log.warning("%s halted: %d working orders cancelled", account, cancelled)

    def follow_operator(self) -> int:
        """Apply `alluse halt`/`resume` commands journaled by another process since the last look."""
        applied = 0
        for seq, account, state, detail in self.c.journal.trading_state_changes(self._state_seq):
            self._state_seq = seq
            if detail.startswith(f"{OPERATOR}:") and account in self.config.accounts:
                self.c.risk.states.set(account, state, detail.removeprefix(f"{OPERATOR}:").strip(), OPERATOR)
                applied += 1
        return applied

    def _stop_timers(self) -> None:
        c = self.c
        if self._risk_timer is not None:
            self._risk_timer.cancel()
        if c.strategy is not None:
            c.strategy.stop()
        c.market.stop()

    def stop_trading(self) -> None:
        """Stop new decisions and market data, and ask the venue to cancel what is still working."""
        c = self.c
        self._stop_timers()
        cancelled = c.oms.cancel_all()
        log.info("stopping: %d working orders cancelled", cancelled)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._stop_timers()  # nothing may reach the stores after they close (an error path skips stop_trading)
        self.c.journal.end_session(self.clock.now_ns())
        self.c.journal.close()
        self.c.venue.close()

    # ------------------------------------------------------------------ monitoring views

    def metric_sources(self) -> list:
        """Every component's plain counters, for the collector and the Prometheus exporter."""
        c = self.c
        valuation = LedgerValuation(c.ledger, c.cache.fresh_mid)
        return [c.engine, c.cache, c.oms, c.risk, c.venue, c.ledger, valuation]

    def health(self) -> dict:
        c = self.c
        age = None
        if c.engine.last_accept_ns is not None:  # wall seconds, like the collector's quote age
            age = (self.clock.now_ns() - c.engine.last_accept_ns) / NS / getattr(self.clock, "speed", 1.0)
        connected = bool(c.venue.connected)
        return {
            "ready": self.started and not self.closed and connected and age is not None,
            "last_quote_age_s": age,
            "broker_connected": connected,
            "firing_alerts": [] if self.monitoring is None else [a.rule.name for a in self.monitoring.alerts.firing()],
            "trading_states": {a: self.c.risk.states.get(a).value for a in self.config.accounts},
        }

    def loss_limit_used(self) -> float | None:
        """The worst account's loss today as a share of its daily loss limit (None: no limits set)."""
        worst = None
        for account, watch in self.c.risk.loss.watches.items():
            limit = self.c.risk.limits(account).daily_loss_limit
            if limit:
                used = float((watch.day_start - watch.equity) / limit)
                worst = used if worst is None else max(worst, used)
        return worst

    # ------------------------------------------------------------------ queries

    def mark(self, instrument_id: str) -> float | None:
        q: Quote | None = self.c.cache.get(instrument_id)
        return None if q is None else q.mid


def resume_start_ns(config: Config, journal_path: Path) -> int:
    """Simulated time starts at the configured start or just after the journal's last event."""
    return resume_ns(journal_path, datetime_to_ns(config.run.start_datetime()))


async def run_live(
    config: Config,
    stop: asyncio.Event,
    data_dir: str | Path | None = None,
    on_progress: Callable[[TradingSystem, float], None] | None = None,
    on_alert: Callable[[AlertEvent], None] | None = None,
) -> TradingSystem:
    """Run for `config.run.duration_s` wall seconds, or until `stop` is set; always shut down cleanly.

    Monitoring starts first (a busy metrics port or a bad alert rule stops us before any order),
    then recovery and trading. `on_progress(system, wall_seconds_elapsed)` is called about twice a
    second (the CLI's status line), `on_alert(event)` as alerts fire and resolve.
    """
    data = Path(data_dir if data_dir is not None else config.run.data_dir)
    start_ns = resume_start_ns(config, data / JOURNAL_FILE)
    loop = asyncio.get_running_loop()
    clock = LiveClock(loop, speed=config.run.speed, start_ns=start_ns)
    system = TradingSystem(config, clock, data)
    try:
        if config.monitoring.enabled:  # built on a thread: opening and checking metrics.db may take a while
            system.monitoring = await asyncio.to_thread(
                Monitoring, config, data, system.metric_sources(), system.health, system.loss_limit_used, on_alert
            )
            await system.monitoring.start()
        system.start()
        t0 = loop.time()
        while not stop.is_set() and (elapsed := loop.time() - t0) < config.run.duration_s:
            system.follow_operator()
            if on_progress is not None:
                on_progress(system, elapsed)
            try:
                await asyncio.wait_for(stop.wait(), timeout=min(0.5, config.run.duration_s - elapsed))
            except TimeoutError:
                pass
        system.stop_trading()
        deadline = loop.time() + 2.0
        while system.c.oms.open_orders() and loop.time() < deadline:
            await asyncio.sleep(0.01)
    except BaseException:
        try:
            await _stop_monitoring(system)
        finally:
            system.close()
        raise
    try:
        await _stop_monitoring(system)
    except Exception:  # monitoring must not cost the summary (or the journal's clean close)
        log.exception("monitoring did not stop cleanly")
    return system


async def _stop_monitoring(system: TradingSystem) -> None:
    if system.monitoring is not None:
        await system.monitoring.stop()
