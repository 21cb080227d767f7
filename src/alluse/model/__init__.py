"""The domain model every component shares: instruments, quotes, orders, fills, positions, the bad-input error.

The values are re-exported here (`from alluse.model import Order`); broker events (`model.events`), error
classes (`model.errors`), the instrument registry (`model.registry`) and the fill row format
(`model.rows`) are imported from their own modules.
"""

from alluse.model.base import CENT, FastEnum, InvalidInput, Unchecked, fast_frozen, float_decimal, to_money
from alluse.model.enums import TERMINAL_STATUSES, OrderStatus, OrderType, Right, Side, TimeInForce, TradingState
from alluse.model.instruments import (
    EXPIRY_TIME_NY,
    NICKEL,
    OPTION_TICK_BREAK,
    Equity,
    Instrument,
    Option,
    expiry_date_ns,
    expiry_ns,
    on_tick,
    parse_symbol,
    put_collateral,
    round_to_tick,
)
from alluse.model.market import Quote
from alluse.model.orders import Fill, Order, Position, check_order_fields

__all__ = [
    "CENT",
    "EXPIRY_TIME_NY",
    "NICKEL",
    "OPTION_TICK_BREAK",
    "TERMINAL_STATUSES",
    "Equity",
    "FastEnum",
    "Fill",
    "Instrument",
    "InvalidInput",
    "Option",
    "Order",
    "OrderStatus",
    "OrderType",
    "Position",
    "Quote",
    "Right",
    "Side",
    "TimeInForce",
    "TradingState",
    "Unchecked",
    "check_order_fields",
    "expiry_date_ns",
    "expiry_ns",
    "fast_frozen",
    "float_decimal",
    "on_tick",
    "parse_symbol",
    "put_collateral",
    "round_to_tick",
    "to_money",
]
