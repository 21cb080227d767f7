"""An order as a reader sees it: `alluse orders --json` and `alluse status` print it, and an API can answer with it.

A pydantic model, so its JSON is typed and strict: money a Decimal (a JSON string, exact), each time both ISO 8601
UTC and epoch nanoseconds (the trading clock's: simulated time in a simulated run), the full instrument id (an
option's OCC symbol), and a figure that cannot be known null, never 0.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from alluse.common.clock import ns_to_datetime
from alluse.model import Order


class View(BaseModel):
    """What the read side's models share: frozen (a view is a reading, not something to change)."""

    model_config = ConfigDict(frozen=True)


class OrderView(View):
    client_order_id: str
    account: str
    instrument_id: str  # the full OCC symbol for an option
    side: str
    order_type: str
    quantity: int
    filled_qty: int
    limit_price: Decimal | None
    avg_fill_price: Decimal | None  # null until something fills
    status: str
    time_in_force: str
    created: datetime
    created_ns: int
    updated: datetime  # the order's last change
    updated_ns: int
    venue_order_id: str | None
    tag: str
    reason: str | None

    @classmethod
    def of(cls, o: Order) -> OrderView:
        return cls(
            client_order_id=o.client_order_id, account=o.account, instrument_id=o.instrument_id, side=o.side.value,
            order_type=o.order_type.value, quantity=o.quantity, filled_qty=o.filled_qty, limit_price=o.limit_price,
            avg_fill_price=o.avg_fill_price if o.filled_qty else None, status=o.status.value,
            time_in_force=o.time_in_force.value, created=ns_to_datetime(o.ts_created), created_ns=o.ts_created,
            updated=ns_to_datetime(o.ts_last), updated_ns=o.ts_last, venue_order_id=o.venue_order_id, tag=o.tag,
            reason=o.reason or None,
        )  # fmt: skip
