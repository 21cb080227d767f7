"""Server-to-client messages, each a list of fields in the layout ib_async's decoder reads.

One function per message; the message id comes first, then (for the older messages) a version number
the decoder skips. Where a layout depends on the server version (176 carries `faProfile` in orders,
178 carries `pendingPriceRevision` in executions), the version is an argument. Unset values are IB's
sentinels (wire.UNSET_DOUBLE / UNSET_INTEGER), as a real TWS sends them.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum

from alluse.brokers.ibkr.contracts import IbContract
from alluse.brokers.ibkr.gateway.orders import IbOrder
from alluse.brokers.ibkr.gateway.wire import UNSET_DOUBLE, UNSET_DOUBLE_TEXT, UNSET_INTEGER

Fields = list[object]

FA_PROFILE_DROPPED = 177  # from this server version on, orders no longer carry faProfile
PENDING_PRICE_REVISION = 178  # ... and executions carry pendingPriceRevision
SUPPORTED_VERSIONS = (176, 178)


class Out(IntEnum):
    TICK_PRICE = 1
    TICK_SIZE = 2
    ORDER_STATUS = 3
    ERROR = 4
    OPEN_ORDER = 5
    ACCOUNT_VALUE = 6
    PORTFOLIO_VALUE = 7
    ACCOUNT_UPDATE_TIME = 8
    NEXT_VALID_ID = 9
    CONTRACT_DATA = 10
    EXECUTION_DATA = 11
    MANAGED_ACCOUNTS = 15
    TICK_OPTION_COMPUTATION = 21
    CURRENT_TIME = 49
    CONTRACT_DATA_END = 52
    OPEN_ORDER_END = 53
    ACCOUNT_DOWNLOAD_END = 54
    EXECUTION_DATA_END = 55
    TICK_SNAPSHOT_END = 57
    MARKET_DATA_TYPE = 58
    COMMISSION_REPORT = 59
    POSITION_DATA = 61
    POSITION_END = 62
    ACCOUNT_SUMMARY = 63
    ACCOUNT_SUMMARY_END = 64
    ACCOUNT_UPDATE_MULTI = 73
    ACCOUNT_UPDATE_MULTI_END = 74
    SEC_DEF_OPT_PARAMETER = 75
    SEC_DEF_OPT_PARAMETER_END = 76
    TICK_REQ_PARAMS = 81
    COMPLETED_ORDER = 101
    COMPLETED_ORDERS_END = 102


class TickType(IntEnum):
    BID_SIZE = 0
    BID = 1
    ASK = 2
    ASK_SIZE = 3
    LAST = 4
    LAST_SIZE = 5
    BID_OPTION = 10
    ASK_OPTION = 11
    LAST_OPTION = 12
    MODEL_OPTION = 13
    DELAYED_BID = 66
    DELAYED_ASK = 67
    DELAYED_MODEL_OPTION = 83


def _unset(value: float | None) -> float:
    return UNSET_DOUBLE if value is None else value


def tick_price(req_id: int, tick: TickType, price: float, size: int) -> Fields:
    return [Out.TICK_PRICE, 6, req_id, tick, price, size, 0]


def tick_size(req_id: int, tick: TickType, size: int) -> Fields:
    return [Out.TICK_SIZE, 6, req_id, tick, size]


def tick_option_computation(req_id: int, tick: TickType, iv: float | None, delta: float | None,
                            opt_price: float | None, gamma: float | None, vega: float | None,
                            theta: float | None, und_price: float | None) -> Fields:  # fmt: skip
    """Missing values go out as IB's own markers: -1 for a price or volatility, -2 for a greek."""
    return [Out.TICK_OPTION_COMPUTATION, req_id, tick, 1,  # tickAttrib 1: price based
            -1 if iv is None else iv, -2 if delta is None else delta, -1 if opt_price is None else opt_price,
            0.0,  # pvDividend
            -2 if gamma is None else gamma, -2 if vega is None else vega, -2 if theta is None else theta,
            -1 if und_price is None else und_price]  # fmt: skip


