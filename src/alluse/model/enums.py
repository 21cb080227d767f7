"""The enumerations of the domain: order side, type, time in force and status, option right, trading state.

Order-path enums are `FastEnum`s with plain per-member attributes (`Side.sign`, `OrderStatus.is_open`):
they are read many times per order, where a property would be a call.
"""

from __future__ import annotations

import enum

from alluse.model.base import FastEnum


class Side(FastEnum):
    BUY = "BUY"
    SELL = "SELL"

    sign: int  # +1 buy, -1 sell: a plain attribute of each member (set below), read several times per order


class OrderType(FastEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"


class TimeInForce(FastEnum):
    DAY = "DAY"
    GTC = "GTC"
    IOC = "IOC"


class Right(FastEnum):
    CALL = "C"
    PUT = "P"


class OrderStatus(FastEnum):
    INITIALIZED = "INITIALIZED"
    DENIED = "DENIED"
    SUBMITTED = "SUBMITTED"
    ACCEPTED = "ACCEPTED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    PENDING_CANCEL = "PENDING_CANCEL"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"

    # plain attributes of each member (set below): read about ten times per order, where a property is a call
    is_terminal: bool
    is_open: bool  # working at (or on its way to) the venue


TERMINAL_STATUSES = frozenset(
    {OrderStatus.DENIED, OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
)
for _side in Side:
    _side.sign = 1 if _side is Side.BUY else -1
for _status in OrderStatus:
    _status.is_terminal = _status in TERMINAL_STATUSES
    _status.is_open = not _status.is_terminal and _status is not OrderStatus.INITIALIZED
del _side, _status


class TradingState(enum.Enum):
    """What an account may do: trade, only shrink positions, or nothing (a halt cancels working orders)."""

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"
