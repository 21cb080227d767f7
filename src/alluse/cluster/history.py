"""Every cluster process's metrics and alert events in PostgreSQL, beside the orders they describe: the single
process's monitoring (collector -> alert engine, monitoring/) run on a gateway service's or an agent's readings,
with `metric_samples` and `alert_events` (schema step 6) in place of its SQLite files.

- The collector ticks every `[monitoring] interval_s` and the alert engine evaluates each tick with the rules the
  single process runs and the cluster's own (cluster/rules.py), the rules Prometheus is given too; a rule whose
  series this process does not have gets no value ("insufficient data") and cannot fire.
- Samples are kept once per `[cluster] history_every_s` (a process exports hundreds of series), without an
  account's own series unless `history_per_account` (they would grow the table with the accounts, about ten
  each, and the accounts' books are in PostgreSQL already); each process deletes its own rows older than
  `history_retention_s`.
- PostgreSQL away loses no alert event: samples and events wait in memory and are written when it answers again;
  only samples are bounded (the oldest go first, counted)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from alluse.cluster.config import ClusterFileConfig
from alluse.cluster.rules import cluster_rules
from alluse.cluster.tasks import cancel_until_done
from alluse.common.clock import NS, ns_to_datetime
from alluse.common.metrics import Metric, MetricSource, Sample, counter, gauge
from alluse.monitoring.alert_events import AlertEvent, AlertStatus
from alluse.monitoring.alerts import AlertEngine
from alluse.monitoring.collector import Collector
from alluse.monitoring.exporter import ReadingsView
from alluse.monitoring.notifiers import build_notifiers

log = logging.getLogger("alluse.cluster.history")

SAMPLES_KEPT_WHILE_AWAY = 200_000  # about an hour of an agent's samples at the default history_every_s
PURGE_EVERY_S = 300.0
PG_AWAY = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)  # a write that waits for the next try
_PER_ACCOUNT = 'account="'  # in a series' labels: one of an account's own series
_EVENT_COLUMNS = "rule, severity, state, metric, comparison, value, threshold, ts, started_at, description"


@dataclass(slots=True)
class HistoryCounts:
    samples_written: int = 0
    samples_dropped: int = 0  # the oldest, while PostgreSQL was away longer than the queue holds
    events_written: int = 0
    write_failures: int = 0


class PgEpisodes:
    """The alert engine's history for one process (monitoring.alert_history.EpisodeRecord): events queue on the
    loop and go out with the next write; the episodes this process's previous run left firing were read first."""

    def __init__(self, left_open: dict[str, AlertEvent]) -> None:
        self.queued: list[AlertEvent] = []
        self._left_open = left_open

    def record(self, e: AlertEvent) -> None:
        self.queued.append(e)

    def open_episodes(self) -> dict[str, AlertEvent]:
        return self._left_open


def _event(row: asyncpg.Record) -> AlertEvent:
    return AlertEvent(
        row["rule"], row["severity"], AlertStatus(row["state"]), row["metric"], row["comparison"], row["value"],
        row["threshold"], _ns(row["ts"]), _ns(row["started_at"]), row["description"],
    )  # fmt: skip


def _ns(ts: Any) -> int:
    return round(ts.timestamp() * NS)


async def firing(conn: asyncpg.Connection, process: str | None = None) -> list[tuple[str, AlertEvent]]:
    """(process, event) for each rule of each process (or of `process`) whose latest event is FIRING: firing now,
    or left firing by a run that ended without closing it."""
    rows = await conn.fetch(
        f"SELECT DISTINCT ON (process, rule) process, {_EVENT_COLUMNS} FROM alert_events "
        "WHERE $1::text IS NULL OR process = $1 ORDER BY process, rule, seq DESC",
        process,
    )
    return [(r["process"], e) for r in rows if (e := _event(r)).state is AlertStatus.FIRING]


async def left_open(conn: asyncpg.Connection, process: str) -> dict[str, AlertEvent]:
    """Per rule, the episode the run before of `process` left firing."""
    return {e.rule: e for _, e in await firing(conn, process)}


async def recent_events(conn: asyncpg.Connection, limit: int = 50) -> list[tuple[str, AlertEvent]]:
    """The newest alert events of every process, newest first, each with its process."""
    rows = await conn.fetch(f"SELECT process, {_EVENT_COLUMNS} FROM alert_events ORDER BY seq DESC LIMIT $1", limit)
    return [(r["process"], _event(r)) for r in rows]