def market_data_type(req_id: int, data_type: int) -> Fields:
    return [Out.MARKET_DATA_TYPE, 1, req_id, data_type]


def tick_req_params(req_id: int, min_tick: float) -> Fields:
    return [Out.TICK_REQ_PARAMS, req_id, min_tick, "9c0001", 3]  # bbo exchange id, snapshot permissions


def tick_snapshot_end(req_id: int) -> Fields:
    return [Out.TICK_SNAPSHOT_END, 1, req_id]


def error(req_id: int, code: int, text: str) -> Fields:
    return [Out.ERROR, 2, req_id, code, text, ""]  # the last: advancedOrderRejectJson (servers >= 166)


def next_valid_id(order_id: int) -> Fields:
    return [Out.NEXT_VALID_ID, 1, order_id]


def managed_accounts(accounts: Sequence[str]) -> Fields:
    return [Out.MANAGED_ACCOUNTS, 1, ",".join(accounts)]


def current_time(epoch_s: int) -> Fields:
    return [Out.CURRENT_TIME, 1, epoch_s]


def order_status(o: IbOrder) -> Fields:
    return [Out.ORDER_STATUS, o.order_id, o.status, o.filled, o.remaining, o.avg_fill_price, o.perm_id,
            0, o.last_fill_price, o.client_id, "", 0.0]  # parentId, ..., whyHeld, mktCapPrice  # fmt: skip


def _order_head(o: IbOrder) -> Fields:
    """The fields from action to orderRef that openOrder and completedOrder share."""
    return [o.action, o.quantity, o.order_type, 0.0 if o.limit_price is None else o.limit_price, 0.0, o.tif, "",
            o.account, "", 0, o.order_ref]  # auxPrice, ocaGroup, openClose, origin  # fmt: skip


U = UNSET_DOUBLE_TEXT  # a few unset doubles TWS writes as the sentinel (margins, adjusted prices), most as ""
NONE = "None"  # TWS writes this literally for an unset deltaNeutralOrderType / adjustedOrderType
# the eight delta-neutral fields that follow a non-empty deltaNeutralOrderType, as TWS fills them when unset
DELTA_NEUTRAL_UNSET = (0, "", "", "", "?", 0, 0, "")


def open_order(o: IbOrder, version: int) -> Fields:
    """Values where the order has none are those of an openOrder captured from TWS (server 176)."""
    f: Fields = [Out.OPEN_ORDER, o.order_id, *_contract_no_primary(o.contract), *_order_head(o),
                 o.client_id, o.perm_id, 0, 0, 0, "", f"{o.perm_id}.0/{o.account}/100",  # .. sharesAllocation
                 "", "", ""]  # faGroup, faMethod, faPercentage  # fmt: skip
    if version < FA_PROFILE_DROPPED:
        f.append("")
    f += ["", "", "", "", "", 0, "", -1,  # modelCode, gtd, rule80A, percentOffset, settlingFirm, slot, loc, exempt
          0, "", "", "", "", "",  # auctionStrategy, startingPrice, stockRefPrice, delta, stockRange lower/upper
          UNSET_INTEGER, 0, 0, 0, "", 3, 0, 0, "",  # displaySize .. nbboPriceCap
          0, 0, "", 0, NONE, "", *DELTA_NEUTRAL_UNSET,  # parentId, trigger, vol, volType, delta neutral
          0, 0, "", "", "", "", "",  # continuousUpdate .. comboLegsDescrip
          0, 0, 0,  # combo legs, order combo legs, smart combo routing params
          UNSET_INTEGER, UNSET_INTEGER, "",  # scale init/subs level size, scale price increment
          "",  # hedgeType
          0, "", "IB", 0, 0,  # optOutSmartRouting, clearing account/intent, notHeld, delta-neutral contract
          "",  # algoStrategy
          0, 0, o.status, *[U] * 9,  # solicited, whatIf, status, margins before/change/after
          "", "", "", "", "", 0, 0,  # commission, min, max, currency, warning, randomize size / price
          0,  # conditions
          NONE, U, U, U, U, U, U, 0,  # adjustedOrderType .. adjustableTrailingUnit
          "", "", "", 0, 1, 0, 0, 0,  # soft dollar tier .. usePriceMgmtAlgo
          "", "", 0,  # duration, postToAts, autoCancelParent
          "", "", "", "", ""]  # minTradeQty .. midOffsetAtHalf  # fmt: skip
    return f


