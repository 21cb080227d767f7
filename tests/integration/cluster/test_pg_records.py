"""The system of record on a real PostgreSQL: schema upgrades, the fenced lease, orders claimed once, fills
stored once, positions from fills, the order-id high-water mark."""

import asyncio
from decimal import Decimal

import asyncpg
import pytest

from alluse.cluster import lease as leases
from alluse.cluster import records
from alluse.cluster.schema import STEPS, VERSION, PgStep, SchemaError, migrate
from alluse.model.base import InvalidInput
from alluse.model.enums import OrderType, Side
from alluse.model.orders import Fill, Order

LOGIN = "DU0001"


def order(coid: str, account: str = "U1", qty: int = 2, price: str = "1.25") -> Order:
    return Order(coid, account, "SPY 250321P00500000", Side.SELL, qty, OrderType.LIMIT, Decimal(price))


def fill(coid: str, exec_id: str, qty: int, side: Side = Side.SELL, account: str = "U1") -> Fill:
    return Fill(coid, account, "SPY 250321P00500000", side, qty, Decimal("1.25"), Decimal("0.65"), 1, exec_id)


async def test_migrate_is_once_and_refuses_a_newer_database(pg):
    assert await migrate(pg) == VERSION  # the fixture migrated it: nothing runs again
    await pg.execute("UPDATE schema_version SET version = $1", VERSION + 1)
    with pytest.raises(SchemaError, match=rf"schema version {VERSION + 1} is newer than this program's {VERSION}"):
        await migrate(pg)


async def test_a_failing_upgrade_step_leaves_the_database_at_its_old_version(pg):
    bad = (*STEPS, PgStep(VERSION + 1, "a table", ("CREATE TABLE later (x int)",)),
           PgStep(VERSION + 2, "a typo", ("CREATE TABLEX oops (x int)",)))  # fmt: skip
    with pytest.raises(SchemaError, match=rf"upgrade to schema version {VERSION + 2} \(a typo\) failed"):
        await migrate(pg, bad)
    assert await pg.fetchval("SELECT max(version) FROM schema_version") == VERSION
    assert await pg.fetchval("SELECT to_regclass('later')") is None  # the step before it rolled back too


async def test_two_processes_starting_together_upgrade_a_new_database_once(postgres_server):
    admin = await asyncpg.connect(postgres_server.dsn)
    await admin.execute("CREATE DATABASE race")
    dsn = postgres_server.dsn.rsplit("/", 1)[0] + "/race"
    try:
        conns = [await asyncpg.connect(dsn) for _ in range(4)]
        found = await asyncio.gather(*(migrate(c) for c in conns))
        assert sorted(found) == [0, VERSION, VERSION, VERSION]
        assert await conns[0].fetchval("SELECT count(*) FROM schema_version") == 1
        for c in conns:
            await c.close()
    finally:
        await admin.execute("DROP DATABASE race WITH (FORCE)")
        await admin.close()


async def test_the_lease_is_held_by_one_and_its_token_rises_at_every_change_of_holder(pg):
    a = await leases.acquire(pg, LOGIN, "gw-a", ttl_s=0.3)
    assert a is not None and a.token == 1
    assert await leases.acquire(pg, LOGIN, "gw-b", ttl_s=5) is None  # held
    a = await leases.renew(pg, a, ttl_s=0.3)
    await asyncio.sleep(0.4)  # a paused gateway: its lease runs out
    b = await leases.acquire(pg, LOGIN, "gw-b", ttl_s=5)
    assert b is not None and b.token == 2
    with pytest.raises(leases.LeaseLost, match="fencing token 1"):
        await leases.renew(pg, a, ttl_s=5)  # the old holder learns it at its next renewal
    assert await leases.current(pg, LOGIN) == ("gw-b", 2, True)
    assert await leases.release(pg, b)
    c = await leases.acquire(pg, LOGIN, "gw-c", ttl_s=5)  # released: taken at once, not at expiry
    assert c is not None and c.token == 3


