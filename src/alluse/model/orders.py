"""Orders, fills and positions, and the field checks every party applies to a new order."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from alluse.model.base import InvalidInput, fast_frozen
from alluse.model.enums import OrderStatus, OrderType, Side, TimeInForce
from alluse.model.instruments import Instrument, on_tick


def check_order_fields(order: Order, instrument: Instrument) -> None:
    """The field checks every party applies to a new order; raises InvalidInput naming the field."""
    qty = order.quantity
    if type(qty) is not int or qty <= 0:
        raise InvalidInput("quantity", qty, "must be a positive whole number")
    if not isinstance(order.side, Side):
        raise InvalidInput("side", order.side, "must be BUY or SELL")
    if not isinstance(order.time_in_force, TimeInForce):
        raise InvalidInput("time_in_force", order.time_in_force, "must be DAY, GTC or IOC")
    if order.order_type is OrderType.LIMIT:
        price = order.limit_price
        if not isinstance(price, Decimal) or not price.is_finite() or price <= 0:
            raise InvalidInput("limit_price", price, "a limit order needs a positive Decimal price")
        if not on_tick(instrument, price):
            raise InvalidInput("limit_price", price, f"not on the tick {instrument.tick_size(price)}")
    elif order.order_type is OrderType.MARKET:
        if order.limit_price is not None:
            raise InvalidInput("limit_price", order.limit_price, "a market order has no limit price")
    else:
        raise InvalidInput("order_type", order.order_type, "must be MARKET or LIMIT")


@dataclass(slots=True)
class Order:
    client_order_id: str
    account: str
    instrument_id: str
    side: Side
    quantity: int
    order_type: OrderType = OrderType.LIMIT
    limit_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.DAY
    status: OrderStatus = OrderStatus.INITIALIZED
    filled_qty: int = 0
    avg_fill_price: Decimal = Decimal(0)
    venue_order_id: str | None = None
    ts_created: int = 0
    ts_last: int = 0
    reason: str = ""
    tag: str = ""  # free text for the strategy (e.g. "open", "close", "roll")

    @property
    def remaining(self) -> int:
        return self.quantity - self.filled_qty


@fast_frozen
@dataclass(slots=True, frozen=True)
class Fill:
    client_order_id: str
    account: str
    instrument_id: str
    side: Side
    quantity: int
    price: Decimal
    commission: Decimal
    ts_event: int
    fill_id: str
    liquidity: str = "T"  # T taker, M maker, X expiry/assignment


@dataclass(slots=True)
class Position:
    account: str
    instrument_id: str
    quantity: int = 0  # signed: short positions are negative
    avg_cost: Decimal = Decimal(0)  # per unit price (not multiplied)
    realized_pnl: Decimal = Decimal(0)
    multiplier: int = 1
