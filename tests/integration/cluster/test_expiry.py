"""Options that expire while a gateway service is active: IB reports the expiry, the assignment, only in its
positions (the local TWS gateway does as TWS does), and the gateway records them as settlement fills, so the
books in PostgreSQL keep equal to the broker's: a short put in the money takes the stock at its strike, one
out of the money expires worthless."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

from cluster_harness import until_true

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
from alluse.common.clock import LiveClock, datetime_to_ns
from alluse.marketdata.config import MarketConfig, Underlying
from alluse.model import Order, OrderType, Right, Side, expiry_ns
from alluse.model.registry import InstrumentRegistry

LOGIN = "F0004"
ASSIGNED, WORTHLESS = "DU0001", "DU0002"
# the evening before: the market lists the weekly that expires tomorrow at 21:00 UTC (16:00 New York); on the
# day itself it lists the next one
BEFORE_EXPIRY = datetime(2026, 12, 10, 23, tzinfo=UTC)


async def test_an_expiry_reported_only_in_ibs_positions_is_booked_as_the_broker_booked_it(pg_pool, redis_client):
    clock = LiveClock(asyncio.get_running_loop(), speed=3600.0, start_ns=datetime_to_ns(BEFORE_EXPIRY))
    market = MarketConfig(underlyings={"TSLA": Underlying(spot=250.0, vol=0.3)}, step_interval_s=600.0,
                          weekly_expiries=1, strikes_each_side=4, calendar="24/7")  # fmt: skip
    exchange = Exchange(clock, market, PaperVenueConfig(), {a: Decimal(10**6) for a in (ASSIGNED, WORTHLESS)}, seed=3)
    ib_gateway = Gateway(exchange)
    await ib_gateway.start()
    await records.register_accounts(pg_pool, LOGIN, [ASSIGNED, WORTHLESS])
    registry = InstrumentRegistry(exchange.registry)

    def broker(ids: OrderIdSource) -> IbkrBroker:
        config = IbkrConfig(port=ib_gateway.port, client_ids=[1], health_interval_s=0.5)
        return IbkrBroker(config, clock, registry, ids)

    settings = ClusterConfig(login=LOGIN, lease_ttl_s=2.0, renew_every_s=0.4, send_margin_s=0.4, standby_poll_s=0.1)
    gw = GatewayService(settings, pg_pool, redis_client, broker, registry, holder="gw", wall_ns=clock.now_ns)
    stop = asyncio.Event()
    task = asyncio.create_task(gw.run(stop))
    try:
        await asyncio.wait_for(gw.became_active.wait(), 10)
        spot = exchange.engine.cache.get("TSLA").mid  # type: ignore[union-attr]
        puts = [o for o in exchange.registry.options_for("TSLA") if o.right is Right.PUT
                and expiry_ns(o) > clock.now_ns()]  # fmt: skip
        in_the_money = min((p for p in puts if float(p.strike) > spot + 2), key=lambda p: p.strike)
        out_of_it = max((p for p in puts if float(p.strike) < spot - 2), key=lambda p: p.strike)
        queue = WorkQueue(redis_client, command_stream(LOGIN), GATEWAY_GROUP)
        for coid, account, put in (("p1", ASSIGNED, in_the_money), ("p2", WORTHLESS, out_of_it)):
            await records.record_order(pg_pool, Order(coid, account, put.id, Side.SELL, 2, OrderType.MARKET), LOGIN)
            await queue.put(coid.encode())

        async def settled() -> bool:
            n = await pg_pool.fetchval("SELECT count(*) FROM fills WHERE exec_id LIKE 'settle:%'")
            return bool(n == 3)  # the two closes and one delivery

        await until_true(settled, timeout_s=60, what="the settlements recorded")
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await ib_gateway.stop()
        exchange.close()
    for account in (ASSIGNED, WORTHLESS):
        broker_book = {i.id: q for i, q, _ in exchange.positions(account) if q}
        assert await records.positions(pg_pool, account) == broker_book, account
    assert await records.positions(pg_pool, ASSIGNED) == {"TSLA": 200}  # two short puts took 200 shares
    assert await records.positions(pg_pool, WORTHLESS) == {}
    delivery = await pg_pool.fetchrow("SELECT price, quantity FROM fills WHERE exec_id LIKE 'settle:%:delivery'")
    assert (delivery["price"], delivery["quantity"]) == (in_the_money.strike, 200)  # at the strike
    assert gw.counts.settlements_recorded == 3
    # the fills are summed at the start, and again only once an option held has reached its expiry (the gateway
    # goes round every 2 s of wall time, about 10 times over the simulated day)
    print(f"expiry looks: {gw.counts.expiry_looks}")
    assert gw.counts.expiry_looks <= 5
