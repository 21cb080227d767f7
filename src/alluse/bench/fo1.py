"""FO-1: gateway failover. Two gateway services for one login on a throwaway PostgreSQL and Redis (the
Debian packages; skipped where they are not installed), sending through the unmodified ib_async client to the
local TWS-protocol gateway. The active one dies mid-burst (its task cancelled: no release, its socket closed);
measured from the moment its lease expires to the first order the standby sends, both instants on
PostgreSQL's clock (`gateway_lease.expires_at`, `orders.sent_at`), once per takeover, and the local gateway's
own count of client order ids it received more than once. The standby polls every `standby_poll_s`; the
lease's TTL is how long a dead gateway goes unnoticed and is not part of the figure.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from decimal import Decimal
from typing import TYPE_CHECKING

from alluse.bench.cluster_servers import cluster_servers
from alluse.bench.figures import Figure

if TYPE_CHECKING:  # the cluster's drivers are imported when the workload runs
    import asyncpg
    import redis.asyncio as aioredis

WORKLOAD = "FO-1"
REPEATS_QUICK, REPEATS_FULL = 3, 9
ORDERS = 30  # per takeover: committed and commanded before the kill, as many after
LEASE_TTL_S = 1.0
STANDBY_POLL_S = 0.05


def fo1_figures(quick: bool) -> list[Figure]:
    with cluster_servers("alluse-fo1-") as (dsn, url):
        takeovers = asyncio.run(_takeovers(dsn, url, REPEATS_QUICK if quick else REPEATS_FULL))
    failover_ms = [ms for ms, _ in takeovers]
    return [
        Figure(WORKLOAD, "failover p50", statistics.median(failover_ms), "ms"),
        Figure(WORKLOAD, "failover max", max(failover_ms), "ms"),
        Figure(WORKLOAD, "duplicated", sum(d for _, d in takeovers), "orders"),
    ]


async def _takeovers(dsn: str, redis_url: str, repeats: int) -> list[tuple[float, int]]:
    import asyncpg
    import redis.asyncio as aioredis

    from alluse.cluster.schema import migrate

    pool = await asyncpg.create_pool(dsn, min_size=2, max_size=10)
    client = aioredis.from_url(redis_url, socket_timeout=5)
    try:
        async with pool.acquire() as conn:
            await migrate(conn)
        return [await _takeover(pool, client, i) for i in range(1, repeats + 1)]
    finally:
        await client.aclose()
        await pool.close()


async def _takeover(pool: asyncpg.Pool, redis: aioredis.Redis, n: int) -> tuple[float, int]:
    """One takeover on a login and a local gateway of its own (`instance` keeps execution ids unique in the
    database, as IB's are): (lease expiry to the standby's first send in ms, duplicates)."""
    from alluse.brokers.ibkr.broker import IbkrBroker
    from alluse.brokers.ibkr.config import IbkrConfig
    from alluse.brokers.ibkr.gateway.exchange import Exchange
    from alluse.brokers.ibkr.gateway.server import Gateway
    from alluse.brokers.ibkr.order_ids import OrderIdSource
    from alluse.brokers.paper import PaperVenueConfig
    from alluse.cluster import records
    from alluse.cluster.config import ClusterConfig
    from alluse.cluster.gateway import GATEWAY_GROUP, GatewayService, command_stream
    from alluse.cluster.streams import WorkQueue
    from alluse.cluster.tasks import cancel_until_done
    from alluse.common.clock import LiveClock
    from alluse.marketdata.config import MarketConfig, Underlying
    from alluse.model import Order, OrderType, Side
    from alluse.model.registry import InstrumentRegistry

    login = f"FO{n}"
    account = f"{login}-ACC"
    market = MarketConfig(underlyings={"TSLA": Underlying(spot=250.0, vol=0.55)}, step_interval_s=1.0,
                          weekly_expiries=1, strikes_each_side=1, calendar="24/7")  # fmt: skip
    clock = LiveClock(asyncio.get_running_loop(), speed=1.0)
    exchange = Exchange(clock, market, PaperVenueConfig(), {account: Decimal(10**9)}, seed=1, instance=n)
    ib_gateway = Gateway(exchange)
    await ib_gateway.start()
    port = ib_gateway.port
    assert port is not None
    await records.register_accounts(pool, login, [account])
    queue = WorkQueue(redis, command_stream(login), GATEWAY_GROUP)
    await queue.ensure_group()
    settings = ClusterConfig(login=login, lease_ttl_s=LEASE_TTL_S, renew_every_s=0.2, send_margin_s=0.2,
                             standby_poll_s=STANDBY_POLL_S)  # fmt: skip

    def service(holder: str) -> GatewayService:
        registry = InstrumentRegistry(exchange.registry)

        def broker(ids: OrderIdSource) -> IbkrBroker:
            config = IbkrConfig(port=port, client_ids=[1, 2, 3], health_interval_s=0.5)
            return IbkrBroker(config, clock, registry, ids)

        return GatewayService(settings, pool, redis, broker, registry, holder=holder)

    async def commit(first: int) -> None:
        for i in range(first, first + ORDERS):
            order = Order(f"{login}-o{i}", account, "TSLA", Side.BUY, 1, OrderType.MARKET)
            await records.record_order(pool, order, login)
            await queue.put(order.client_order_id.encode())

    active, standby = service("active"), service("standby")
    stops = asyncio.Event(), asyncio.Event()
    task_a = asyncio.create_task(active.run(stops[0]))
    await asyncio.wait_for(active.became_active.wait(), 10)
    task_b = asyncio.create_task(standby.run(stops[1]))
    try:
        await commit(0)
        while active.counts.sent < ORDERS // 3:
            await asyncio.sleep(0.005)
        await cancel_until_done([task_a])  # as near to kill -9 as a task gets
        expired_at = await pool.fetchval("SELECT expires_at FROM gateway_lease WHERE login = $1", login)
        await commit(ORDERS)
        deadline = time.monotonic() + 30
        # every order filled, but those the standby holds: claimed on a client id whose connection it cannot
        # prove gone (IB had not yet freed the dead one's), which it never sends twice
        while await pool.fetchval("SELECT count(*) FROM orders WHERE login = $1 AND status <> 'FILLED'", login) != (
            0 if standby.active is None else len(standby.active.held)
        ):
            if time.monotonic() > deadline:
                raise RuntimeError(f"FO-1: orders of {login} not all filled after the takeover")
            await asyncio.sleep(0.02)
        first_sent = await pool.fetchval("SELECT min(sent_at) FROM orders WHERE login = $1 AND sent_token = 2", login)
    finally:
        stops[1].set()
        await asyncio.wait_for(task_b, 10)
        await ib_gateway.stop()
        exchange.close()
    received = Counter(o.order_ref for o in exchange.orders.values())
    return (first_sent - expired_at).total_seconds() * 1000, sum(n - 1 for n in received.values() if n > 1)