def completed_order(o: IbOrder, version: int) -> Fields:
    """No capture of this one exists; it follows openOrder's values where the two layouts share a field."""
    f: Fields = [Out.COMPLETED_ORDER, *_contract_no_primary(o.contract), *_order_head(o),
                 o.perm_id, 0, 0, 0, "", "", "", ""]  # outsideRth .. faPercentage  # fmt: skip
    if version < FA_PROFILE_DROPPED:
        f.append("")
    f += ["", "", "", "", "", 0, "", -1,  # modelCode .. exemptCode
          "", "", "", "", "",  # startingPrice .. stockRangeUpper
          UNSET_INTEGER, 0, 0, "", 3, 0, "", 0, NONE, "",  # displaySize .. deltaNeutralAuxPrice
          0, 0, 0, "",  # delta-neutral conId, shortSale, shortSaleSlot, designatedLocation
          0, 0, "", "", "",  # continuousUpdate .. comboLegsDescrip
          0, 0, 0,  # combo legs, order combo legs, smart combo routing params
          UNSET_INTEGER, UNSET_INTEGER, "",  # scale
          "",  # hedgeType
          "", "IB", 0, 0,  # clearing account/intent, notHeld, delta-neutral contract
          "",  # algoStrategy
          0, o.status, 0, 0,  # solicited, status, randomize size / price
          0,  # conditions
          "", "", 0, 1, 0, "", o.filled, 0, 0, "", 0, 0,  # trailStopPrice .. routeMarketableToBbo
          UNSET_INTEGER, o.completed_time, o.completed_status,  # parentPermId, completedTime, completedStatus
          "", "", "", "", ""]  # minTradeQty .. midOffsetAtHalf  # fmt: skip
    return f


def open_order_end() -> Fields:
    return [Out.OPEN_ORDER_END, 1]


def completed_orders_end() -> Fields:
    return [Out.COMPLETED_ORDERS_END]


def execution(req_id: int, o: IbOrder, exec_id: str, time_text: str, shares: int, price: float,
              cum_qty: int, avg_price: float, liquidity: int, version: int) -> Fields:  # fmt: skip
    """`time_text` as TWS writes it ("20261204 15:30:00 UTC"); `liquidity` 1 added, 2 removed, 3 routed out."""
    c = o.contract
    f: Fields = [Out.EXECUTION_DATA, req_id, o.order_id, c.con_id, c.symbol, c.sec_type, c.last_trade_date,
                 c.strike, c.right, c.multiplier, c.exchange, c.currency, c.local_symbol, c.trading_class,
                 exec_id, time_text, o.account, "ISLAND" if c.sec_type == "STK" else "CBOE",
                 "BOT" if o.action == "BUY" else "SLD", shares, price, o.perm_id, o.client_id, 0, cum_qty,
                 avg_price, o.order_ref, "", "", "", liquidity]  # evRule, evMultiplier, modelCode  # fmt: skip
    if version >= PENDING_PRICE_REVISION:
        f.append(False)
    return f


def execution_end(req_id: int) -> Fields:
    return [Out.EXECUTION_DATA_END, 1, req_id]


def commission_report(exec_id: str, commission: float, realized_pnl: float | None) -> Fields:
    return [Out.COMMISSION_REPORT, 1, exec_id, commission, "USD", _unset(realized_pnl), UNSET_DOUBLE, ""]


def position(account: str, c: IbContract, quantity: int, avg_cost: float) -> Fields:
    return [Out.POSITION_DATA, 3, account, *_contract_no_primary(c), quantity, avg_cost]


def position_end() -> Fields:
    return [Out.POSITION_END, 1]


