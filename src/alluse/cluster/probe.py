"""Which server stopped a cluster process: a server going away surfaces as many different exceptions, so the
gateway and the agents name their pause by asking PostgreSQL and Redis themselves."""

from __future__ import annotations

import asyncio

import asyncpg
import redis.asyncio as aioredis


async def unreachable(pool: asyncpg.Pool, redis: aioredis.Redis, within_s: float = 1.0) -> str | None:
    """'postgres' or 'redis' if it does not answer within `within_s`, else None."""
    try:
        await asyncio.wait_for(pool.fetchval("SELECT 1"), within_s)
    except Exception:
        return "postgres"
    try:
        await asyncio.wait_for(redis.ping(), within_s)
    except Exception:
        return "redis"
    return None


async def pause_state(pool: asyncpg.Pool, redis: aioredis.Redis, exc: BaseException) -> tuple[str, bool]:
    """What a process paused by `exc` shows ("paused: redis unreachable"), and whether `exc` is an error of
    its own (no server away: to be logged whole, with its traceback)."""
    away = await unreachable(pool, redis)
    if away is not None:
        return f"paused: {away} unreachable", False
    return f"paused: error {type(exc).__name__}", True
