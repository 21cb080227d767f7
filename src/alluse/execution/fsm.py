"""The order state machine: one transition table, applied in one place.

Every change to an order's status goes through `apply`, which looks the (status, trigger)
pair up in `TRANSITIONS`. A pair that is not in the table is refused with
`InvalidTransition` and the order is left exactly as it was — a late duplicate ack or a
fill for a cancelled order must never rewrite history.

Races the table allows on purpose (they happen at real venues):
- a fill before the ack (SUBMITTED -> PARTIALLY_FILLED/FILLED);
- a fill after a cancel request (PENDING_CANCEL stays PENDING_CANCEL or becomes FILLED);
- an ack arriving after a cancel request (PENDING_CANCEL stays);
- a cancel refused because the order already filled (PENDING_CANCEL -> back to working);
- an expiry while a cancel is pending;
- a fill that crossed the cancel (or expiry) confirmation on the wire: the order stays
  CANCELED/EXPIRED with the fill booked, or becomes FILLED if the fill completes it. The
  cancel was a request; the fill is real money (NautilusTrader allows the same).
"""

from __future__ import annotations

from decimal import Decimal

from alluse.model import Fill, Order, OrderStatus
from alluse.model.base import FastEnum

S = OrderStatus


class Trigger(FastEnum):
    DENY = "DENY"  # refused by risk before leaving
    SUBMIT = "SUBMIT"  # journaled and handed to the broker
    ACCEPT = "ACCEPTED"
    REJECT = "REJECTED"
    FILL = "FILL"
    CANCEL_REQUEST = "CANCEL_REQUEST"
    CANCELED = "CANCELED"
    CANCEL_REJECTED = "CANCEL_REJECTED"
    EXPIRE = "EXPIRED"


# FILL maps to the status after a *partial* fill; a fill that completes the order always
# leads to FILLED. CANCEL_REJECTED maps to None: back to the working status the order had.
TRANSITIONS: dict[tuple[OrderStatus, Trigger], OrderStatus | None] = {
    (S.INITIALIZED, Trigger.DENY): S.DENIED,
    (S.INITIALIZED, Trigger.SUBMIT): S.SUBMITTED,
    (S.SUBMITTED, Trigger.ACCEPT): S.ACCEPTED,
    (S.SUBMITTED, Trigger.REJECT): S.REJECTED,
    (S.SUBMITTED, Trigger.FILL): S.PARTIALLY_FILLED,
    (S.SUBMITTED, Trigger.CANCEL_REQUEST): S.PENDING_CANCEL,
    (S.SUBMITTED, Trigger.CANCELED): S.CANCELED,
    (S.SUBMITTED, Trigger.EXPIRE): S.EXPIRED,
    (S.ACCEPTED, Trigger.FILL): S.PARTIALLY_FILLED,
    (S.ACCEPTED, Trigger.CANCEL_REQUEST): S.PENDING_CANCEL,
    (S.ACCEPTED, Trigger.CANCELED): S.CANCELED,
    (S.ACCEPTED, Trigger.EXPIRE): S.EXPIRED,
    (S.PARTIALLY_FILLED, Trigger.FILL): S.PARTIALLY_FILLED,
    (S.PARTIALLY_FILLED, Trigger.CANCEL_REQUEST): S.PENDING_CANCEL,
    (S.PARTIALLY_FILLED, Trigger.CANCELED): S.CANCELED,
    (S.PARTIALLY_FILLED, Trigger.EXPIRE): S.EXPIRED,
    (S.PENDING_CANCEL, Trigger.ACCEPT): S.PENDING_CANCEL,
    (S.PENDING_CANCEL, Trigger.FILL): S.PENDING_CANCEL,
    (S.PENDING_CANCEL, Trigger.CANCELED): S.CANCELED,
    (S.PENDING_CANCEL, Trigger.CANCEL_REJECTED): None,
    (S.PENDING_CANCEL, Trigger.EXPIRE): S.EXPIRED,
    (S.PENDING_CANCEL, Trigger.REJECT): S.REJECTED,
    (S.CANCELED, Trigger.FILL): S.CANCELED,
    (S.EXPIRED, Trigger.FILL): S.EXPIRED,
}


_NO_TRANSITION = OrderStatus.INITIALIZED  # never a transition's target


class InvalidTransition(Exception):
    def __init__(self, order: Order, trigger: Trigger, reason: str) -> None:
        self.client_order_id = order.client_order_id
        self.status = order.status
        self.trigger = trigger
        super().__init__(f"order {order.client_order_id}: {trigger.value} refused in {order.status.value}: {reason}")


def next_status(order: Order, trigger: Trigger, fill_qty: int = 0) -> OrderStatus:
    """The status `trigger` leads to, or InvalidTransition. Pure: the order is not touched."""
    target = TRANSITIONS.get((order.status, trigger), _NO_TRANSITION)
    if target is _NO_TRANSITION:
        raise InvalidTransition(order, trigger, "no such transition")
    if trigger is Trigger.FILL:
        if fill_qty <= 0:
            raise InvalidTransition(order, trigger, f"fill quantity {fill_qty} is not positive")
        if fill_qty > order.quantity - order.filled_qty:
            raise InvalidTransition(
                order, trigger, f"fill of {fill_qty} exceeds remaining {order.quantity - order.filled_qty}"
            )
        if fill_qty == order.quantity - order.filled_qty:
            return S.FILLED
    if target is None:  # cancel refused: back to the working status
        return S.PARTIALLY_FILLED if order.filled_qty else S.ACCEPTED
    return target


def apply(order: Order, trigger: Trigger, ts_ns: int, fill: Fill | None = None, reason: str = "") -> OrderStatus:
    """Move `order` by `trigger`; all-or-nothing. Returns the previous status."""
    qty = fill.quantity if fill is not None else 0
    if trigger is Trigger.FILL and fill is None:
        raise InvalidTransition(order, trigger, "fill event without a fill")
    new = next_status(order, trigger, qty)
    previous = order.status
    if fill is not None:
        filled = order.filled_qty
        total = filled + qty
        if filled:
            order.avg_fill_price = (order.avg_fill_price * filled + fill.price * qty) / Decimal(total)
        else:  # the first fill's price, without a Decimal division (+ 0: a -0 price averages to 0)
            order.avg_fill_price = fill.price + 0
        order.filled_qty = total
    order.status = new
    order.ts_last = ts_ns
    if reason:
        order.reason = reason
    return previous
