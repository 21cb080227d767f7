"""Each fault the local gateway injects, seen by the unmodified ib_async client as IB would show it, and counted."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from gateway_harness import RawClient, trade_through, wait_for
from ib_async import IB, LimitOrder, Stock

from alluse.brokers.ibkr.gateway.server import Gateway, GatewayFault


class Client:
    def __init__(self) -> None:
        self.ib = IB()
        self.errors: list[tuple[int, int]] = []
        self.ib.errorEvent += lambda req_id, code, text, contract: self.errors.append((req_id, code))

    async def connect(self, gw: Gateway, client_id: int = 1) -> IB:
        assert gw.port is not None
        await self.ib.connectAsync("127.0.0.1", gw.port, clientId=client_id, timeout=5)
        return self.ib

    def codes(self) -> list[int]:
        return [code for _, code in self.errors]


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    c = Client()
    yield c
    c.ib.disconnect()


async def stock(ib: IB) -> Stock:
    contract = Stock("TSLA", "SMART", "USD")
    await ib.qualifyContractsAsync(contract)
    return contract


@pytest.mark.parametrize(("data_lost", "code"), [(True, 1101), (False, 1102)])
async def test_connectivity_lost_then_restored(gw: Gateway, client: Client, data_lost: bool, code: int) -> None:
    ib = await client.connect(gw)
    ticker = ib.reqMktData(await stock(ib))
    await wait_for(lambda: ticker.bid > 0, what="quote")
    gw.inject(GatewayFault.CONNECTIVITY_LOST, duration_s=0.3, data_lost=data_lost)
    await wait_for(lambda: 1100 in client.codes(), what="1100")
    trade = ib.placeOrder(ticker.contract, LimitOrder("BUY", 1, 1.0))
    await wait_for(lambda: (trade.order.orderId, 1100) in client.errors, what="the order refused while down")
    await wait_for(lambda: code in client.codes(), what=str(code))
    assert gw.lines_in_use == (0 if data_lost else 1)  # after 1101 the client must subscribe again
    assert len(gw.exchange.orders) == 0 and gw.fault_counts() == {GatewayFault.CONNECTIVITY_LOST: 1}


async def test_farm_flaps_are_warnings_and_the_session_stays(gw: Gateway, client: Client) -> None:
    ib = await client.connect(gw)
    gw.inject(GatewayFault.FARM_FLAP)
    await wait_for(lambda: {2103, 2104, 2105, 2106, 2157, 2158} <= set(client.codes()), what="the farm messages")
    assert ib.isConnected() and gw.fault_counts() == {GatewayFault.FARM_FLAP: 1}


async def test_a_competing_session_stops_market_data_for_its_duration(gw: Gateway, client: Client) -> None:
    ib = await client.connect(gw)
    ticker = ib.reqMktData(await stock(ib))
    await wait_for(lambda: ticker.bid > 0, what="quote")
    gw.inject(GatewayFault.COMPETING_SESSION, duration_s=0.5)
    await wait_for(lambda: 10197 in client.codes(), what="10197")
    seen = len(ticker.ticks)
    await wait_for(lambda: not gw.data_paused, what="the competing session to end")
    await wait_for(lambda: len(ticker.ticks) > 0 and ticker.time is not None and len(ticker.ticks) != seen,
                   what="quotes again")  # fmt: skip


async def test_an_injected_reject_is_201_and_the_order_is_done(gw: Gateway, client: Client) -> None:
    ib = await client.connect(gw)
    gw.inject(GatewayFault.ORDER_REJECT)
    trade = ib.placeOrder(await stock(ib), LimitOrder("BUY", 1, 1.0, orderRef="r-1"))
    await wait_for(lambda: (trade.order.orderId, 201) in client.errors, what="201")
    await wait_for(lambda: trade.isDone(), what="the trade to end")
    [order] = gw.exchange.orders.values()
    assert order.status == "Inactive" and gw.exchange.venue.orders_received == 0  # never reached the venue
    assert gw.fault_counts() == {GatewayFault.ORDER_REJECT: 1}


async def test_an_order_cancelled_by_ib_is_202(gw: Gateway, client: Client) -> None:
    ib = await client.connect(gw)
    trade = ib.placeOrder(await stock(ib), LimitOrder("BUY", 1, 1.0))
    await wait_for(lambda: trade.orderStatus.status == "Submitted", what="ack")
    gw.inject(GatewayFault.ORDER_CANCEL)
    await wait_for(lambda: trade.orderStatus.status == "Cancelled", what="the cancel")
    assert (trade.order.orderId, 202) in client.errors


async def test_a_warning_is_399_and_the_order_goes_on(gw: Gateway, client: Client) -> None:
    ib = await client.connect(gw)
    gw.inject(GatewayFault.WARNING)
    trade = ib.placeOrder(await stock(ib), LimitOrder("BUY", 1, 1.0))
    await wait_for(lambda: (trade.order.orderId, 399) in client.errors, what="399")
    await wait_for(lambda: trade.orderStatus.status == "Submitted", what="ack")
    assert not next(iter(gw.exchange.orders.values())).done


async def test_a_socket_dropped_mid_message_ends_the_session(gw: Gateway, client: Client) -> None:
    ib = await client.connect(gw)
    gw.inject(GatewayFault.DROP_MID_MESSAGE)
    await wait_for(lambda: not ib.isConnected(), what="the disconnect")
    assert gw.sessions == {}
    ib2 = IB()
    await ib2.connectAsync("127.0.0.1", gw.port, clientId=1, timeout=5)  # the same client id is free again
    ib2.disconnect()


async def test_after_the_nightly_restart_order_ids_start_lower(gw: Gateway, client: Client) -> None:
    ib = await client.connect(gw)
    contract = await stock(ib)
    for _ in range(3):
        ib.placeOrder(contract, LimitOrder("BUY", 1, 1.0))
    await wait_for(lambda: len(gw.exchange.orders) == 3, what="the orders at the gateway")
    before = gw.next_order_id(1)
    assert before > 3
    gw.inject(GatewayFault.NIGHTLY_RESTART)
    await wait_for(lambda: not ib.isConnected(), what="the restart")
    raw = await RawClient.connect(gw.port, client_id=1)
    [next_valid] = [int(m[2]) for m in raw.received if m[0] == "9"]
    assert next_valid < before  # an adapter must keep its own high-water mark
    raw.close()
    again = IB()
    await again.connectAsync("127.0.0.1", gw.port, clientId=2, timeout=5)
    try:
        assert len(await again.reqAllOpenOrdersAsync()) == 3  # the orders themselves live on at IB
    finally:
        again.disconnect()


async def test_fills_made_while_the_client_was_away_are_there_when_it_returns(gw: Gateway, client: Client) -> None:
    ib = await client.connect(gw)
    contract = await stock(ib)
    ticker = ib.reqMktData(contract)
    await wait_for(lambda: ticker.bid > 0, what="quote")
    trade = ib.placeOrder(contract, LimitOrder("BUY", 1, round(ticker.bid - 5, 2), orderRef="away-1"))
    await wait_for(lambda: trade.orderStatus.status == "Submitted", what="ack")
    gw.inject(GatewayFault.DISCONNECT)
    await wait_for(lambda: not ib.isConnected(), what="the disconnect")
    [order] = gw.exchange.orders.values()
    trade_through(gw, "TSLA", order.limit_price)
    await wait_for(lambda: order.done, what="the fill while away")
    again = IB()
    await again.connectAsync("127.0.0.1", gw.port, clientId=1, timeout=5)
    try:
        fills = await again.reqExecutionsAsync()
        assert [(f.execution.orderRef, f.execution.shares) for f in fills] == [("away-1", 1.0)]
    finally:
        again.disconnect()


async def test_an_expiry_at_the_gateway_reaches_the_client_as_positions() -> None:
    """Options expire (or are assigned) at the gateway's venue as in `make run`; the client hears the positions."""
    from datetime import UTC, datetime
    from decimal import Decimal

    from alluse.brokers.ibkr.gateway.exchange import Exchange
    from alluse.brokers.paper import PaperVenueConfig
    from alluse.common.clock import TestClock, datetime_to_ns
    from alluse.marketdata.config import MarketConfig, Underlying
    from alluse.model import Right, expiry_ns

    clock = TestClock(datetime_to_ns(datetime(2026, 11, 30, 15, 0, tzinfo=UTC)))  # a Monday: Friday is days away
    market = MarketConfig(underlyings={"TSLA": Underlying(spot=250.0, vol=0.55)}, step_interval_s=3600,
                          weekly_expiries=1, strikes_each_side=2)  # fmt: skip
    exchange = Exchange(clock, market, PaperVenueConfig(), {"DU0001": Decimal(10**6)}, seed=7, open_accounts=False)
    gw = Gateway(exchange)
    await gw.start()
    put = next(o for o in exchange.registry.options_for("TSLA") if o.right is Right.PUT)
    exchange.venue.load_account("DU0001", Decimal(10**6), {put.id: -1})
    ib = IB()
    try:
        await ib.connectAsync("127.0.0.1", gw.port, clientId=1, timeout=5)
        assert [(p.contract.localSymbol, p.position) for p in ib.positions()] == [(put.id, -1.0)]
        clock.advance_to(expiry_ns(put) + 3600 * 10**9)  # past the expiry: the venue settles the put
        await wait_for(lambda: all(p.contract.localSymbol != put.id or p.position == 0 for p in ib.positions()),
                       what="the expired put heard as gone")  # fmt: skip
    finally:
        ib.disconnect()
        await gw.stop()
        exchange.close()