class ProcessHistory:
    """One process's monitoring written to PostgreSQL; also a metric source (what it wrote, dropped, failed)."""

    def __init__(self, pool: asyncpg.Pool, process: str, readings: MetricSource, config: ClusterFileConfig,
                 left_open_episodes: dict[str, AlertEvent], loss_limit_used: Callable[[], float | None] | None = None,
                 market_open: Callable[[], bool] | None = None) -> None:  # fmt: skip
        mc, c = config.monitoring, config.cluster
        self.pool, self.process = pool, process
        self.counts = HistoryCounts()
        self.every_ns, self.retention_s = round(c.history_every_s * NS), c.history_retention_s
        self.per_account = c.history_per_account
        self.episodes = PgEpisodes(left_open_episodes)
        self.notifiers = build_notifiers(config.alerts.model_copy(update={"file": None}), Path())  # no data dir here
        self.alerts = AlertEngine(cluster_rules(config.alerts), self.notifiers, self.episodes, market_open=market_open)
        self.samples: deque[Sample] = deque()
        self._kept_at = 0  # wall ns of the last tick whose samples were kept
        self.collector = Collector([readings, self.alerts, self], interval_s=mc.interval_s, on_samples=self._keep,
                                   on_values=self.alerts.evaluate, loss_limit_used=loss_limit_used,
                                   window_s=mc.window_s, min_orders=mc.min_orders,
                                   min_observations=mc.min_observations)  # fmt: skip
        self._task: asyncio.Task[object] | None = None

    @classmethod
    async def open(cls, pool: asyncpg.Pool, process: str, readings: MetricSource, config: ClusterFileConfig,
                   loss_limit_used: Callable[[], float | None] | None = None,
                   market_open: Callable[[], bool] | None = None) -> ProcessHistory:  # fmt: skip
        async with pool.acquire() as conn:
            found = await left_open(conn, process)
        return cls(pool, process, readings, config, found, loss_limit_used, market_open)

    def exported(self) -> list[MetricSource]:
        """What /metrics shows of it, beside the process's readings: its counts, the alerts, the collector and
        the gauges the collector derives (a feed's quote age), as `alluse run` exports them."""
        return [self, self.alerts, self.collector, ReadingsView(self.collector.derived_readings)]

    def _keep(self, samples: list[Sample]) -> None:
        if not samples or samples[0].ts_ns - self._kept_at < self.every_ns:
            return
        self._kept_at = samples[0].ts_ns
        self.samples.extend(samples if self.per_account else (s for s in samples if _PER_ACCOUNT not in s.series))
        self._bound()

    def _bound(self) -> None:
        for _ in range(len(self.samples) - SAMPLES_KEPT_WHILE_AWAY):
            self.samples.popleft()
            self.counts.samples_dropped += 1

    def start(self) -> None:
        self.collector.start(asyncio.get_running_loop())
        self._task = asyncio.create_task(self._write_loop(), name=f"history-{self.process}")

    async def stop(self) -> None:
        """Every open episode closed ("run stopped") and written, as far as PostgreSQL lets; then the notifiers."""
        self.collector.stop()
        self.alerts.close_all("run stopped")
        if self._task is not None:
            await cancel_until_done([self._task])
            self._task = None
        await self.write()
        for n in self.notifiers:
            await asyncio.to_thread(n.close)

    async def _write_loop(self) -> None:
        purged = 0.0
        while True:
            await asyncio.sleep(self.collector.interval_s)
            await self.write()
            if time.monotonic() - purged >= PURGE_EVERY_S and await self._purge():
                purged = time.monotonic()

    async def write(self) -> bool:
        """What is queued, in one transaction; put back in front of what came since when PostgreSQL does not
        answer."""
        events, samples = self.episodes.queued, self.samples
        if not events and not samples:
            return True
        self.episodes.queued, self.samples = [], deque()
        p = self.process
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                if events:
                    await conn.executemany(
                        f"INSERT INTO alert_events (process, {_EVENT_COLUMNS}) "
                        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                        [(p, e.rule, e.severity, e.state.value, e.metric, e.comparison, e.value, e.threshold,
                          ns_to_datetime(e.ts_ns), ns_to_datetime(e.started_ns), e.description) for e in events],
                    )  # fmt: skip
                if samples:
                    await conn.copy_records_to_table(
                        "metric_samples", columns=("process", "series", "ts", "value"),
                        records=[(p, s.series, ns_to_datetime(s.ts_ns), s.value) for s in samples],
                    )  # fmt: skip
        except PG_AWAY as exc:
            self.episodes.queued[:0] = events
            samples.extend(self.samples)
            self.samples = samples
            self._bound()
            self.counts.write_failures += 1
            if self.counts.write_failures == 1 or self.counts.write_failures % 100 == 0:
                log.warning("%s: metrics and alerts not written yet (%d failures): %s: %s", p,
                            self.counts.write_failures, type(exc).__name__, exc)  # fmt: skip
            return False
        self.counts.events_written += len(events)
        self.counts.samples_written += len(samples)
        return True

    async def _purge(self) -> bool:
        try:
            async with self.pool.acquire() as conn:
                await conn.execute("DELETE FROM metric_samples WHERE process = $1 AND ts < clock_timestamp() - "
                                   "make_interval(secs => $2)", self.process, self.retention_s)  # fmt: skip
        except PG_AWAY:
            return False
        return True

    def metrics(self) -> Iterator[Metric]:
        c, what = self.counts, {"process": self.process}
        yield counter("alluse_cluster_history_samples_written_total", "Samples written to PostgreSQL",
                      c.samples_written, **what)  # fmt: skip
        yield counter("alluse_cluster_history_samples_dropped_total", "Samples dropped while PostgreSQL was away",
                      c.samples_dropped, **what)  # fmt: skip
        yield counter("alluse_cluster_history_write_failures_total", "Writes of metrics and alerts that failed",
                      c.write_failures, **what)  # fmt: skip
        yield gauge("alluse_cluster_history_queued", "Samples and alert events waiting to be written",
                    len(self.samples) + len(self.episodes.queued), **what)  # fmt: skip