async def test_an_order_is_claimed_once_and_never_by_a_gateway_that_lost_its_lease(pg):
    await records.register_accounts(pg, LOGIN, ["U1"])
    stale = await leases.acquire(pg, LOGIN, "gw-a", ttl_s=0.2)
    assert await records.record_order(pg, order("c1"), LOGIN)
    await asyncio.sleep(0.3)
    active = await leases.acquire(pg, LOGIN, "gw-b", ttl_s=5)
    assert await records.claim_for_send(pg, "c1", stale, None) is None  # fenced off
    claimed = await records.claim_for_send(pg, "c1", active, None)
    assert claimed is not None and claimed.token == active.token and claimed.limit_price == Decimal("1.25")
    assert await records.claim_for_send(pg, "c1", active, None) is None  # a second command for it sends nothing
    assert await records.unsent(pg, LOGIN) == []


async def test_racing_gateways_claim_each_order_exactly_once(pg_dsn):
    """Two gateways (one whose lease has just run out) claim the same 200 orders at once."""
    setup = await asyncpg.connect(pg_dsn)
    await records.register_accounts(setup, LOGIN, ["U1"])
    for i in range(200):
        await records.record_order(setup, order(f"c{i}"), LOGIN)
    stale = await leases.acquire(setup, LOGIN, "gw-a", ttl_s=0.05)
    await asyncio.sleep(0.1)
    active = await leases.acquire(setup, LOGIN, "gw-b", ttl_s=30)
    pool = await asyncpg.create_pool(pg_dsn, min_size=4, max_size=8)
    try:
        claims = await asyncio.gather(*(
            records.claim_for_send(pool, f"c{i}", holder, None) for i in range(200) for holder in (stale, active)
        ))  # fmt: skip
        sent = [c for c in claims if c is not None]
        assert sorted(c.client_order_id for c in sent) == sorted(f"c{i}" for i in range(200))
        assert {c.token for c in sent} == {active.token}
        assert await setup.fetchval("SELECT count(*) FROM orders WHERE sent_token = $1", active.token) == 200
    finally:
        await pool.close()
        await setup.close()


async def test_an_order_id_reused_for_another_order_is_refused_and_a_resend_changes_nothing(pg):
    await records.register_accounts(pg, LOGIN, ["U1"])
    assert await records.record_order(pg, order("c1"), LOGIN)
    assert not await records.record_order(pg, order("c1"), LOGIN)  # the same order again: idempotent
    with pytest.raises(InvalidInput, match="client_order_id.*c1.*already used by another order"):
        await records.record_order(pg, order("c1", qty=3), LOGIN)
    assert await pg.fetchval("SELECT quantity FROM orders WHERE client_order_id = 'c1'") == 2


async def test_a_fill_is_stored_once_and_positions_are_rebuilt_from_fills(pg):
    await records.register_accounts(pg, LOGIN, ["U1", "U2"])
    await records.record_order(pg, order("c1", qty=3), LOGIN)
    await records.record_order(pg, order("c2", account="U2", qty=1), LOGIN)
    assert await records.record_fill(pg, fill("c1", "e1", 2), 100)
    assert not await records.record_fill(pg, fill("c1", "e1", 2), 100)  # the same execution reported again
    assert await records.record_fill(pg, fill("c1", "e2", 1), 100)
    assert await records.record_fill(pg, fill("c2", "e3", 1, account="U2"), 100)
    row = await pg.fetchrow("SELECT filled_qty, status FROM orders WHERE client_order_id = 'c1'")
    assert (row["filled_qty"], row["status"]) == (3, "FILLED")
    assert await records.positions(pg, "U1") == {"SPY 250321P00500000": -3}
    assert await records.positions(pg, "U2") == {"SPY 250321P00500000": -1}


async def test_order_ids_rise_across_gateways_and_never_without_the_lease(pg):
    a = await leases.acquire(pg, LOGIN, "gw-a", ttl_s=0.2)
    assert await records.reserve_order_ids(pg, a, 10, floor=1) == range(1, 11)
    assert await records.reserve_order_ids(pg, a, 5, floor=3) == range(11, 16)  # never below the mark
    await asyncio.sleep(0.3)
    with pytest.raises(leases.LeaseLost):
        await records.reserve_order_ids(pg, a, 5, floor=1)
    b = await leases.acquire(pg, LOGIN, "gw-b", ttl_s=5)
    assert await records.reserve_order_ids(pg, b, 5, floor=1) == range(16, 21)  # the new gateway goes on from it
    assert await records.reserve_order_ids(pg, b, 2, floor=100) == range(100, 102)  # the broker's next id is higher
