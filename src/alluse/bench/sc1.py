"""SC-1: what accounts cost, and how the cluster's order path scales with agents.

Per account: an agent's trading system is the single-process kernel, so a backtest of N accounts (the
wheel, risk, ledger, journal and a paper venue on the virtual clock, `app/backtest.py`) is run in a fresh
process at N = 100 and N = 1,000, each account wheeling one underlying of the default market. Reported: the
process's RSS and CPU at each size, the marginal memory and CPU per account between them (the fixed cost of a
process cancels out), and the wheel's orders per account and session (what the broker's limits meet).

The order path across processes: 1, 2 and 4 agent processes, each with 10 accounts of its own, commit orders
through `ClusterBroker` (PostgreSQL, the ownership fence, then the Redis command) as fast as they come, on a
throwaway PostgreSQL and Redis (skipped where they are not installed). Reported: orders committed per second
in total at each count, and the scaling efficiency (the rate with n agents over n times the rate with one).
On a 2-core machine past two agents they share the cores with PostgreSQL and Redis, and the figure says so.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

from alluse.bench.cluster_servers import cluster_servers
from alluse.bench.figures import Figure

if TYPE_CHECKING:
    from alluse.app.config import Config

WORKLOAD = "SC-1"
SIZES = (100, 1000)
SESSIONS = 2
AGENTS = (1, 2, 4)
ORDERS_QUICK, ORDERS_FULL = 1_000, 4_000  # per agent
ACCOUNTS_PER_AGENT = 10


def sc1_figures(quick: bool) -> list[Figure]:
    return [*_per_account(), *_order_path(ORDERS_QUICK if quick else ORDERS_FULL)]


# ---------------------------------------------------------------------- per account


def _per_account() -> list[Figure]:
    measured = {}
    for n in SIZES:
        done = subprocess.run([sys.executable, "-m", "alluse.bench.sc1", "accounts", str(n)], capture_output=True,
                              text=True)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"SC-1 with {n} accounts failed in its process: {done.stderr.strip()[-2000:]}")
        measured[n] = json.loads(done.stdout.strip().splitlines()[-1])
    small, large = (measured[n] for n in SIZES)
    extra = SIZES[1] - SIZES[0]
    figures = []
    for n in SIZES:
        figures.append(Figure(WORKLOAD, f"RSS with {n} accounts", measured[n]["rss"] / 2**20, "MB"))
        figures.append(Figure(WORKLOAD, f"CPU per session with {n} accounts", measured[n]["cpu"] / SESSIONS, "s"))
    figures.append(Figure(WORKLOAD, "memory per account", (large["rss"] - small["rss"]) / extra / 2**10, "KB"))
    figures.append(Figure(WORKLOAD, "CPU per account per session",
                          (large["cpu"] - small["cpu"]) / extra / SESSIONS * 1e3, "ms"))  # fmt: skip
    # what the broker sees: the wheel's orders (entries, reprices, exits) per account and session
    figures.append(Figure(WORKLOAD, "orders per account per session", large["orders"] / SIZES[1] / SESSIONS,
                          "orders"))  # fmt: skip
    return figures


def _accounts_config(n: int) -> Config:
    from alluse.app.config import load_config

    underlyings = ["TSLA", "NVDA", "AAPL", "AMZN", "MSFT"]
    accounts = [f"SC{i:05d}" for i in range(n)]
    sleeves = [{"account": a, "underlyings": [underlyings[i % 5]], "delta_min": 0.3, "delta_max": 0.4}
               for i, a in enumerate(accounts)]  # fmt: skip
    return load_config(overrides={
        "accounts": {a: {"cash": 1_000_000} for a in accounts},
        "strategy": {"sleeves": sleeves},
        "monitoring": {"enabled": False},
    })  # fmt: skip


def measure_accounts(n: int) -> dict[str, float]:
    """In this process: RSS after `SESSIONS` sessions of `n` accounts, and the CPU they took."""
    from alluse.app.backtest import run_backtest

    config = _accounts_config(n)
    process = psutil.Process()
    cpu0 = sum(process.cpu_times()[:2])
    with tempfile.TemporaryDirectory() as tmp:
        system, result = run_backtest(config, Path(tmp) / "sc1", date(2026, 1, 5), date(2026, 1, 5 + SESSIONS - 1))
        rss = process.memory_info().rss
        orders = len(system.c.oms.book.orders)
        system.close()
    if result.sessions != SESSIONS:
        raise RuntimeError(f"SC-1 ran {result.sessions} sessions, not {SESSIONS}")
    return {"rss": float(rss), "cpu": sum(process.cpu_times()[:2]) - cpu0, "orders": float(orders)}


# ---------------------------------------------------------------------- the order path


def _order_path(orders: int) -> list[Figure]:
    with cluster_servers("alluse-sc1-") as (dsn, url):
        rates = {n: agents_rate(dsn, url, n, orders) for n in AGENTS}
    figures = [Figure(WORKLOAD, f"orders committed per second, {_agents(n)}", r, "orders/s", higher_is_better=True)
               for n, r in rates.items()]  # fmt: skip
    figures += [Figure(WORKLOAD, f"scaling efficiency, {_agents(n)}", 100 * rates[n] / (n * rates[1]), "%",
                       higher_is_better=True) for n in AGENTS if n > 1]  # fmt: skip
    return figures


def _agents(n: int) -> str:
    return f"{n} agent" if n == 1 else f"{n} agents"


def agents_rate(dsn: str, url: str, agents: int, orders: int) -> float:
    start_at = time.time() + 3.0  # every process connected and ready by then
    procs = [subprocess.Popen([sys.executable, "-m", "alluse.bench.sc1", "agent", dsn, url, f"{agents}-{k}",
                               str(orders), str(start_at)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for k in range(agents)]  # fmt: skip
    spans = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        if proc.returncode != 0:
            raise RuntimeError(f"SC-1 agent failed: {err.strip()[-2000:]}")
        spans.append(json.loads(out.strip().splitlines()[-1]))
    first, last = min(s["start"] for s in spans), max(s["end"] for s in spans)
    return agents * orders / (last - first)


async def agent_commits(dsn: str, url: str, name: str, orders: int, start_at: float) -> dict[str, float]:
    """One agent: its own accounts and tenure, `orders` committed through ClusterBroker; (start, end) wall."""
    import asyncpg
    import redis.asyncio as aioredis

    from alluse.cluster import assignment, records
    from alluse.cluster.agent_broker import ClusterBroker
    from alluse.cluster.schema import migrate
    from alluse.common.clock import LiveClock
    from alluse.model import Order, OrderType, Side
    from alluse.model.registry import InstrumentRegistry

    login = "SC1"
    accounts = [f"{name}-{i}" for i in range(ACCOUNTS_PER_AGENT)]
    pool = await asyncpg.create_pool(dsn, min_size=2, max_size=4)
    client = aioredis.from_url(url, socket_timeout=10)
    try:
        async with pool.acquire() as conn:
            await migrate(conn)
            await records.register_accounts(conn, login, accounts)
            tenure = await assignment.join(conn, name)
            await conn.execute("UPDATE accounts SET agent = $1, agent_epoch = $2 WHERE account = ANY($3)",
                               tenure.agent, tenure.epoch, accounts)  # fmt: skip
        broker = ClusterBroker(pool, client, login, tenure, {a: Decimal(10**6) for a in accounts},
                               InstrumentRegistry(), LiveClock(asyncio.get_running_loop()), 10**7)  # fmt: skip
        await broker.start()
        await asyncio.sleep(max(0.0, start_at - time.time()))
        start = time.time()
        for i in range(orders):
            broker.submit(Order(f"{name}-o{i}", accounts[i % len(accounts)], "TSLA", Side.BUY, 1, OrderType.MARKET))
            if i % 100 == 99:
                await asyncio.sleep(0)  # the writer commits while orders keep coming
        while broker.commanded < orders:  # committed, and its command on Redis
            await asyncio.sleep(0.001)
        end = time.time()
        await broker.stop()
        return {"start": start, "end": end}
    finally:
        await client.aclose()
        await pool.close()


if __name__ == "__main__":  # sc1_figures runs this: one line of JSON
    if sys.argv[1] == "accounts":
        sys.stdout.write(json.dumps(measure_accounts(int(sys.argv[2]))) + "\n")
    else:
        _, _, dsn, url, name, n, at = sys.argv
        sys.stdout.write(json.dumps(asyncio.run(agent_commits(dsn, url, name, int(n), float(at)))) + "\n")
