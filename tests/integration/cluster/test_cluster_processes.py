"""The gateway service as the processes an operator runs: `alluse gateway` (the local TWS-protocol gateway),
two `alluse cluster gateway` services for one login, real PostgreSQL and Redis. One is killed with SIGKILL
mid-burst, or paused with SIGSTOP past its lease and resumed; the local gateway's own count of client order
ids received more than once is the receipt that no order reached the broker twice."""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cluster_harness import broker_positions_of, first_line, last_line_of, local_gateway, spawn, stopped, until

from alluse.cluster import records
from alluse.cluster.gateway import command_stream
from alluse.cluster.streams import WorkQueue
from alluse.model import Order, OrderType, Side

LOGIN = "F0001"
ACCOUNTS = ["Gen-Acc", "Rev-Acc"]  # the default configuration's, which the local gateway manages
HOLDER = "SELECT holder FROM gateway_lease WHERE login = 'F0001' AND expires_at > clock_timestamp()"
FILLED = "SELECT count(*) FROM orders WHERE status = 'FILLED'"


@pytest.fixture
def tws(tmp_path):
    """The default market (its accounts Gen-Acc and Rev-Acc), open whenever the test runs."""
    yield from local_gateway(tmp_path / "tws.toml", '[market]\ncalendar = "24/7"\n')


@pytest.fixture
def service_config(tmp_path, pg_dsn, redis_server, tws) -> Path:
    path = tmp_path / "cluster.toml"
    path.write_text(f'[cluster]\nlogin = "{LOGIN}"\npostgres = "{pg_dsn}"\nredis = "{redis_server.url}"\n'
                    "lease_ttl_s = 1.0\nrenew_every_s = 0.2\nsend_margin_s = 0.2\nstandby_poll_s = 0.05\n"
                    f"[ibkr]\nport = {tws[1]}\nclient_ids = [1, 2, 3]\nhealth_interval_s = 0.5\n")  # fmt: skip
    return path


@pytest.fixture
async def pool(pg_pool):
    await records.register_accounts(pg_pool, LOGIN, ACCOUNTS)
    return pg_pool


async def agents_send(pool, redis_client, first: int, count: int) -> list[str]:
    queue = WorkQueue(redis_client, command_stream(LOGIN), "gateway")
    coids = []
    for i in range(first, first + count):
        order = Order(f"o{i}", ACCOUNTS[i % len(ACCOUNTS)], "TSLA", Side.BUY, 1 + i % 2, OrderType.MARKET)
        await records.record_order(pool, order, LOGIN)
        await queue.put(order.client_order_id.encode())
        coids.append(order.client_order_id)
    return coids


def receipts(tws_proc: subprocess.Popen) -> tuple[int, int]:
    """(client order ids the local gateway received, how many of them more than once), from its last line."""
    line = last_line_of(stopped(tws_proc), "gateway: ")
    found = re.search(r"\((\d+) client order ids, (\d+) received more than once\)", line)
    assert found, line
    return int(found.group(1)), int(found.group(2))


async def test_kill_9_of_the_active_gateway_mid_burst(tws, service_config, pool, redis_client):
    a = spawn("cluster", "gateway", "--config", str(service_config), "--holder", "gw-a")
    b = None
    try:
        await until(HOLDER, "gw-a", pool)
        b = spawn("cluster", "gateway", "--config", str(service_config), "--holder", "gw-b")
        first_line(b, "gateway service gw-b")  # up, standing by
        coids = await agents_send(pool, redis_client, 0, 40)
        await until("SELECT count(*) >= 10 FROM orders WHERE sent_token IS NOT NULL", True, pool)
        a.kill()  # SIGKILL, mid-burst
        a.wait()
        coids += await agents_send(pool, redis_client, 40, 40)
        await until(HOLDER, "gw-b", pool)
        await until(FILLED, len(coids), pool)
        summary = last_line_of(stopped(b), "gateway service gw-b: ")
    finally:
        for proc in (a, b):
            if proc is not None and proc.poll() is None:
                proc.kill()
    print(summary)
    assert receipts(tws[0]) == (80, 0)
    assert re.search(r"1 leases taken, \d+ orders sent", summary), summary
    assert await pool.fetchval("SELECT max(sent_token) FROM orders") == 2


