"""Issue #18's acceptance run, started as an operator would start it. It runs:

- the local TWS-protocol gateway with 300 accounts;
- two gateway services, one standing by;
- three agents;
- PostgreSQL, Redis, and Prometheus scraping every process with the cluster's alert rules;

all on one simulated clock, through a simulated week of the wheel (Saturday to Saturday on the 24/7 calendar,
Friday's weekly expiry included). The active gateway is killed with SIGKILL on Monday, an agent on
Wednesday. At the end every account's book in PostgreSQL equals the broker's, no committed order
is lost, and none reached the broker twice (the local gateway's own receipts). Both kills were alerted on
(Prometheus' `process_down`; the surviving agents' `agent_silent`, recorded in PostgreSQL with every process's
metrics)."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime

import pytest
from cluster_harness import broker_positions_of, last_line_of, local_gateway, log_of, spawn, stopped, until

from alluse.cluster import records
from alluse.cluster.gateway import CANCEL_PREFIX, GATEWAY_GROUP, command_stream
from alluse.cluster.prometheus import scrape_config
from alluse.cluster.rules import prometheus_rules_file
from alluse.cluster.servers import PrometheusServer, free_port
from alluse.cluster.streams import WorkQueue
from alluse.monitoring.config import AlertsConfig, MonitoringConfig

LOGIN = "F0300"
ACCOUNTS = [f"DU{i:04d}" for i in range(1, 301)]
AGENTS = ("a1", "a2", "a3")
SPEED = 4000.0  # the week in two and a half wall minutes
# Saturday to Saturday on the 24/7 calendar: a week of sessions and Friday's expiry (IB reports it in its
# positions alone; the gateway books the settlements, cluster/expiry.py)
START = datetime(2026, 11, 28, tzinfo=UTC)
END = datetime(2026, 12, 5, tzinfo=UTC)
OPEN = "SELECT count(*) FROM orders WHERE status IN ('SUBMITTED', 'ACCEPTED', 'PARTIALLY_FILLED')"

WHEEL = (
    '[market]\ncalendar = "24/7"\nweekly_expiries = 2\nstrikes_each_side = 6\nstep_interval_s = 600.0\n'
    "[market.underlyings.TSLA]\nspot = 250.0\nvol = 0.55\n[market.underlyings.NVDA]\nspot = 135.0\nvol = 0.45\n"
    "[strategy]\nevaluate_every_s = 3600.0\nreprice_every_s = 14400.0\n"
    + "".join(f"[accounts.{a}]\ncash = 1000000\n" for a in ACCOUNTS)
    + "".join(f'[[strategy.sleeves]]\naccount = "{a}"\nunderlyings = ["{"TSLA" if i % 2 else "NVDA"}"]\n'
              "delta_min = 0.25\ndelta_max = 0.45\n" for i, a in enumerate(ACCOUNTS))
)  # fmt: skip


def wall_at(moment: datetime, anchor: float) -> float:
    return anchor + (moment - START).total_seconds() / SPEED


async def sleep_until(wall: float) -> None:
    await asyncio.sleep(max(0.0, wall - time.time()))


@pytest.fixture
def anchor() -> float:
    """Simulated Saturday 00:00 is this wall instant, a few seconds ahead: the processes start meanwhile."""
    return time.time() + 5.0


@pytest.fixture
def tws(tmp_path, anchor):
    yield from local_gateway(tmp_path / "wheel.toml", WHEEL, "--speed", f"{SPEED:g}", "--start", START.isoformat(),
                             "--anchor", f"{anchor}")  # fmt: skip


async def test_a_simulated_week_of_300_accounts_through_kills_ends_with_every_book_equal_to_the_brokers(
    tmp_path, pg_dsn, pg_pool, redis_server, redis_client, tws, anchor
):
    config = tmp_path / "cluster.toml"
    config.write_text(
        WHEEL + "[execution]\nack_timeout_ms = 30000000.0\n"  # simulated ms: ten wall seconds
        f'[cluster]\nlogin = "{LOGIN}"\npostgres = "{pg_dsn}"\nredis = "{redis_server.url}"\n'
        "lease_ttl_s = 2.0\nrenew_every_s = 0.4\nsend_margin_s = 0.4\nstandby_poll_s = 0.1\n"
        "agent_timeout_s = 3.0\nheartbeat_every_s = 0.5\n"
        f'speed = {SPEED}\nsim_start = "{START.isoformat()}"\nclock_anchor_unix = {anchor}\n'
        f"[ibkr]\nport = {tws[1]}\nclient_ids = [1]\nhealth_interval_s = 0.5\nchain_ttl_s = 86400.0\n"
    )  # fmt: skip
    ports = {name: free_port() for name in ("gw-a", "gw-b", *AGENTS)}
    rules = tmp_path / "alert-rules.yml"
    rules.write_text(prometheus_rules_file(AlertsConfig(), MonitoringConfig()))  # what `cluster up` writes
    prometheus = PrometheusServer(tmp_path / "prometheus", scrape_config(
        {"gateway": [f"127.0.0.1:{ports[g]}" for g in ("gw-a", "gw-b")],
         "agent": [f"127.0.0.1:{ports[a]}" for a in AGENTS]}, [rules], interval_s=1.0)).start()  # fmt: skip
    procs = {}
    try:
        for g in ("gw-a", "gw-b"):
            procs[g] = spawn("cluster", "gateway", "--config", str(config), "--holder", g, "--metrics-port",
                             str(ports[g]))  # fmt: skip
            await until("SELECT holder FROM gateway_lease WHERE expires_at > clock_timestamp()", "gw-a", pg_pool)
        for a in AGENTS:
            procs[a] = spawn("cluster", "agent", "--config", str(config), "--name", a, "--metrics-port", str(ports[a]))
        split = "SELECT string_agg(n::text, ',' ORDER BY n) FROM (SELECT count(*) AS n FROM accounts GROUP BY agent) c"
        await until(split, "100,100,100", pg_pool, timeout_s=60)

        await sleep_until(wall_at(datetime(2026, 11, 30, 12, tzinfo=UTC), anchor))  # Monday noon
        assert await pg_pool.fetchval("SELECT count(DISTINCT account) FROM fills") > 60  # the wheel trades
        procs["gw-a"].kill()  # the active gateway, SIGKILL
        await until("SELECT holder FROM gateway_lease WHERE expires_at > clock_timestamp()", "gw-b", pg_pool)

        await sleep_until(wall_at(datetime(2026, 12, 2, 6, tzinfo=UTC), anchor))  # Wednesday morning
        procs["a2"].kill()  # an agent, SIGKILL
        await until(split, "150,150", pg_pool, timeout_s=60)

        await sleep_until(wall_at(END, anchor))
        up = {r["metric"]["instance"]: r["value"][1] for r in prometheus.query("up")}
        firing = prometheus.query('ALERTS{alertname="process_down",alertstate="firing"}')
        down = {r["metric"]["instance"] for r in firing}
        accounts_seen = prometheus.query("sum(alluse_cluster_agent_accounts)")
        summaries = {a: last_line_of(stopped(procs[a]), f"agent {a}: ") for a in ("a1", "a3")}
        queue = WorkQueue(redis_client, command_stream(LOGIN), GATEWAY_GROUP)  # the operator cancels what works
        for row in await pg_pool.fetch(OPEN.replace("count(*)", "client_order_id")):
            await pg_pool.execute("UPDATE orders SET cancel_requested = true WHERE client_order_id = $1", row[0])
            await queue.put((CANCEL_PREFIX + row[0]).encode())
        try:
            await until(OPEN, 0, pg_pool, timeout_s=60)
        except AssertionError as exc:  # say why: the open orders by state, and what the gateway logged last
            left = await pg_pool.fetch(f"SELECT status, sent_token IS NOT NULL AS sent, count(*) FROM orders WHERE "
                                       f"status IN {OPEN.split(' IN ')[1]} GROUP BY 1, 2")  # fmt: skip
            import urllib.request

            with urllib.request.urlopen(f"http://127.0.0.1:{ports['gw-b']}/metrics", timeout=10) as answer:
                exposed = [line for line in answer.read().decode().splitlines()
                           if not line.startswith("#") and ("cluster_gateway" in line or "ibkr" in line
                                                            or "event_loop" in line)]  # fmt: skip
            trend = []
            for _ in range(6):
                await asyncio.sleep(10)
                trend.append(await pg_pool.fetchval(OPEN))
            log_end = log_of(procs["gw-b"])[-3000:]
            raise AssertionError(f"{exc}\nopen: {[tuple(r) for r in left]}, then every 10 s: {trend}\n"
                                 + "\n".join(exposed) + f"\ngw-b's log ends:\n{log_end}") from None
        await asyncio.sleep(1.0)  # the last fills and cancels recorded
        held = await broker_positions_of(tws[1], ACCOUNTS)
        summaries["gw-b"] = last_line_of(stopped(procs["gw-b"]), "gateway service gw-b: ")
        receipt = last_line_of(stopped(tws[0]), "gateway: ")
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
        prometheus.stop()
    print(*summaries.values(), receipt, sep="\n")
    orders = await pg_pool.fetchval("SELECT count(*) FROM orders")
    sent = await pg_pool.fetchval("SELECT count(*) FROM orders WHERE sent_token IS NOT NULL")
    fills = await pg_pool.fetchval("SELECT count(*) FROM fills")
    print(f"{orders} orders committed, {sent} sent, {fills} fills")
    found = re.search(r"\((\d+) client order ids, (\d+) received more than once\)", receipt)
    assert found, receipt
    assert int(found.group(2)) == 0  # none reached the broker twice
    assert int(found.group(1)) == sent  # every order sent reached it
    lost = await pg_pool.fetchval("SELECT count(*) FROM orders WHERE sent_token IS NULL AND status <> 'CANCELED'")
    assert lost == 0  # every committed order was sent, or cancelled before any gateway sent it
    for account in ACCOUNTS:
        ours = await records.positions(pg_pool, account)
        assert ours == held[account], await history_of(pg_pool, account, ours, held[account])
    assert fills > 300
    assert await pg_pool.fetchval("SELECT count(*) FROM fills WHERE exec_id LIKE 'settle:%'") > 0  # the expiry
    assert up[f"127.0.0.1:{ports['gw-a']}"] == "0" and up[f"127.0.0.1:{ports['a2']}"] == "0"  # Prometheus saw
    assert up[f"127.0.0.1:{ports['gw-b']}"] == "1" and up[f"127.0.0.1:{ports['a1']}"] == "1"  # the kills
    assert float(accounts_seen[0]["value"][1]) == len(ACCOUNTS)  # the live agents run every account
    assert down == {f"127.0.0.1:{ports['gw-a']}", f"127.0.0.1:{ports['a2']}"}  # Prometheus' alert for each kill
    # every process's metrics and alerts in PostgreSQL: the survivors' agent_silent fired for the killed agent
    history = await pg_pool.fetch("SELECT process, count(*) AS n FROM metric_samples GROUP BY process ORDER BY 1")
    print("metric samples in PostgreSQL:", ", ".join(f"{r['process']} {r['n']}" for r in history))
    assert [r["process"] for r in history] == ["agent a1", "agent a2", "agent a3", "gateway gw-a", "gateway gw-b"]
    silent = await pg_pool.fetch("SELECT DISTINCT process FROM alert_events WHERE rule = 'agent_silent' AND "
                                 "state = 'firing'")  # fmt: skip
    assert {r["process"] for r in silent} == {"agent a1", "agent a3"}


async def history_of(pool, account: str, ours: dict, theirs: dict) -> str:
    """Why a book differs: the account's orders and fills as PostgreSQL has them."""
    orders = await pool.fetch("SELECT client_order_id, instrument_id, side, quantity, status, filled_qty, sent_by, "
                              "created_at FROM orders WHERE account = $1 ORDER BY created_at", account)  # fmt: skip
    fills = await pool.fetch("SELECT exec_id, client_order_id, instrument_id, side, quantity, price FROM fills "
                             "WHERE account = $1 ORDER BY recorded_at", account)  # fmt: skip
    lines = [f"{account}: ours {ours}, the broker's {theirs}", "orders:", *map(str, map(tuple, orders)), "fills:",
             *map(str, map(tuple, fills))]  # fmt: skip
    return "\n".join(lines)
