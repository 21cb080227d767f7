"""The one interface every broker implements (paper now, IBKR later).

A broker never touches the order manager's `Order` objects after `submit` returns: it keeps
its own book and reports everything back as events through the handlers the order manager
registers, so the order manager stays the only writer of order state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from alluse.model import Fill, Order, OrderStatus, OrderType, Side, TimeInForce
from alluse.model.events import OrderEvent, SettlementEvent

OrderEventHandler = Callable[[OrderEvent], None]
SettlementHandler = Callable[[SettlementEvent], None]

# A REJECTED event with this reason refuses a *resend*: it names the original order's
# client order id but does not apply to the original, which keeps working untouched.
DUPLICATE_ORDER_REASON = "duplicate client order id"


@dataclass(slots=True, frozen=True)
class VenueOrder:
    """The venue's view of one order, as reconciliation compares it with the journal."""

    client_order_id: str
    venue_order_id: str
    account: str
    instrument_id: str
    side: Side
    quantity: int
    order_type: OrderType
    limit_price: Decimal | None
    time_in_force: TimeInForce
    status: OrderStatus
    filled_qty: int
    ts_accepted: int
    reason: str = ""  # why it is final (rejected, cancelled, expired), if it is

    @property
    def remaining(self) -> int:
        return self.quantity - self.filled_qty


@dataclass(slots=True, frozen=True)
class AccountSnapshot:
    account: str
    cash: Decimal
    positions: dict[str, int]  # instrument id -> signed quantity; flat instruments are absent
    reserved_cash: Decimal  # collateral held for short puts (open and working)

    @property
    def free_cash(self) -> Decimal:
        return self.cash - self.reserved_cash


ConnectionHandler = Callable[[bool], None]


@runtime_checkable
class Broker(Protocol):
    """Calls are synchronous and non-blocking; answers come back as events.

    `submit`, `cancel` and the queries raise `BrokerDisconnected` (model.errors) while the
    connection is down; the request then did not reach the venue. A submit whose answer never
    comes has an unknown outcome: the order manager asks `order_status`, it never resends blindly.
    """

    # read, never set, by the order manager: a class attribute or a computed property satisfies them
    @property
    def name(self) -> str: ...

    @property
    def connected(self) -> bool: ...

    def set_event_handler(self, on_order_event: OrderEventHandler, on_settlement: SettlementHandler) -> None: ...

    def set_connection_handler(self, on_connection: ConnectionHandler) -> None:
        """`on_connection(False)` when the connection drops, `on_connection(True)` when it is back."""

    def submit(self, order: Order) -> None: ...

    def cancel(self, client_order_id: str) -> None: ...

    def open_orders(self) -> list[VenueOrder]: ...

    def order_status(self, client_order_id: str) -> VenueOrder | None:
        """The venue's record of an order in any state; None when the venue never received it."""

    def executions(self, client_order_id: str | None = None) -> list[Fill]:
        """Every fill the venue made (for one order, or all), including settlements, oldest first."""

    def account_snapshot(self, account: str) -> AccountSnapshot: ...

    def close(self) -> None:
        """Release the connection and any files; the order manager is done with the broker."""


@runtime_checkable
class FaultInjecting(Protocol):
    """A broker that injects faults on purpose (the paper venue, to rehearse a real broker's): how many of each."""

    def fault_counts(self) -> Mapping[Any, int]: ...


@runtime_checkable
class Connecting(Protocol):
    """A broker that connects over a network: started before recovery reads its book, stopped after the run."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@runtime_checkable
class HasSession(Protocol):
    """A broker whose orders belong to the session that sent them (IB: the client id). Only that session can
    still send what it was asked to, and the broker lets one connection hold a session at a time: holding it
    proves an earlier holder is gone (cluster/gateway.py re-sends a gone gateway's orders only then)."""

    @property
    def session(self) -> str | None: ...


@runtime_checkable
class Refreshable(Protocol):
    """A broker that can be asked again for every order and execution of its accounts, other sessions' too
    (IB pushes a session only its own orders' news)."""

    async def refresh_orders(self) -> None: ...


@runtime_checkable
class ReportsHealth(Protocol):
    """A broker with more to say on /health than connected or not (its session, its limits)."""

    def health(self) -> dict[str, object]: ...
