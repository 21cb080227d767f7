"""IB's login-wide rules as the local gateway enforces them: pacing, client ids, market-data lines, order ids,
and a request with a field that does not parse."""

from __future__ import annotations

import asyncio

import pytest
from gateway_harness import RawClient, start_gateway, wait_for
from ib_async import IB, LimitOrder, Stock

from alluse.brokers.ibkr.gateway.config import GatewayConfig
from alluse.brokers.ibkr.gateway.server import Gateway
from alluse.brokers.ibkr.gateway.wire import handshake


@pytest.fixture
async def small_gateway() -> Gateway:
    gw = await start_gateway(GatewayConfig(market_data_lines=3, max_clients=2))
    yield gw
    await gw.stop()
    gw.exchange.close()


def stock_request(req_id: int, symbol: str = "TSLA", local_symbol: str = "", sec_type: str = "STK") -> list[object]:
    return [1, 11, req_id, 0, symbol, sec_type, "", 0.0, "", "", "SMART", "", "USD", local_symbol, "", 0, "", 0, 0, ""]


async def test_past_fifty_messages_a_second_the_client_gets_error_100_and_is_dropped(small_gateway: Gateway) -> None:
    client = await RawClient.connect(small_gateway.port, client_id=1)
    for _ in range(45):  # the startApi counted too: 46 in this second
        client.send(49, 1)
    await client.wait(lambda m: sum(1 for x in client.received if x[0] == "49") == 45)
    assert client.errors() == [(-1, 2104), (-1, 2104), (-1, 2106), (-1, 2158)]  # the farms' OK, nothing else
    for _ in range(10):
        client.send(49, 1)
    assert await client.closed()
    assert (-1, 100) in client.errors()
    assert small_gateway.pacing_violations == 1 and 1 not in small_gateway.sessions


async def test_a_client_id_in_use_is_refused_with_326_and_the_first_session_stays(small_gateway: Gateway) -> None:
    first = await RawClient.connect(small_gateway.port, client_id=5)
    with pytest.raises(ConnectionResetError):
        await RawClient.connect(small_gateway.port, client_id=5)
    assert set(small_gateway.sessions) == {5}
    first.send(49, 1)
    await first.wait(lambda m: m[0] == "49")
    first.close()


async def test_past_the_client_limit_a_connection_is_refused(small_gateway: Gateway) -> None:
    clients = [await RawClient.connect(small_gateway.port, client_id=i) for i in (1, 2)]
    reader, writer = await asyncio.open_connection("127.0.0.1", small_gateway.port)
    third = RawClient(reader, writer)
    writer.write(handshake(157, 178))
    third.send(71, 2, 3, "")
    assert await third.closed()
    assert (-1, 502) in third.errors()
    for c in clients:
        c.close()


async def test_market_data_lines_never_exceed_the_budget(small_gateway: Gateway) -> None:
    client = await RawClient.connect(small_gateway.port, client_id=1)
    options = [o.id for o in small_gateway.exchange.registry.options_for("TSLA")][:3]
    client.send(*stock_request(1))
    for req_id, local in enumerate(options[:2], start=2):
        client.send(*stock_request(req_id, "TSLA", local, "OPT"))
    await client.wait(lambda m: m[0] == "81" and m[1] == "3")  # tickReqParams of the third line
    client.send(*stock_request(4, "NVDA"))
    await client.wait(lambda m: m[0] == "4" and m[3] == "101")
    assert small_gateway.lines_in_use == 3 and small_gateway.lines_refused == 1
    client.send(2, 2, 1)  # cancelMktData frees a line
    client.send(*stock_request(5, "NVDA"))
    await client.wait(lambda m: m[0] == "81" and m[1] == "5")
    assert small_gateway.lines_in_use == 3 and small_gateway.max_lines_used == 3


async def test_a_field_that_does_not_parse_gets_321_naming_it_and_the_session_goes_on(small_gateway: Gateway) -> None:
    client = await RawClient.connect(small_gateway.port, client_id=1)
    client.send(1, 11, "abc", *stock_request(0)[3:])
    error = await client.wait(lambda m: m[0] == "4" and m[3] == "321")
    assert "reqId" in error[4] and "abc" in error[4]
    client.send(49, 1)
    await client.wait(lambda m: m[0] == "49")


async def test_a_client_outside_the_version_range_is_closed(small_gateway: Gateway) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", small_gateway.port)
    writer.write(handshake(100, 150))
    assert await RawClient(reader, writer).closed()


async def test_a_reused_order_id_is_refused_with_103(small_gateway: Gateway) -> None:
    ib = IB()
    errors: list[tuple[int, int]] = []
    ib.errorEvent += lambda req_id, code, text, contract: errors.append((req_id, code))
    await ib.connectAsync("127.0.0.1", small_gateway.port, clientId=1, timeout=5)
    try:
        stock = Stock("TSLA", "SMART", "USD")
        await ib.qualifyContractsAsync(stock)
        trade = ib.placeOrder(stock, LimitOrder("BUY", 1, 1.0))
        await wait_for(lambda: trade.orderStatus.status == "Submitted", what="ack")
        ib.client.placeOrder(trade.order.orderId, stock, LimitOrder("BUY", 2, 1.0))
        await wait_for(lambda: (trade.order.orderId, 103) in errors, what="error 103")
        assert len(small_gateway.exchange.orders) == 1
    finally:
        ib.disconnect()
