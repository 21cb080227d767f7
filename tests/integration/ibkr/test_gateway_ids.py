"""A restarted gateway never repeats an id: IB's permIds and execIds are unique for good, and a client that met
one before takes it for the same order or fill (a second run's first fill, numbered as the first run's, was
dropped as a duplicate)."""

from __future__ import annotations

from gateway_harness import start_gateway, wait_for
from ib_async import IB, LimitOrder, Stock


async def one_fill(instance: int) -> tuple[int, str]:
    gw = await start_gateway(instance=instance)
    ib = IB()
    try:
        assert gw.port is not None
        await ib.connectAsync("127.0.0.1", gw.port, clientId=1, timeout=5)
        contract = Stock("TSLA", "SMART", "USD")
        await ib.qualifyContractsAsync(contract)
        ticker = ib.reqMktData(contract)
        await wait_for(lambda: ticker.ask > 0, what="a quote")
        trade = ib.placeOrder(contract, LimitOrder("BUY", 1, round(ticker.ask + 5, 2)))
        await wait_for(lambda: trade.fills, what="the fill")
        return trade.order.permId, trade.fills[0].execution.execId
    finally:
        ib.disconnect()
        await gw.stop()
        gw.exchange.close()


async def test_two_starts_of_the_gateway_number_their_orders_and_fills_apart():
    first, second = await one_fill(instance=1), await one_fill(instance=2)
    assert first[0] != second[0] and first[1] != second[1]
    assert first[1].startswith("G1-") and second[1].startswith("G2-")