async def test_a_gateway_paused_past_its_lease_and_resumed_sends_nothing_more(tws, service_config, pool,
                                                                           redis_client):  # fmt: skip
    a = spawn("cluster", "gateway", "--config", str(service_config), "--holder", "gw-a")
    b = None
    try:
        await until(HOLDER, "gw-a", pool)
        b = spawn("cluster", "gateway", "--config", str(service_config), "--holder", "gw-b")
        first_line(b, "gateway service gw-b")
        before = await agents_send(pool, redis_client, 0, 20)
        await until(FILLED, len(before), pool)
        a.send_signal(signal.SIGSTOP)
        await until(HOLDER, "gw-b", pool)  # the standby took the lease; gw-a's connection is still open
        after = await agents_send(pool, redis_client, 20, 20)
        await until(FILLED, len(before) + len(after), pool)
        a.send_signal(signal.SIGCONT)
        await asyncio.sleep(1.5)  # gw-a wakes: its own clock and the fence keep it from sending
        more = await agents_send(pool, redis_client, 40, 20)
        await until(FILLED, len(before) + len(after) + len(more), pool)
        summary_a = last_line_of(stopped(a), "gateway service gw-a: ")
        summary_b = last_line_of(stopped(b), "gateway service gw-b: ")
    finally:
        for proc in (a, b):
            if proc is not None and proc.poll() is None:
                proc.kill()
    print(summary_a, summary_b, sep="\n")
    assert receipts(tws[0]) == (60, 0)
    assert re.search(r"1 leases taken, 20 orders sent", summary_a), summary_a  # nothing after its pause
    assert re.search(r"1 leases taken, 40 orders sent", summary_b), summary_b
    assert await pool.fetchval("SELECT count(*) FROM orders WHERE sent_by = 'gw-a'") == 20


AGENT_ACCOUNTS = [f"DU{i:04d}" for i in range(1, 7)]
WHEEL = ('[market]\ncalendar = "24/7"\n'  # the default market, open whenever the test runs
         + "".join(f'[accounts.{a}]\ncash = 1000000\n' for a in AGENT_ACCOUNTS)
         + "[strategy]\nevaluate_every_s = 1.0\nreprice_every_s = 3.0\nentry_after_open_min = 0\n"
         "entry_before_close_min = 0\n"
         + "".join(f'[[strategy.sleeves]]\naccount = "{a}"\nunderlyings = ["TSLA"]\ndelta_min = 0.25\n'
                   "delta_max = 0.45\n" for a in AGENT_ACCOUNTS))  # fmt: skip


@pytest.fixture
def wheel_tws(tmp_path):
    """The local gateway managing the agents' accounts."""
    yield from local_gateway(tmp_path / "wheel-tws.toml", WHEEL)


