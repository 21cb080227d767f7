"""Agents on real PostgreSQL and Redis: each runs the wheel, the risk gate and the ledger for the accounts the
assignment table gives it, on the quotes the active gateway publishes, and trades through the gateway service
and the unmodified ib_async client to the local TWS-protocol gateway. An agent that dies loses its accounts to
the others, which read their books back from PostgreSQL; nothing is lost or sent twice, and every book equals
the broker's."""

from __future__ import annotations

import asyncio
from collections import Counter
from contextlib import asynccontextmanager
from decimal import Decimal

import pytest
from cluster_harness import until_true

from alluse.app.config import AccountConfig
from alluse.app.kernel import attach_ibkr_market_data
from alluse.brokers.ibkr.broker import IbkrBroker
from alluse.brokers.ibkr.config import IbkrConfig
from alluse.brokers.ibkr.gateway.exchange import Exchange
from alluse.brokers.ibkr.gateway.server import Gateway
from alluse.brokers.ibkr.order_ids import OrderIdSource
from alluse.brokers.paper import PaperVenueConfig
from alluse.cluster import assignment, records
from alluse.cluster.agent import AgentService
from alluse.cluster.config import ClusterConfig, ClusterFileConfig
from alluse.cluster.gateway import GatewayService
from alluse.cluster.quotes import QuotePublisher
from alluse.common.clock import LiveClock
from alluse.execution.config import ExecutionConfig
from alluse.marketdata.config import MarketConfig, Underlying
from alluse.model import Order, OrderType, Side
from alluse.model.registry import InstrumentRegistry
from alluse.strategies.config import SleeveConfig, StrategyConfig

LOGIN = "F0002"
ACCOUNTS = [f"DU{i:04d}" for i in range(1, 7)]
SPEED = 10.0  # every clock of the test: the exchange's, the gateway service's and the agents'


def cluster_config(ib_port: int) -> ClusterFileConfig:
    market = MarketConfig(underlyings={"TSLA": Underlying(spot=250.0, vol=0.55), "NVDA": Underlying(spot=135.0,
                          vol=0.45)}, step_interval_s=1.0, weekly_expiries=2, strikes_each_side=4,
                          calendar="24/7")  # fmt: skip
    sleeves = [SleeveConfig(account=a, underlyings=["TSLA", "NVDA"], delta_min=0.25, delta_max=0.45) for a in ACCOUNTS]
    return ClusterFileConfig(
        market=market,
        accounts={a: AccountConfig(cash=Decimal(1_000_000)) for a in ACCOUNTS},
        strategy=StrategyConfig(
            sleeves=sleeves, evaluate_every_s=10, reprice_every_s=20, entry_after_open_min=0, entry_before_close_min=0
        ),  # fmt: skip
        execution=ExecutionConfig(ack_timeout_ms=20_000),
        ibkr=IbkrConfig(
            port=ib_port, client_ids=[1, 2], health_interval_s=0.5, reconnect_initial_s=0.05, reconnect_max_s=0.2
        ),  # fmt: skip
        cluster=ClusterConfig(
            login=LOGIN,
            lease_ttl_s=1.0,
            renew_every_s=0.2,
            send_margin_s=0.2,
            standby_poll_s=0.05,
            agent_timeout_s=1.5,
            heartbeat_every_s=0.25,
        ),  # fmt: skip
    )


@pytest.fixture
async def clock():
    return LiveClock(asyncio.get_running_loop(), speed=SPEED)


@pytest.fixture
async def ib_gateway(clock):
    config = cluster_config(0)
    exchange = Exchange(clock, config.market, PaperVenueConfig(), {a: Decimal(1_000_000) for a in ACCOUNTS}, seed=7)
    gateway = Gateway(exchange)
    await gateway.start()
    yield gateway
    await gateway.stop()
    exchange.close()


def gateway_service(config: ClusterFileConfig, pool, redis_client, clock) -> GatewayService:
    registry = InstrumentRegistry()
    quotes = QuotePublisher(redis_client, LOGIN, registry)

    def broker(ids: OrderIdSource) -> IbkrBroker:
        made = IbkrBroker(config.ibkr, clock, registry, ids)
        attach_ibkr_market_data(made, config, clock, registry, quotes)
        return made

    return GatewayService(config.cluster, pool, redis_client, broker, registry, holder="gw", quotes=quotes)


