"""The gateway's record of one API order: IB's ids and statuses beside the paper venue's order.

IB numbers an order three ways: `orderId`, chosen by the client and unique per client id and session;
`permId`, assigned by IB and stable for the order's life (and across sessions); and `orderRef`, free
text the client sets and IB carries through (the adapter puts its client order id there).
"""

from __future__ import annotations

from dataclasses import dataclass

from alluse.brokers.ibkr.contracts import IbContract

# IB's order statuses, as orderStatus/openOrder carry them
PRE_SUBMITTED = "PreSubmitted"
SUBMITTED = "Submitted"
FILLED = "Filled"
CANCELLED = "Cancelled"
INACTIVE = "Inactive"
API_CANCELLED = "ApiCancelled"
DONE = frozenset({FILLED, CANCELLED, INACTIVE, API_CANCELLED})


@dataclass(slots=True)
class IbOrder:
    order_id: int
    client_id: int
    perm_id: int
    contract: IbContract
    action: str  # BUY / SELL
    quantity: int
    order_type: str  # LMT / MKT
    limit_price: float | None
    tif: str  # DAY / GTC / IOC
    account: str
    order_ref: str
    venue_id: str  # the paper venue's client order id for this order
    status: str = PRE_SUBMITTED
    filled: int = 0
    avg_fill_price: float = 0.0
    last_fill_price: float = 0.0
    completed_time: str = ""  # "YYYYMMDD HH:MM:SS UTC" once done
    completed_status: str = ""  # why it is done, in IB's words

    @property
    def remaining(self) -> int:
        return 0 if self.status in DONE else self.quantity - self.filled

    @property
    def done(self) -> bool:
        return self.status in DONE