async def test_kill_9_of_an_agent_moves_its_accounts_and_nothing_is_lost_or_sent_twice(
    tmp_path, pg_dsn, pg_pool, redis_server, wheel_tws
):
    config = tmp_path / "cluster.toml"
    config.write_text(WHEEL + f'[cluster]\nlogin = "{LOGIN}"\npostgres = "{pg_dsn}"\n'
                      f'redis = "{redis_server.url}"\nagent_timeout_s = 2.0\nheartbeat_every_s = 0.25\n'
                      f"[ibkr]\nport = {wheel_tws[1]}\nclient_ids = [1, 2]\nhealth_interval_s = 0.5\n")  # fmt: skip
    procs = {"gw": spawn("cluster", "gateway", "--config", str(config), "--holder", "gw")}
    try:
        await until(HOLDER, "gw", pg_pool)
        for name in ("a", "b"):
            procs[name] = spawn("cluster", "agent", "--config", str(config), "--name", name)
        split = (
            "SELECT string_agg(agent || ':' || n, ',' ORDER BY agent) FROM (SELECT agent, count(*) AS n "
            "FROM accounts GROUP BY agent) c"
        )
        await until(split, "a:3,b:3", pg_pool)
        await until("SELECT count(*) > 0 FROM orders JOIN accounts USING (account) WHERE agent = 'a'", True, pg_pool,
                    timeout_s=60)  # a trades: its orders are committed (working or filled)  # fmt: skip
        procs["a"].kill()  # SIGKILL: no leave, no flush
        procs["a"].wait()
        await until(split, "b:6", pg_pool)
        status = subprocess.run([sys.executable, "-m", "alluse.cli", "cluster", "status", "--config", str(config)],
                                capture_output=True, text=True, timeout=60)  # fmt: skip
        assert re.search(r"^agent b \(epoch \d+\): 6 accounts, heartbeat", status.stdout, re.M), status.stdout
        assert "lease held by gw with fencing token 1" in status.stdout, status.stdout
        await until("SELECT count(*) FROM orders WHERE status = 'SUBMITTED'", 0, pg_pool)  # each one answered
        summary_b = last_line_of(stopped(procs["b"]), "agent b: ")
        summary_gw = last_line_of(stopped(procs["gw"]), "gateway service gw: ")
        held = await broker_positions_of(wheel_tws[1], AGENT_ACCOUNTS)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
    print(summary_b, summary_gw, sep="\n")
    committed = await pg_pool.fetchval("SELECT count(*) FROM orders WHERE sent_token IS NOT NULL")
    received, twice = receipts(wheel_tws[0])
    assert twice == 0 and received == committed  # every order sent reached the broker, once
    for account in AGENT_ACCOUNTS:
        assert await records.positions(pg_pool, account) == held[account], account
    assert re.search(r"1 tenures, \d+ rebuilds", summary_b), summary_b


def test_cluster_up_starts_the_whole_cluster_prometheus_and_the_console_see_every_process(
    postgres_server, redis_server, chromium
):
    """`alluse cluster up --config`: its own PostgreSQL and Redis, the local gateway, a gateway service and a
    standby, two agents, the console and Prometheus; every process up in Prometheus' eyes, the agents running every
    account, and the console in a real browser showing both agents with their accounts and every process with the
    memory it wrote to PostgreSQL; all of it stopped at the end. (postgres_server, redis_server: skipped, or
    failed under CI, where the servers cannot start.)"""
    import json
    import tempfile
    import urllib.parse
    import urllib.request

    directory = Path(tempfile.mkdtemp(prefix="alluse-up-"))
    directory.chmod(0o755)  # as root, PostgreSQL runs as user postgres
    config = directory / "wheel.toml"
    config.write_text(WHEEL)
    up = spawn("cluster", "up", "--dir", str(directory / "c"), "--config", str(config), "--agents", "2", "--standby",
               "--duration", "60")  # fmt: skip
    try:
        console_url = first_line(up, "cluster: console on ").split()[-1]
        url = re.search(r"prometheus on (http://127\.0\.0\.1:\d+)", first_line(up, "cluster: prometheus")).group(1)

        def query(promql: str) -> list:
            with urllib.request.urlopen(f"{url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}") as answer:
                return json.loads(answer.read())["data"]["result"]

        deadline = time.monotonic() + 30
        while True:
            up_targets = [r["value"][1] for r in query("up")]
            accounts = query("sum(alluse_cluster_agent_accounts)")
            if up_targets == ["1"] * 4 and accounts and accounts[0]["value"][1] == str(len(AGENT_ACCOUNTS)):
                break
            assert time.monotonic() < deadline, (up_targets, accounts)
            time.sleep(0.5)
        seen = asyncio.run(browse_cluster_console(console_url, chromium, directory / "cluster-console.png"))
        assert seen["errors"] == []
        assert sorted(seen["agents"]) == ["agent-1", "agent-2"] and sum(seen["agents"].values()) == len(AGENT_ACCOUNTS)
        processes = ["agent agent-1", "agent agent-2", "gateway gw-a", "gateway gw-b"]
        assert sorted(seen["processes"]) == processes, seen["processes"]
        assert all(float(rss.replace(",", "")) > 10 for rss in seen["processes"].values()), seen["processes"]
        assert seen["lease"].startswith("lease: held by gw-"), seen["lease"]
        up.send_signal(signal.SIGINT)
        out, _ = up.communicate(timeout=60)
        assert up.returncode == 0 and out.rstrip().endswith("cluster: stopped"), out
    finally:
        if up.poll() is None:
            up.kill()
        shutil.rmtree(directory, ignore_errors=True)