def receipts(ib_gateway: Gateway) -> Counter[str]:
    return Counter(o.order_ref for o in ib_gateway.exchange.orders.values())


def broker_positions(ib_gateway: Gateway, account: str) -> dict[str, int]:
    return {i.id: q for i, q, _ in ib_gateway.exchange.positions(account) if q}


async def buy_one_share_each(system, accounts: list[str], what: str) -> None:
    """A TSLA share bought at market for each account through the agent's order manager, once it has a quote
    (the risk gate wants a fresh one), and every order filled."""

    async def quoted() -> bool:
        return system.c.cache.get_fresh("TSLA") is not None

    await until_true(quoted, what="a TSLA quote at the agent")
    oms = system.c.oms
    orders = [Order(oms.next_client_order_id(), a, "TSLA", Side.BUY, 1, OrderType.MARKET) for a in accounts]
    for order in orders:
        oms.submit(order)

    async def filled() -> bool:
        return all(oms.get(o.client_order_id).status.value == "FILLED" for o in orders)

    await until_true(filled, what=what)


@asynccontextmanager
async def agents_running(ib_gateway, pg_pool, redis_client, clock, tmp_path):
    """A gateway service and agents a and b, each trading its 3 accounts; (gateway, agents, their tasks); all
    stopped at the end."""
    config = cluster_config(ib_gateway.port)
    gw = gateway_service(config, pg_pool, redis_client, clock)
    stop = asyncio.Event()
    gw_task = asyncio.create_task(gw.run(stop))
    agents = {n: AgentService(config, pg_pool, redis_client, n, clock, scratch=tmp_path) for n in ("a", "b")}
    tasks = {n: asyncio.create_task(agent.run(stop)) for n, agent in agents.items()}
    try:

        async def split() -> bool:
            owners = await assignment.assignments(pg_pool, LOGIN)
            trading = all(a.system is not None for a in agents.values())
            return trading and Counter(owners.values()) == Counter({"a": 3, "b": 3})

        await until_true(split, what="the accounts split 3 and 3")
        yield gw, agents, tasks
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks.values(), gw_task, return_exceptions=True), 20)


async def test_agents_split_the_accounts_trade_the_wheel_and_take_over_a_dead_agents_accounts(
    ib_gateway, pg_pool, redis_client, clock, tmp_path
):
    async with agents_running(ib_gateway, pg_pool, redis_client, clock, tmp_path) as (_, agents, tasks):

        async def every_account_sold_a_put() -> bool:
            n = await pg_pool.fetchval("SELECT count(DISTINCT account) FROM fills WHERE side = 'SELL'")
            return n == len(ACCOUNTS)

        await until_true(every_account_sold_a_put, timeout_s=60, what="the wheel's puts filled in every account")
        a_accounts = list(agents["a"].accounts)
        tasks["a"].cancel()  # agent a dies: no leave, its heartbeat lapses
        await asyncio.gather(tasks["a"], return_exceptions=True)

        async def b_runs_all() -> bool:
            return agents["b"].accounts == ACCOUNTS and agents["b"].system is not None

        await until_true(b_runs_all, what="agent b running every account")
        system = agents["b"].system
        assert system is not None

        async def books_read_back() -> bool:  # from PostgreSQL: the positions the broker holds (the wheel still
            return all(  # trades, so a fill may be on its way at any one instant: equal once it has landed)
                {p.instrument_id: p.quantity for p in system.c.ledger.open_positions(account)}
                == broker_positions(ib_gateway, account)
                for account in a_accounts
            )

        await until_true(books_read_back, what="a's accounts read back with the broker's positions")

        # b trades a's accounts: one share each, through the cluster
        await buy_one_share_each(system, a_accounts, "orders of the taken-over accounts filled")

    assert max(receipts(ib_gateway).values()) == 1  # no order reached the broker twice
    committed = {r["client_order_id"] for r in await pg_pool.fetch("SELECT client_order_id FROM orders")}
    assert set(receipts(ib_gateway)) <= committed  # nothing reached the broker that was not committed first
    for account in ACCOUNTS:
        assert await records.positions(pg_pool, account) == broker_positions(ib_gateway, account), account
    assert await pg_pool.fetchval("SELECT count(*) FROM accounts WHERE agent IS NOT NULL") == 0  # b left cleanly


