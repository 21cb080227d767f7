"""Translating between ib_async's trades and fills and the project's orders, venue orders and fills.

IB's own account of an order is what its server sent: ib_async also marks a trade "Cancelled" by itself on
any error it does not know as a warning (a refused cancel, a duplicate id), so the status here is read from
the trade's log, where each server status and each error code stands apart.
"""

from __future__ import annotations

from datetime import UTC
from decimal import Decimal

from ib_async import Contract, LimitOrder, MarketOrder, Trade
from ib_async import Fill as IbFill
from ib_async import Option as IbOption
from ib_async import Order as IbOrder
from ib_async import Stock as IbStock

from alluse.brokers.base import VenueOrder
from alluse.brokers.ibkr.contracts import CURRENCY, ROUTE, instrument_of
from alluse.brokers.ibkr.errors import Scope, classify
from alluse.model import Fill, Instrument, Option, Order, OrderStatus, OrderType, Side, TimeInForce
from alluse.model.errors import ErrorClass

PENDING = frozenset({"PendingSubmit", "ApiPending"})
WORKING = frozenset({"PreSubmitted", "Submitted", "PendingCancel"})
CANCELLED = frozenset({"Cancelled", "ApiCancelled"})
EXTERNAL_PREFIX = "ib-"  # the client order id of an order placed without an orderRef (TWS, another program)


def client_order_id(order: IbOrder) -> str:
    return order.orderRef or f"{EXTERNAL_PREFIX}{order.permId}"


def ib_contract(instrument: Instrument, con_id: int = 0) -> Contract:
    if isinstance(instrument, Option):
        return IbOption(instrument.underlying, f"{instrument.expiry:%Y%m%d}", float(instrument.strike),
                        instrument.right.value, ROUTE, str(instrument.multiplier), CURRENCY, conId=con_id,
                        localSymbol=instrument.symbol)  # fmt: skip
    return IbStock(instrument.symbol, ROUTE, CURRENCY, conId=con_id)


def ib_order(order: Order) -> IbOrder:
    common = dict(orderRef=order.client_order_id, account=order.account, tif=order.time_in_force.value)
    if order.order_type is OrderType.MARKET:
        return MarketOrder(order.side.value, order.quantity, **common)
    assert order.limit_price is not None
    return LimitOrder(order.side.value, order.quantity, float(order.limit_price), **common)


def instrument_of_contract(c: Contract) -> Instrument:
    return instrument_of(c.secType, c.symbol, c.lastTradeDateOrContractMonth, c.strike, c.right, c.localSymbol)


def server_status(trade: Trade) -> tuple[str, int]:
    """(IB's last status for the trade, the error code that ended it or 0), ignoring ib_async's own guesses."""
    status = trade.orderStatus.status if not trade.log else "PendingSubmit"
    for entry in trade.log:
        if entry.errorCode == 0:
            status = entry.status
            continue
        scope = classify(entry.errorCode).scope
        if scope in (Scope.ORDER_REJECTED, Scope.CONNECTIVITY):  # refused (1100, 504: IB was not there to take it)
            return "Inactive", entry.errorCode
        if scope is Scope.ORDER_CANCELLED:
            status = "Cancelled"
    return status, 0


def reject_class(code: int) -> ErrorClass:
    found = classify(code).error_class
    return found if found is not None else ErrorClass.PERMANENT


def venue_order(trade: Trade) -> VenueOrder:
    o = trade.order
    status, code = server_status(trade)
    filled = int(trade.filled())
    if status in PENDING:
        ours = OrderStatus.SUBMITTED
    elif status in WORKING:
        ours = OrderStatus.PARTIALLY_FILLED if filled else OrderStatus.ACCEPTED
    elif status == "Filled":
        ours = OrderStatus.FILLED
    elif status in CANCELLED:
        ours = OrderStatus.CANCELED
    else:
        ours = OrderStatus.REJECTED
    reason = ""
    if ours in (OrderStatus.CANCELED, OrderStatus.REJECTED):
        reason = next((e.message for e in reversed(trade.log) if e.message), status) if trade.log else status
        if code:
            reason = f"IB {code}: {reason}"
    limit = None if o.orderType != "LMT" else Decimal(repr(o.lmtPrice))
    ts = int(trade.log[0].time.timestamp() * 1e9) if trade.log else 0
    order_type = OrderType.LIMIT if o.orderType == "LMT" else OrderType.MARKET
    return VenueOrder(client_order_id(o), str(o.permId or ""), o.account, instrument_of_contract(trade.contract).id,
                      Side(o.action), int(o.totalQuantity), order_type, limit, TimeInForce(o.tif or "DAY"), ours,
                      filled, ts, reason)  # fmt: skip


def our_fill(fill: IbFill, coid: str) -> Fill:
    ex = fill.execution
    commission = fill.commissionReport.commission if fill.commissionReport.execId else 0.0
    return Fill(
        client_order_id=coid,
        account=ex.acctNumber,
        instrument_id=instrument_of_contract(fill.contract).id,
        side=Side.BUY if ex.side == "BOT" else Side.SELL,
        quantity=int(ex.shares),
        price=Decimal(repr(ex.price)),
        commission=Decimal(repr(commission)),
        ts_event=int(ex.time.astimezone(UTC).timestamp() * 1_000_000) * 1000,
        fill_id=ex.execId,
        liquidity="M" if ex.lastLiquidity == 1 else "T",
    )
