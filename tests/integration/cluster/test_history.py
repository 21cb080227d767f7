"""Every process's metrics and alert events in PostgreSQL (cluster/history.py), on a real server: samples land
once per history interval, an alert fires into `alert_events` with the process that fired it (and the cluster
console's view shows it firing on that process), an event raised
while PostgreSQL is down is written when it is back (none lost), a clean stop closes the episode, and a process
that died firing has the episode closed by its next run."""

from __future__ import annotations

from collections.abc import Iterator

import asyncpg
from cluster_harness import until_true

from alluse.cluster.config import ClusterConfig, ClusterFileConfig
from alluse.cluster.history import ProcessHistory, recent_events
from alluse.cluster.tasks import cancel_until_done
from alluse.common.metrics import Metric, gauge
from alluse.monitoring.alert_events import AlertStatus
from alluse.monitoring.config import AlertRuleConfig, AlertsConfig, MonitoringConfig
from alluse.rpc.cluster_app import cluster_view

PROCESS = "agent h1"
RULE = AlertRuleConfig(name="level_high", metric="alluse_test_level", comparison=">", threshold=5, severity="critical")


class Level:
    def __init__(self) -> None:
        self.value = 1.0

    def metrics(self) -> Iterator[Metric]:
        yield gauge("alluse_test_level", "a level the test sets", self.value)
        yield gauge("alluse_test_equity", "an account's own series", 1.0, account="DU1")


def config(per_account: bool = False) -> ClusterFileConfig:
    return ClusterFileConfig(
        monitoring=MonitoringConfig(interval_s=0.05, window_s=1),
        alerts=AlertsConfig(default_rules=False, rules=[RULE], log=False, file=None),
        cluster=ClusterConfig(history_every_s=0.2, history_per_account=per_account),
    )


async def per_account_rows(pool: asyncpg.Pool) -> int:
    return await pool.fetchval("SELECT count(*) FROM metric_samples WHERE series LIKE 'alluse_test_equity%'")


async def events(pool: asyncpg.Pool) -> list[tuple[str, str, str]]:
    async with pool.acquire() as conn:
        return [(p, e.rule, e.state.value) for p, e in reversed(await recent_events(conn))]


async def test_samples_and_alert_events_of_a_process_land_in_postgres(pg_pool):
    level = Level()
    history = await ProcessHistory.open(pg_pool, PROCESS, level, config())
    history.start()
    try:

        async def sampled() -> bool:
            return await pg_pool.fetchval(
                "SELECT count(*) FROM metric_samples WHERE process = $1 AND series = 'alluse_test_level'", PROCESS
            ) >= 3  # fmt: skip

        await until_true(sampled, what="three samples of the level")
        level.value = 9.0

        async def fired() -> bool:
            return await events(pg_pool) == [(PROCESS, "level_high", "firing")]

        await until_true(fired, what="the alert's FIRING event in alert_events")
        async with pg_pool.acquire() as conn:
            view = await cluster_view(conn, "F0009")  # what the cluster console shows, from PostgreSQL alone
        [shown] = view.processes
        assert (shown.process, shown.firing) == (PROCESS, ["level_high [critical]"]) and shown.sample_age_s < 5
        assert [(e.process, e.state) for e in view.alert_events] == [(PROCESS, "firing")]
        assert view.alert_events[0].summary.startswith("FIRING [critical] level_high: alluse_test_level > 5")
    finally:
        await history.stop()
    assert await events(pg_pool) == [(PROCESS, "level_high", "firing"), (PROCESS, "level_high", "resolved")]
    async with pg_pool.acquire() as conn:
        _, closed = (await recent_events(conn))[0]
    assert closed.description.startswith("closed") and "run stopped" in closed.description
    # kept once per history interval (0.2 s), not every collector tick (0.05 s)
    stamps = await pg_pool.fetch(
        "SELECT ts FROM metric_samples WHERE process = $1 AND series = 'alluse_test_level' ORDER BY ts", PROCESS
    )
    gaps = [(b["ts"] - a["ts"]).total_seconds() for a, b in zip(stamps, stamps[1:], strict=False)]
    assert min(gaps) >= 0.19, gaps
    assert history.counts.samples_written > 0 and history.counts.write_failures == 0
    assert await per_account_rows(pg_pool) == 0  # an account's own series stay out unless asked for


async def test_an_accounts_own_series_are_kept_when_asked_for(pg_pool):
    history = await ProcessHistory.open(pg_pool, PROCESS, Level(), config(per_account=True))
    history.start()
    try:

        async def kept() -> bool:
            return await per_account_rows(pg_pool) > 0

        await until_true(kept, what="the account's series in metric_samples")
    finally:
        await history.stop()


async def test_an_alert_raised_while_postgres_is_down_is_written_once_it_is_back(pg_pool, postgres_server):
    level = Level()
    history = await ProcessHistory.open(pg_pool, PROCESS, level, config())
    history.start()
    try:
        postgres_server.stop()
        try:
            level.value = 9.0

            async def queued_and_failing() -> bool:
                return len(history.episodes.queued) == 1 and history.counts.write_failures >= 2

            await until_true(queued_and_failing, what="the FIRING event waiting, its writes failing")
        finally:
            postgres_server.start()

        async def written() -> bool:
            try:
                return await events(pg_pool) == [(PROCESS, "level_high", "firing")]
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                return False

        await until_true(written, what="the event written after the restart")
        assert history.counts.samples_written > 0  # the samples kept meanwhile went too
    finally:
        await history.stop()


async def test_an_episode_left_firing_by_a_dead_process_is_closed_by_its_next_run(pg_pool):
    level = Level()
    level.value = 9.0
    first = await ProcessHistory.open(pg_pool, PROCESS, level, config())
    first.start()

    async def fired() -> bool:
        return await events(pg_pool) == [(PROCESS, "level_high", "firing")]

    await until_true(fired, what="the first run's FIRING event")
    first.collector.stop()  # it dies: nothing closes its episode
    assert first._task is not None
    await cancel_until_done([first._task])
    second = await ProcessHistory.open(pg_pool, PROCESS, Level(), config())
    assert [e.state for e in second.episodes.queued] == [AlertStatus.RESOLVED]
    assert "ended without closing it" in second.episodes.queued[0].description
    assert await second.write()
    assert await events(pg_pool) == [(PROCESS, "level_high", "firing"), (PROCESS, "level_high", "resolved")]
    # another process's open episode is not this one's to close
    third = await ProcessHistory.open(pg_pool, "agent h2", Level(), config())
    assert third.episodes.queued == []
