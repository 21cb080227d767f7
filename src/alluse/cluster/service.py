"""A gateway service wired from a configuration: its PostgreSQL pool (the schema upgraded first), its Redis
client, the IBKR broker it (re)creates at every lease it takes, with IB's market-data lines for every sleeve of
the configuration published on Redis (what `alluse cluster gateway` runs); an agent service on the same servers
(what `alluse cluster agent` runs)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import redis.asyncio as aioredis

from alluse.app.kernel import attach_ibkr_market_data
from alluse.brokers.base import Broker
from alluse.brokers.ibkr.order_ids import OrderIdSource
from alluse.cluster.agent import AgentService
from alluse.cluster.config import ClusterFileConfig, cluster_clock
from alluse.cluster.gateway import GatewayService
from alluse.cluster.quotes import QuotePublisher
from alluse.cluster.schema import migrate
from alluse.cluster.servers import ServerError
from alluse.model.registry import InstrumentRegistry

REDIS_SOCKET_TIMEOUT_S = 5.0  # no read waits longer: the command reads block 50 ms on the server


def unreachable(key: str, exc: BaseException) -> ServerError:
    return ServerError(f"{key}: cannot connect ({type(exc).__name__}: {exc})")


@asynccontextmanager
async def postgres_connection(config: ClusterFileConfig) -> AsyncIterator[asyncpg.Connection]:
    """One connection to the cluster's PostgreSQL, for a command (`alluse cluster halt`, `status`)."""
    try:
        conn = await asyncpg.connect(config.cluster.postgres)
    except (OSError, asyncpg.PostgresError) as exc:
        raise unreachable("cluster.postgres", exc) from None
    try:
        yield conn
    finally:
        await conn.close()


@asynccontextmanager
async def cluster_clients(config: ClusterFileConfig) -> AsyncIterator[tuple[asyncpg.Pool, aioredis.Redis]]:
    """A PostgreSQL pool (the schema upgraded first) and a Redis client, both answering, or ServerError naming
    the one that does not."""
    try:
        pool = await asyncpg.create_pool(config.cluster.postgres, min_size=2, max_size=8)
    except (OSError, asyncpg.PostgresError) as exc:
        raise unreachable("cluster.postgres", exc) from None
    redis = aioredis.from_url(config.cluster.redis, socket_timeout=REDIS_SOCKET_TIMEOUT_S)
    try:
        async with pool.acquire() as conn:
            await migrate(conn)
        try:
            await redis.ping()
        except (OSError, aioredis.RedisError) as exc:
            raise unreachable("cluster.redis", exc) from None
        yield pool, redis
    finally:
        await redis.aclose()
        await pool.close()


@asynccontextmanager
async def connect_gateway_service(
    config: ClusterFileConfig, holder: str | None = None
) -> AsyncIterator[GatewayService]:
    from alluse.brokers.ibkr.broker import IbkrBroker

    async with cluster_clients(config) as (pool, redis):
        clock = cluster_clock(config.cluster, asyncio.get_running_loop())
        registry = InstrumentRegistry()
        quotes = QuotePublisher(redis, config.cluster.login, registry)

        def broker(ids: OrderIdSource) -> Broker:
            made = IbkrBroker(config.ibkr, clock, registry, ids)
            attach_ibkr_market_data(made, config, clock, registry, quotes)  # published once for every agent
            return made

        yield GatewayService(config.cluster, pool, redis, broker, registry, holder=holder, quotes=quotes,
                             wall_ns=clock.now_ns)  # fmt: skip


@asynccontextmanager
async def connect_agent_service(config: ClusterFileConfig, name: str) -> AsyncIterator[AgentService]:
    async with cluster_clients(config) as (pool, redis):
        clock = cluster_clock(config.cluster, asyncio.get_running_loop())  # the gateway's, for its quotes' stamps
        yield AgentService(config, pool, redis, name, clock)
