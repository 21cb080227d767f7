"""The running system: a kernel (app/kernel.py) started, driven on a clock, and stopped cleanly.

Start-up is recovery: the journal is read, positions and cash rebuilt from its fills, open orders
reconciled with the broker, and only then do market data and the strategy start. Simulated time
resumes after the last journaled event (and where the saved simulated market stopped), so a restart
never moves backwards; the simulated market continues from its saved state (app/market_state.py).

Market hours: at every session close the market's state is saved, and an accelerated run (a live clock
faster than the wall) skips the closed hours, stopping at every timer due meanwhile (an expiry on an
early-close day, a delivery in flight) so each fires at its own time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from alluse.app import operator
from alluse.app.config import Config, ConfigError
from alluse.app.kernel import BROKERS, Kernel, build_kernel
from alluse.app.market_state import load_market_state, market_resume_ns, save_market_state
from alluse.brokers.base import Broker, ReportsHealth
from alluse.common.clock import NS, Clock, LiveClock, TimerHandle, datetime_to_ns
from alluse.common.market_hours import Sessions
from alluse.common.metrics import MetricSource
from alluse.execution.journal import JOURNAL_FILE, resume_ns
from alluse.execution.oms import RecoveryReport
from alluse.marketdata.replay import QuoteFeed, Recording, ReplayFeed
from alluse.model import Quote
from alluse.monitoring.alert_events import AlertEvent
from alluse.monitoring.service import Monitoring

log = logging.getLogger("alluse.system")

RISK_EVALUATE_EVERY_NS = 60 * NS  # loss and drawdown limits, in clock time


class TradingSystem:
    def __init__(
        self,
        config: Config,
        clock: Clock,
        data_dir: str | Path | None = None,
        *,
        feed: QuoteFeed | None = None,
        hours: Sessions | None = None,
        broker: Broker | None = None,  # one the caller built (a cluster agent's); default: `run.broker`'s
    ) -> None:
        self.config = config
        self.clock = clock
        self.data_dir = Path(data_dir if data_dir is not None else config.run.data_dir)
        self.journal_path = self.data_dir / JOURNAL_FILE
        self.sim_start_ns = clock.now_ns()
        # a feed of our own (a replay) takes the simulated market's place, and its instruments are known from the start
        self.feed = feed
        self.c: Kernel = build_kernel(
            config,
            clock,
            self.data_dir,
            feed=feed is None,
            instruments=() if feed is None else feed.instruments(),
            hours=hours,
            broker=broker,
        )
        self.recovery: RecoveryReport | None = None
        self.started = False
        self.closed = False
        self._risk_timer: TimerHandle | None = None
        self._close_timer: TimerHandle | None = None
        self.market_restored = False
        self.monitoring: Monitoring | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> RecoveryReport:
        c = self.c
        self.sim_start_ns = self.clock.now_ns()
        self.recovery = c.recover()
        if c.market is not None:
            state = load_market_state(self.data_dir)
            self.market_restored = state is not None and c.market.restore(state)
            c.market.start(c.engine.on_quotes)
        if self.feed is not None:
            self.feed.start(c.engine.on_quotes)
        if c.strategy is not None:
            c.strategy.start()
        self._risk_timer = self.clock.call_later(RISK_EVALUATE_EVERY_NS, self._evaluate_risk)
        self._on_session_close()  # arms the first close (and skips ahead if the market is closed now)
        self.started = True
        return self.recovery

    def _evaluate_risk(self) -> None:
        """Loss and drawdown limits move with the marks, which only move while the market is open."""
        try:
            self.c.risk.evaluate(self.clock.now_ns())
        finally:
            nxt = self.clock.now_ns() + RISK_EVALUATE_EVERY_NS
            nxt = self.c.hours.next_open(nxt) or nxt  # closed then: the next open
            self._risk_timer = self.clock.call_at(nxt, self._evaluate_risk)

    @property
    def skips_closed_hours(self) -> bool:
        """An accelerated live run jumps over closed hours; real time waits; virtual time costs nothing."""
        return isinstance(self.clock, LiveClock) and self.clock.speed > 1

    def save_market(self) -> None:
        if self.c.market is not None:
            save_market_state(self.data_dir, self.c.market.state())

    def _on_session_close(self) -> None:
        now = self.clock.now_ns()
        if self.started:
            self.save_market()
        close = self.c.hours.next_close(now)
        if close is not None:
            self._close_timer = self.clock.call_at(close, self._on_session_close)
        if self.skips_closed_hours:
            self._skip_closed()

    def _skip_closed(self) -> None:
        """While closed, jump to the next timer due or the open, whichever comes first, and look again."""
        assert isinstance(self.clock, LiveClock)
        now = self.clock.now_ns()
        hours = self.c.hours
        if self.closed or hours.is_open(now):
            return
        target = hours.next_open(now)
        if target is None:
            return
        head = self.clock.next_timer_ns()
        if head is not None and head < target:
            target = max(head, now)
        self.clock.skip_to(target)
        self.clock.call_at(target, self._skip_closed)

    def follow_operator(self) -> int:
        """Apply `alluse halt`/`reducing`/`resume` commands journaled by another process since the last look."""
        commands = self.c.operator.read()
        for command in commands:
            self.c.states.set(command.account, command.state, command.reason, operator.SOURCE)
        return len(commands)

    def stop_decisions(self) -> None:
        """No new decision from here on: the strategy, the risk timer and the feed stop (orders keep working)."""
        c = self.c
        for timer in (self._risk_timer, self._close_timer):
            if timer is not None:
                timer.cancel()
        if c.strategy is not None:
            c.strategy.stop()
        if c.market is not None:
            c.market.stop()
        if self.feed is not None:
            self.feed.stop()

    def stop_trading(self) -> None:
        """Stop new decisions and market data, and ask the venue to cancel what is still working."""
        c = self.c
        self.stop_decisions()
        cancelled = c.oms.cancel_all()
        log.info("stopping: %d working orders cancelled", cancelled)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.stop_decisions()  # nothing may reach the stores after they close (an error path skips stop_trading)
        try:
            self.save_market()
        except OSError as exc:  # the book is unaffected; the next run's market starts from the config
            log.error("market state not saved in %s: %s", self.data_dir, exc)
        self.c.journal.end_session(self.clock.now_ns())
        self.c.close()

    # ------------------------------------------------------------------ monitoring views

    def metric_sources(self) -> list[MetricSource]:
        return self.c.metric_sources()

    def health(self) -> dict:
        c = self.c
        age = None
        if c.engine.last_accept_ns is not None:  # wall seconds, like the collector's quote age
            age = (self.clock.now_ns() - c.engine.last_accept_ns) / NS / getattr(self.clock, "speed", 1.0)
        connected = bool(c.broker.connected)
        why = [reason for reason, holds in (
            ("starting: the journal is being recovered and the broker reconciled", not self.started),
            ("stopped", self.closed),
            ("the broker is not connected", not connected),
            ("no quote yet", age is None),
        ) if holds]  # fmt: skip
        return {
            "ready": not why,
            "not_ready": why,
            "last_quote_age_s": age,
            "broker_connected": connected,
            "market_open": self.market_open(),
            "firing_alerts": [] if self.monitoring is None else [a.rule.name for a in self.monitoring.alerts.firing()],
            # rules blind at the last evaluation (too few orders or latencies in the window, market closed, ...)
            "alerts_insufficient_data": [] if self.monitoring is None else self.monitoring.alerts.insufficient_data,
            "trading_states": {a: self.c.risk.states.get(a).value for a in self.config.accounts},
            "broker": {"name": c.broker.name, **(c.broker.health() if isinstance(c.broker, ReportsHealth) else {})},
        }

    def market_open(self) -> bool:
        """Whether the market is in session now, on the trading clock (alert rules watching the feed sleep when not)."""
        return self.c.hours.is_open(self.clock.now_ns())

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
    """Simulated time starts at the configured start, or just after the journal's last event and where the
    saved market stopped, whichever is latest."""
    start = resume_ns(journal_path, datetime_to_ns(config.run.start_datetime()))
    market = market_resume_ns(journal_path.parent)
    return start if market is None else max(start, market)


class Service(Protocol):
    """Something that runs beside the system for the length of a run (the REST API, rpc/server.py)."""

    async def start(self, system: TradingSystem) -> None: ...

    async def stop(self) -> None: ...


async def run_live(
    config: Config,
    stop: asyncio.Event,
    data_dir: str | Path | None = None,
    on_progress: Callable[[TradingSystem, float], None] | None = None,
    on_alert: Callable[[AlertEvent], None] | None = None,
    replay: Recording | None = None,
    api: Service | None = None,
) -> TradingSystem:
    """Run for `config.run.duration_s` wall seconds, or until `stop` is set; always shut down cleanly.

    Monitoring starts first (a busy metrics port or a bad alert rule stops us before any order),
    then recovery and trading. `on_progress(system, wall_seconds_elapsed)` is called about twice a
    second (the CLI's status line), `on_alert(event)` as alerts fire and resolve. A networked broker stays
    connected after the return (the summary reads its accounts): the caller closes the system, then awaits
    `system.c.disconnect()`.

    `api` (the REST API) starts once monitoring has, before recovery (its /health says 503 until ready), serves
    /metrics and /health in place of monitoring's own server, and stops before monitoring does.

    With `replay`, the recorded quotes are the feed (docs/replay.md): simulated time starts at its first
    quote (or just after the journal's last event, if later) and the run ends when it is played out.
    """
    data = Path(data_dir if data_dir is not None else config.run.data_dir)
    start_ns = resume_start_ns(config, data / JOURNAL_FILE)
    if replay is not None:
        plugin = BROKERS.get(config.run.broker)
        if plugin is not None and plugin.feeds_market:
            raise ConfigError(f"run.broker = {config.run.broker!r} brings its own quotes: a replay needs paper")
        if replay.first_ts is not None:
            start_ns = resume_ns(data / JOURNAL_FILE, replay.first_ts)
    loop = asyncio.get_running_loop()
    clock = LiveClock(loop, speed=config.run.speed, start_ns=start_ns)
    feed = None if replay is None else ReplayFeed(replay, clock)
    system = TradingSystem(config, clock, data, feed=feed)
    try:
        if config.monitoring.enabled:  # built on a thread: opening and checking metrics.db may take a while
            system.monitoring = await asyncio.to_thread(
                Monitoring,
                config.monitoring,
                config.alerts,
                data,
                system.metric_sources(),
                system.health,
                system.loss_limit_used,
                on_alert,
                system.market_open,
            )
            await system.monitoring.start(serve_http=api is None)
        if api is not None:
            await api.start(system)
        await system.c.connect()  # a networked broker: connected before recovery reads its book
        if clock.speed != 1:  # accelerated: simulated time starts now, not when the build began (at 1x the wall
            clock.rebase(start_ns)  # is the truth: a real broker's clock must not lag it by the start-up)
        system.start()
        t0 = loop.time()
        while (
            not stop.is_set()
            and not (feed is not None and feed.done)
            and (elapsed := loop.time() - t0) < config.run.duration_s
        ):
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
            await _stop_monitoring(system, api)
        finally:
            system.close()
            await system.c.disconnect()
        raise
    try:
        await _stop_monitoring(system, api)
    except Exception:  # monitoring must not cost the summary (or the journal's clean close)
        log.exception("monitoring did not stop cleanly")
    return system


async def _stop_monitoring(system: TradingSystem, api: Service | None) -> None:
    try:
        if api is not None:
            await api.stop()
    finally:
        if system.monitoring is not None:
            await system.monitoring.stop()
