"""Client-to-server requests: their ids and the fields the gateway reads from them.

Layouts follow what ib_async's client sends for server versions 176 and 178. A request whose field
does not parse raises `BadField`, which the session answers with IB's error 321 (naming the field and
the value) while the connection stays up, as TWS does.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class In(IntEnum):
    REQ_MKT_DATA = 1
    CANCEL_MKT_DATA = 2
    PLACE_ORDER = 3
    CANCEL_ORDER = 4
    REQ_OPEN_ORDERS = 5
    REQ_ACCOUNT_UPDATES = 6
    REQ_EXECUTIONS = 7
    REQ_IDS = 8
    REQ_CONTRACT_DATA = 9
    REQ_AUTO_OPEN_ORDERS = 15
    REQ_ALL_OPEN_ORDERS = 16
    REQ_MANAGED_ACCTS = 17
    REQ_CURRENT_TIME = 49
    REQ_GLOBAL_CANCEL = 58
    REQ_MARKET_DATA_TYPE = 59
    REQ_POSITIONS = 61
    REQ_ACCOUNT_SUMMARY = 62
    CANCEL_ACCOUNT_SUMMARY = 63
    CANCEL_POSITIONS = 64
    START_API = 71
    REQ_ACCOUNT_UPDATES_MULTI = 76
    CANCEL_ACCOUNT_UPDATES_MULTI = 77
    REQ_SEC_DEF_OPT_PARAMS = 78
    REQ_COMPLETED_ORDERS = 99


class BadField(ValueError):
    def __init__(self, name: str, value: object, why: str) -> None:
        super().__init__(f"{name} {value!r}: {why}")
        self.name, self.value, self.why = name, value, why


@dataclass(slots=True, frozen=True)
class ContractRequest:
    """The twelve contract fields a client sends (strings, as they came)."""

    con_id: int
    symbol: str
    sec_type: str
    last_trade_date: str
    strike: str
    right: str
    multiplier: str
    exchange: str
    primary_exchange: str
    currency: str
    local_symbol: str
    trading_class: str


@dataclass(slots=True, frozen=True)
class PlaceOrder:
    order_id: int
    contract: ContractRequest
    action: str
    quantity: float
    order_type: str
    limit_price: float | None
    tif: str
    account: str
    order_ref: str


@dataclass(slots=True, frozen=True)
class MarketDataRequest:
    req_id: int
    contract: ContractRequest
    generic_ticks: str
    snapshot: bool


def integer(fields: list[str], i: int, name: str) -> int:
    value = _at(fields, i, name)
    try:
        return int(value) if value else 0
    except ValueError:
        raise BadField(name, value, "not an integer") from None


def number(fields: list[str], i: int, name: str) -> float | None:
    """A double; None when empty or IB's unset sentinel."""
    value = _at(fields, i, name)
    if not value:
        return None
    try:
        x = float(value)
    except ValueError:
        raise BadField(name, value, "not a number") from None
    return None if x >= 1.7e308 else x


def text(fields: list[str], i: int, name: str) -> str:
    return _at(fields, i, name)


def _at(fields: list[str], i: int, name: str) -> str:
    if i >= len(fields):
        raise BadField(name, None, f"missing (the message has {len(fields)} fields)")
    return fields[i]


def contract_at(fields: list[str], i: int) -> ContractRequest:
    return ContractRequest(integer(fields, i, "conId"), *(text(fields, i + k, name) for k, name in enumerate(
        ("symbol", "secType", "lastTradeDateOrContractMonth", "strike", "right", "multiplier", "exchange",
         "primaryExchange", "currency", "localSymbol", "tradingClass"), start=1)))  # fmt: skip


def place_order(fields: list[str]) -> PlaceOrder:
    # [3, orderId, contract x12, secIdType, secId, action, totalQuantity, orderType, lmtPrice, auxPrice, tif,
    #  ocaGroup, account, openClose, origin, orderRef, transmit, ...]
    quantity = number(fields, 17, "totalQuantity")
    return PlaceOrder(
        order_id=integer(fields, 1, "orderId"),
        contract=contract_at(fields, 2),
        action=text(fields, 16, "action"),
        quantity=0.0 if quantity is None else quantity,
        order_type=text(fields, 18, "orderType"),
        limit_price=number(fields, 19, "lmtPrice"),
        tif=text(fields, 21, "tif"),
        account=text(fields, 23, "account"),
        order_ref=text(fields, 26, "orderRef"),
    )


def market_data(fields: list[str]) -> MarketDataRequest:
    # [1, 11, reqId, contract x12, deltaNeutral flag (+3 when set), genericTickList, snapshot, regulatory, options]
    at = 16 + (3 if text(fields, 15, "deltaNeutralContract") == "1" else 0)
    return MarketDataRequest(integer(fields, 2, "reqId"), contract_at(fields, 3), text(fields, at, "genericTickList"),
                             text(fields, at + 1, "snapshot") == "1")  # fmt: skip
