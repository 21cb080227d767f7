"""The assignment table on real PostgreSQL: shares, a silent agent's accounts freed, a lapsed tenure fenced, and
an order committed only by the tenure that owns its account."""

from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal

import pytest

from alluse.cluster import assignment, records
from alluse.cluster.agent_broker import ClusterBroker
from alluse.cluster.assignment import AgentFenced
from alluse.common.clock import LiveClock
from alluse.model import Order, OrderType, Side
from alluse.model.events import EventKind
from alluse.model.registry import InstrumentRegistry

LOGIN = "F0003"
ACCOUNTS = [f"DU{i:04d}" for i in range(1, 8)]  # 7: shares of 4 and 3


async def rebalance(pool, tenure, login, timeout_s):
    async with pool.acquire() as conn:
        return await assignment.rebalance(conn, tenure, login, timeout_s)


async def leave(pool, tenure):
    async with pool.acquire() as conn:
        await assignment.leave(conn, tenure)


@pytest.fixture
async def pool(pg_pool):
    await records.register_accounts(pg_pool, LOGIN, ACCOUNTS)
    return pg_pool


async def test_agents_take_their_shares_and_give_back_the_surplus_when_another_joins(pool):
    a = await assignment.join(pool, "a")
    assert await rebalance(pool, a, LOGIN, 5.0) == ACCOUNTS  # alone: everything
    b = await assignment.join(pool, "b")
    assert len(await rebalance(pool, a, LOGIN, 5.0)) == 4  # gives back 3, the highest names
    assert await rebalance(pool, b, LOGIN, 5.0) == ACCOUNTS[4:]
    assert Counter((await assignment.assignments(pool, LOGIN)).values()) == Counter({"a": 4, "b": 3})


async def test_a_silent_agent_loses_its_accounts_and_its_tenure_never_beats_again(pool):
    a = await assignment.join(pool, "a")
    b = await assignment.join(pool, "b")
    await rebalance(pool, a, LOGIN, 5.0)
    await rebalance(pool, b, LOGIN, 5.0)
    for _ in range(3):  # a falls silent past a timeout of 0.25 s; b beats every 0.12 s
        await asyncio.sleep(0.12)
        await assignment.heartbeat(pool, b, 0.25)
    assert await rebalance(pool, b, LOGIN, 0.25) == ACCOUNTS
    with pytest.raises(AgentFenced, match="agent a epoch"):
        await assignment.heartbeat(pool, a, 0.25)
    again = await assignment.join(pool, "a")  # a new tenure: it rejoins with nothing, then takes its share
    assert again.epoch > a.epoch
    assert len(await rebalance(pool, again, LOGIN, 5.0)) == 0  # b holds 7 > its share of 4
    assert len(await rebalance(pool, b, LOGIN, 5.0)) == 4
    assert len(await rebalance(pool, again, LOGIN, 5.0)) == 3


async def test_an_order_of_an_account_that_moved_is_refused_by_name_and_never_committed(pool, redis_client):
    a = await assignment.join(pool, "a")
    await rebalance(pool, a, LOGIN, 5.0)
    clock = LiveClock(asyncio.get_running_loop())
    broker = ClusterBroker(pool, redis_client, LOGIN, a, {x: Decimal(10**6) for x in ACCOUNTS}, InstrumentRegistry(),
                           clock, 10_000)  # fmt: skip
    events = []
    broker.set_event_handler(events.append, lambda s: None)
    await broker.start()
    try:
        await leave(pool, a)  # its accounts are free now: a's orders must not commit
        b = await assignment.join(pool, "b")
        await rebalance(pool, b, LOGIN, 5.0)
        broker.submit(Order("x1", ACCOUNTS[0], "TSLA", Side.BUY, 1, OrderType.MARKET))
        for _ in range(100):
            if events:
                break
            await asyncio.sleep(0.02)
    finally:
        await broker.stop()
    assert [(e.kind, e.client_order_id) for e in events] == [(EventKind.REJECTED, "x1")]
    assert "is run by another agent now" in events[0].reason and broker.fenced
    assert await pool.fetchval("SELECT count(*) FROM orders") == 0
