"""The unmodified ib_async client against the local gateway: connect, quotes, greeks, an option chain, a limit
order filled in parts, a cancel, and the records a reconnecting client reads."""

from __future__ import annotations

import math

from gateway_harness import ACCOUNT, wait_for
from ib_async import IB, LimitOrder, Option, Stock

from alluse.brokers.ibkr.gateway.server import Gateway


def nickel_above(price: float) -> float:
    return round(math.ceil(price / 0.05) * 0.05, 2)


async def test_ib_async_trades_through_the_gateway(gateway: Gateway) -> None:
    ib = IB()
    await ib.connectAsync("127.0.0.1", gateway.port, clientId=1, timeout=5)
    try:
        assert ib.client.serverVersion() == gateway.server_version
        assert ib.managedAccounts() == [ACCOUNT]
        assert {v.tag for v in ib.accountValues()} >= {"NetLiquidation", "TotalCashValue", "BuyingPower"}

        stock = Stock("TSLA", "SMART", "USD")
        [qualified] = await ib.qualifyContractsAsync(stock)
        assert qualified.conId > 0
        stock_ticker = ib.reqMktData(stock)
        await wait_for(lambda: stock_ticker.bid > 0 and stock_ticker.ask > stock_ticker.bid, what="stock quote")

        [chain] = await ib.reqSecDefOptParamsAsync("TSLA", "", "STK", stock.conId)
        assert len(chain.expirations) == 2 and len(chain.strikes) == 9 and chain.multiplier == "100"
        strike = sorted(chain.strikes)[4]
        option = Option("TSLA", chain.expirations[0], strike, "P", "SMART")
        [qualified_option] = await ib.qualifyContractsAsync(option)
        assert qualified_option.localSymbol.startswith("TSLA  ")
        ticker = ib.reqMktData(option)
        await wait_for(lambda: ticker.ask > 0 and ticker.modelGreeks is not None, what="option quote and greeks")
        greeks = ticker.modelGreeks
        assert greeks is not None and greeks.delta is not None and -1 < greeks.delta < 0
        assert greeks.impliedVol is not None and 0.05 < greeks.impliedVol < 3
        assert greeks.undPrice is not None and abs(greeks.undPrice - stock_ticker.midpoint()) < 25

        # more than the displayed size: the first fill takes the touch, the rest fills on later quotes
        quantity = int(ticker.askSize) + 10
        trade = ib.placeOrder(option, LimitOrder("BUY", quantity, nickel_above(ticker.ask * 2), orderRef="c-1"))
        await wait_for(lambda: trade.orderStatus.status == "Filled", what="the order to fill")
        assert len(trade.fills) >= 2 and sum(f.execution.shares for f in trade.fills) == quantity
        assert all(f.execution.orderRef == "c-1" and f.commissionReport.commission > 0 for f in trade.fills)
        assert trade.order.permId > 0

        resting = ib.placeOrder(option, LimitOrder("BUY", 1, 0.01, orderRef="c-2"))
        await wait_for(lambda: resting.orderStatus.status == "Submitted", what="the resting order's ack")
        ib.cancelOrder(resting.order)
        await wait_for(lambda: resting.orderStatus.status == "Cancelled", what="the cancel")

        await wait_for(lambda: any(p.contract.conId == option.conId for p in ib.positions()), what="the position")
        [position] = [p for p in ib.positions() if p.contract.conId == option.conId]
        assert position.position == quantity and position.account == ACCOUNT
    finally:
        ib.disconnect()

    # a new session reads what happened: executions with their refs, completed orders
    again = IB()
    await again.connectAsync("127.0.0.1", gateway.port, clientId=1, timeout=5)
    try:
        fills = await again.reqExecutionsAsync()
        assert sum(f.execution.shares for f in fills if f.execution.orderRef == "c-1") == quantity
        completed = await again.reqCompletedOrdersAsync(apiOnly=True)
        assert {t.order.orderRef: t.orderStatus.status for t in completed} == {"c-1": "Filled", "c-2": "Cancelled"}
        assert again.client.getReqId() > resting.order.orderId  # nextValidId continues past the ids used
    finally:
        again.disconnect()