def account_value(key: str, value: str, currency: str, account: str) -> Fields:
    return [Out.ACCOUNT_VALUE, 2, key, value, currency, account]


def portfolio_value(c: IbContract, quantity: int, market_price: float, market_value: float, avg_cost: float,
                    unrealized: float, realized: float, account: str) -> Fields:  # fmt: skip
    return [Out.PORTFOLIO_VALUE, 8, c.con_id, c.symbol, c.sec_type, c.last_trade_date, c.strike, c.right,
            c.multiplier, c.primary_exchange, c.currency, c.local_symbol, c.trading_class, quantity, market_price,
            market_value, avg_cost, unrealized, realized, account]  # fmt: skip


def account_update_time(hh_mm: str) -> Fields:
    return [Out.ACCOUNT_UPDATE_TIME, 1, hh_mm]


def account_download_end(account: str) -> Fields:
    return [Out.ACCOUNT_DOWNLOAD_END, 1, account]


def account_update_multi(req_id: int, account: str, key: str, value: str, currency: str) -> Fields:
    return [Out.ACCOUNT_UPDATE_MULTI, 1, req_id, account, "", key, value, currency]


def account_update_multi_end(req_id: int) -> Fields:
    return [Out.ACCOUNT_UPDATE_MULTI_END, 1, req_id]


def account_summary(req_id: int, account: str, tag: str, value: str, currency: str) -> Fields:
    return [Out.ACCOUNT_SUMMARY, 1, req_id, account, tag, value, currency]


def account_summary_end(req_id: int) -> Fields:
    return [Out.ACCOUNT_SUMMARY_END, 1, req_id]


def contract_details(req_id: int, c: IbContract, long_name: str, min_tick: float, under_con_id: int,
                     under_symbol: str) -> Fields:  # fmt: skip
    """Layout of servers >= 164 (no version field, size rules at the end)."""
    is_option = c.sec_type == "OPT"
    return [Out.CONTRACT_DATA, req_id, c.symbol, c.sec_type, c.last_trade_date, c.strike, c.right, c.exchange,
            c.currency, c.local_symbol, c.trading_class if is_option else "NMS", c.trading_class, c.con_id,
            min_tick, c.multiplier, "ACTIVETIM,AD,ALERT,ALLOC,DAY,GTC,IOC,LMT,MKT",
            "SMART,CBOE,ISE" if is_option else "SMART,ISLAND,NYSE", 1, under_con_id, long_name,
            c.primary_exchange, c.last_trade_date[:6] if is_option else "", "", "", "", "US/Eastern",
            "", "", "", "",  # tradingHours, liquidHours, evRule, evMultiplier
            0,  # secIdList
            1, under_symbol, "STK" if is_option else "", "26" if is_option else "26,26",
            c.last_trade_date, "" if is_option else "COMMON",  # realExpirationDate, stockType
            1, 1, 1]  # minSize, sizeIncrement, suggestedSizeIncrement  # fmt: skip


def contract_details_end(req_id: int) -> Fields:
    return [Out.CONTRACT_DATA_END, 1, req_id]


def sec_def_opt_parameter(req_id: int, exchange: str, under_con_id: int, trading_class: str, multiplier: str,
                          expirations: Sequence[str], strikes: Sequence[float]) -> Fields:  # fmt: skip
    return [Out.SEC_DEF_OPT_PARAMETER, req_id, exchange, under_con_id, trading_class, multiplier,
            len(expirations), *expirations, len(strikes), *strikes]  # fmt: skip


def sec_def_opt_parameter_end(req_id: int) -> Fields:
    return [Out.SEC_DEF_OPT_PARAMETER_END, req_id]


def _contract_no_primary(c: IbContract) -> Fields:
    """Contract fields as order, execution and position messages carry them: without primaryExchange."""
    return [c.con_id, c.symbol, c.sec_type, c.last_trade_date, c.strike, c.right, c.multiplier, c.exchange,
            c.currency, c.local_symbol, c.trading_class]  # fmt: skip
