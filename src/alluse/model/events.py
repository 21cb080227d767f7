"""What a broker tells the order manager. Brokers emit these; only the order manager applies them."""

from __future__ import annotations

from dataclasses import dataclass

from alluse.model.base import FastEnum, fast_frozen
from alluse.model.enums import OrderStatus
from alluse.model.errors import ErrorClass
from alluse.model.orders import Fill


class EventKind(FastEnum):
    ACCEPTED = "ACCEPTED"  # venue acknowledged the order
    REJECTED = "REJECTED"  # venue refused it (reason says why)
    FILL = "FILL"  # a partial or full execution (fill carries it)
    CANCELED = "CANCELED"  # order is no longer working (cancel request, IOC remainder)
    CANCEL_REJECTED = "CANCEL_REJECTED"  # cancel refused (e.g. already filled); order keeps working
    EXPIRED = "EXPIRED"  # DAY order reached the end of its session


# a final status a venue reports for an order, as the event that ends the order so (a fill ends it by its fills)
FINAL_EVENT_OF_STATUS = {
    OrderStatus.CANCELED: EventKind.CANCELED,
    OrderStatus.EXPIRED: EventKind.EXPIRED,
    OrderStatus.REJECTED: EventKind.REJECTED,
}


@fast_frozen
@dataclass(slots=True, frozen=True)
class OrderEvent:
    kind: EventKind
    client_order_id: str
    ts_event: int
    venue_order_id: str | None = None
    reason: str = ""
    fill: Fill | None = None
    # on REJECTED: the broker's classification of its own reject (pacing is TRANSIENT, a bad
    # contract PERMANENT); None elsewhere
    error: ErrorClass | None = None


@dataclass(slots=True, frozen=True)
class SettlementEvent:
    """Position changes that no order caused: option expiry worthless, assignment, exercise.

    Expressed as fills (liquidity "X", client_order_id naming the settlement) so that the
    portfolio and the journal account for them exactly like executions.
    """

    account: str
    reason: str
    fills: tuple[Fill, ...]
    ts_event: int