async def cells_of(page, rows: str) -> list[list[str]]:
    return [row.split("\t") for row in await page.locator(rows).all_inner_texts()]


async def browse_cluster_console(url: str, chromium: str, screenshot: Path) -> dict:
    """What the console shows once both agents run accounts and every process wrote its memory to PostgreSQL:
    each agent's accounts, each process's RSS (MiB), the lease."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=["--headless", "--no-sandbox"])
        page = await browser.new_page(viewport={"width": 1280, "height": 800})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(url)
        await page.wait_for_selector("#ready.ok", timeout=10_000)
        await page.wait_for_function(
            """() => [...document.querySelectorAll('#processes tbody tr')].filter(
                 (tr) => tr.cells[3].textContent !== '-').length === 4
               && [...document.querySelectorAll('#agents tbody tr')].filter(
                 (tr) => Number(tr.cells[2].textContent) > 0).length === 2""",
            timeout=30_000,
        )
        agents = {
            r.split("\t")[0]: int(r.split("\t")[2]) for r in await page.locator("#agents tbody tr").all_inner_texts()
        }
        processes = {
            r.split("\t")[0]: r.split("\t")[3] for r in await page.locator("#processes tbody tr").all_inner_texts()
        }
        lease = await page.text_content("#lease") or ""
        await page.screenshot(path=str(screenshot), full_page=True)
        await browser.close()
    return {"errors": errors, "agents": agents, "processes": processes, "lease": lease}


async def test_cluster_halt_records_a_state_for_every_agent_refuses_an_unknown_account_and_status_shows_it(
    tmp_path, pg_dsn, pg_pool, redis_server
):
    import sys as _sys

    await records.register_accounts(pg_pool, LOGIN, ACCOUNTS)
    config = tmp_path / "cluster.toml"
    config.write_text(f'[cluster]\nlogin = "{LOGIN}"\npostgres = "{pg_dsn}"\nredis = "{redis_server.url}"\n')

    def alluse(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([_sys.executable, "-m", "alluse.cli", "cluster", *args, "--config", str(config)],
                              capture_output=True, text=True, timeout=60)  # fmt: skip

    done = alluse("halt", "--reason", "the desk")
    assert done.returncode == 0 and "Gen-Acc, Rev-Acc -> HALTED (the desk)" in done.stdout, done.stderr
    assert await pg_pool.fetchval("SELECT count(*) FROM trading_states WHERE state = 'HALTED'") == 2
    refused = alluse("resume", "--account", "Gen-Acc", "--account", "Nobody")
    assert refused.returncode == 2 and refused.stderr.strip().splitlines() == [
        "error: account='Nobody': not an account of the cluster"
    ], refused.stderr
    assert await pg_pool.fetchval("SELECT count(*) FROM trading_states WHERE state = 'HALTED'") == 2  # none applied
    status = alluse("status")
    assert status.returncode == 0, status.stderr
    assert status.stdout.splitlines() == [
        f"login {LOGIN}: lease no gateway has held it yet",
        "accounts unassigned: 2",
        "accounts not ACTIVE: Gen-Acc HALTED, Rev-Acc HALTED",
        "orders: none; fills: 0",
    ]