@pytest.mark.parametrize("data", ["kept", "lost"])
async def test_a_redis_restart_pauses_trading_by_name_and_it_resumes_with_the_books_equal_to_the_brokers(
    ib_gateway, pg_pool, clock, tmp_path, data
):
    import redis.asyncio as aioredis

    from alluse.cluster.servers import RedisServer

    server = RedisServer(tmp_path / "redis", persist=data == "kept").start()
    client = aioredis.from_url(server.url, socket_timeout=5)
    config = cluster_config(ib_gateway.port)
    gw = gateway_service(config, pg_pool, client, clock)
    agent = AgentService(config, pg_pool, client, "a", clock, scratch=tmp_path)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(gw.run(stop)), asyncio.create_task(agent.run(stop))]
    try:

        async def trading() -> bool:
            system = agent.system
            return system is not None and system.c.broker.connected and gw.state == "active"

        await until_true(trading, what="the agent trading")
        server.stop()
        if data == "lost":
            server.wipe()

        async def named() -> bool:
            return gw.state == "paused: redis unreachable" and not agent.system.c.broker.connected  # type: ignore[union-attr]

        await until_true(named, what="the gateway paused by name and the agent's broker disconnected")
        server.start()
        await until_true(trading, what="trading again")
        await buy_one_share_each(agent.system, ACCOUNTS[:3], "orders after the restart filled")
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 20)
        await client.aclose()
        server.stop()
    assert gw.counts.pauses >= 1
    assert max(receipts(ib_gateway).values()) == 1
    for account in ACCOUNTS:
        assert await records.positions(pg_pool, account) == broker_positions(ib_gateway, account), account


async def test_a_halt_follows_its_account_to_the_next_agent(ib_gateway, pg_pool, redis_client, clock, tmp_path):
    from alluse.cluster import states
    from alluse.model import TradingState

    async with agents_running(ib_gateway, pg_pool, redis_client, clock, tmp_path) as (_, agents, tasks):
        account = agents["a"].accounts[0]
        await states.set_state(pg_pool, account, TradingState.HALTED, "the desk says so", "cli")

        def state_at(name: str) -> TradingState | None:
            system = agents[name].system
            return None if system is None or account not in agents[name].accounts else system.c.states.get(account)

        async def halted_at(name: str) -> bool:
            return state_at(name) is TradingState.HALTED

        await until_true(lambda: halted_at("a"), what="the halt applied by agent a")
        tasks["a"].cancel()  # agent a dies; b takes the account over, halted from its first moment
        await asyncio.gather(tasks["a"], return_exceptions=True)
        await until_true(lambda: halted_at("b"), what="the halt in force at agent b")
        await states.set_state(pg_pool, account, TradingState.ACTIVE, "back on", "cli")

        async def active_at_b() -> bool:
            return state_at("b") is TradingState.ACTIVE

        await until_true(active_at_b, what="the resume applied by agent b")


async def test_a_postgres_restart_pauses_the_agents_by_name_and_they_trade_again_with_equal_books(
    ib_gateway, pg_pool, redis_client, postgres_server, clock, tmp_path
):
    async with agents_running(ib_gateway, pg_pool, redis_client, clock, tmp_path) as (gw, agents, _):
        postgres_server.stop()
        try:

            async def named() -> bool:
                return gw.state == "paused: postgres unreachable" and all(
                    a.state == "paused: postgres unreachable" for a in agents.values()
                )

            await until_true(named, what="the gateway and both agents paused by name")
        finally:
            postgres_server.start()  # whatever happened: the worker's next tests need it

        async def trading_again() -> bool:
            systems = [a.system for a in agents.values()]
            return gw.state == "active" and all(s is not None and s.c.broker.connected for s in systems)

        await until_true(trading_again, what="the gateway and the agents trading again")
        system = agents["a"].system
        assert system is not None

        await buy_one_share_each(system, agents["a"].accounts, "orders after the restart filled")
    assert max(receipts(ib_gateway).values()) == 1
    for account in ACCOUNTS:
        assert await records.positions(pg_pool, account) == broker_positions(ib_gateway, account), account
