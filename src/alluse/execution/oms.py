"""The order manager: the only component that changes an order.

Strategies hand it orders; it validates them, runs the risk gate, journals them and only
then gives them to the broker. Everything the broker says comes back through
`on_order_event`/`on_settlement`, goes through the state machine, is journaled, and only
then reaches the ledger and the bus. A write that fails leaves the order as it was.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from alluse.brokers.base import DUPLICATE_ORDER_REASON, Broker
from alluse.bus import TOPIC_FILL, TOPIC_ORDER_DENIED, TOPIC_ORDER_EVENT, MessageBus
from alluse.clock import Clock
from alluse.execution import fsm
from alluse.execution.events import EventKind, OrderEvent, SettlementEvent
from alluse.execution.journal import Journal
from alluse.instruments import InstrumentRegistry
from alluse.model import Fill, InvalidInput, Order, OrderStatus, check_order_fields
from alluse.portfolio import ExecutionQuality, Ledger
from alluse.risk import RiskGate

log = logging.getLogger("alluse.oms")

_TRIGGER_OF = {
    EventKind.ACCEPTED: fsm.Trigger.ACCEPT,
    EventKind.REJECTED: fsm.Trigger.REJECT,
    EventKind.FILL: fsm.Trigger.FILL,
    EventKind.CANCELED: fsm.Trigger.CANCELED,
    EventKind.CANCEL_REJECTED: fsm.Trigger.CANCEL_REJECTED,
    EventKind.EXPIRED: fsm.Trigger.EXPIRE,
}


def fill_problem(fill: Fill, order: Order | None = None) -> str:
    """Why a fill from the broker cannot be booked ("" if it can): it must match its order and be sane money."""
    if type(fill.quantity) is not int or fill.quantity <= 0:
        return f"quantity={fill.quantity!r}: not a positive whole number"
    for name in ("price", "commission"):
        value = getattr(fill, name)
        if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
            return f"{name}={value!r}: not a finite, non-negative Decimal"
    if order is not None:
        for name in ("account", "instrument_id", "side"):
            if getattr(fill, name) != getattr(order, name):
                return f"{name}={getattr(fill, name)!r} does not match the order's {getattr(order, name)!r}"
    return ""


class DuplicateOrderId(InvalidInput):
    def __init__(self, client_order_id: str) -> None:
        super().__init__("client_order_id", client_order_id, "already used; an order id is never reused")


class UnknownOrder(InvalidInput):
    def __init__(self, client_order_id: str) -> None:
        super().__init__("client_order_id", client_order_id, "no such order")


@dataclass(slots=True)
class RecoveryReport:
    session: int
    orders: int
    open_orders: int
    fills: int
    resolved: list[str] = field(default_factory=list)  # open in the journal, unknown to the venue


@dataclass(slots=True)
class OmsCounters:
    submitted: int = 0
    denied: int = 0
    events_applied: int = 0
    events_refused: int = 0
    unknown_order_events: int = 0
    duplicate_fills: int = 0
    venue_duplicate_refusals: int = 0
    settlements: int = 0


class OrderManager:
    def __init__(
        self,
        *,
        clock: Clock,
        bus: MessageBus,
        registry: InstrumentRegistry,
        journal: Journal,
        broker: Broker,
        risk: RiskGate,
        ledger: Ledger,
        quality: ExecutionQuality,
        mid_of: Callable[[str], float | None],
        accounts: Iterable[str],
        id_prefix: str = "AU",
    ) -> None:
        self.clock = clock
        self.bus = bus
        self.registry = registry
        self.journal = journal
        self.broker = broker
        self.risk = risk
        self.ledger = ledger
        self.quality = quality
        self.mid_of = mid_of
        self.accounts = frozenset(accounts)
        self.id_prefix = id_prefix
        self.orders: dict[str, Order] = {}
        self._open: dict[str, Order] = {}
        self._arrival: dict[str, tuple[float | None, int]] = {}  # id -> (arrival mid, submit ts)
        self._session = 0
        self._seq = 0
        self.counters = OmsCounters()
        broker.set_event_handler(self.on_order_event, self.on_settlement)

    # ------------------------------------------------------------------ start-up

    def recover(self, initial_cash: dict[str, Decimal]) -> RecoveryReport:
        """The only start path: rebuild orders, positions and cash from the journal, then reconcile."""
        state = self.journal.load()
        now = self.clock.now_ns()
        for account, cash in initial_cash.items():
            if account not in state.deposits:
                self.journal.record_deposit(account, cash, now)
                state.deposits[account] = cash
        self.ledger.replay(state.deposits, state.fills)
        self.orders = dict(state.orders)
        self._open = {k: o for k, o in self.orders.items() if o.status.is_open}
        self._session = self.journal.start_session(now)
        report = RecoveryReport(self._session, len(self.orders), len(self._open), len(state.fills))
        report.resolved = self.reconcile()
        log.info(
            "recovered session %d: %d orders (%d open), %d fills; %d open orders resolved by reconciliation",
            report.session,
            report.orders,
            report.open_orders,
            report.fills,
            len(report.resolved),
        )
        return report

    def reconcile(self) -> list[str]:
        """Open orders the venue does not know any more are closed as CANCELED, with the reason journaled."""
        at_venue = {v.client_order_id for v in self.broker.open_orders()}
        resolved = []
        for order in list(self._open.values()):
            if order.client_order_id not in at_venue:
                event = OrderEvent(
                    EventKind.CANCELED,
                    order.client_order_id,
                    self.clock.now_ns(),
                    reason="not working at the venue on reconciliation",
                )
                self.on_order_event(event)
                resolved.append(order.client_order_id)
        return resolved

    # ------------------------------------------------------------------ requests

    def next_client_order_id(self) -> str:
        self._seq += 1
        return f"{self.id_prefix}{self._session:03d}-{self._seq:06d}"

    def validate(self, order: Order) -> None:
        """Input checks: a bad order is a programming or data error, refused before anything happens."""
        coid = order.client_order_id
        if not isinstance(coid, str) or not coid:
            raise InvalidInput("client_order_id", coid, "must be a non-empty string")
        if coid in self.orders:
            raise DuplicateOrderId(coid)
        if order.status is not OrderStatus.INITIALIZED:
            raise InvalidInput("status", order.status.value, "a new order must be INITIALIZED")
        if order.account not in self.accounts:
            raise InvalidInput("account", order.account, f"unknown account (known: {', '.join(sorted(self.accounts))})")
        instrument = self.registry.get(order.instrument_id)
        if instrument is None:
            raise InvalidInput("instrument_id", order.instrument_id, "unknown instrument")
        if order.filled_qty or order.avg_fill_price or order.venue_order_id is not None:
            raise InvalidInput("filled_qty", order.filled_qty, "a new order carries no fills or venue id")
        check_order_fields(order, instrument)

    def submit(self, order: Order) -> Order:
        """Risk, journal, broker — in that order. Returns the order (DENIED carries the reason)."""
        self.validate(order)
        now = self.clock.now_ns()
        arrival_mid = self.mid_of(order.instrument_id)
        order.ts_created = now
        denial = self.risk.check(order)
        if denial is not None:
            self._transition(order, fsm.Trigger.DENY, now, reason=str(denial), new=True)
            self.counters.denied += 1
            log.info("order %s denied: %s", order.client_order_id, denial)
            self.bus.publish(TOPIC_ORDER_DENIED, order)
            return order
        self._transition(order, fsm.Trigger.SUBMIT, now, new=True)  # journaled before the broker sees it
        self._open[order.client_order_id] = order
        self._arrival[order.client_order_id] = (arrival_mid, now)
        self.counters.submitted += 1
        self.quality.on_sent()
        self.broker.submit(order)
        return order

    def cancel(self, client_order_id: str) -> bool:
        """Ask the venue to cancel. False when the order is already final (nothing to cancel)."""
        order = self.orders.get(client_order_id)
        if order is None:
            raise UnknownOrder(client_order_id)
        if order.status.is_terminal or order.status is OrderStatus.PENDING_CANCEL:
            return False
        self._transition(order, fsm.Trigger.CANCEL_REQUEST, self.clock.now_ns())
        self.broker.cancel(client_order_id)
        return True

    def cancel_all(self, account: str | None = None) -> int:
        return sum(self.cancel(o.client_order_id) for o in self.open_orders(account))

    # ------------------------------------------------------------------ broker events

    def on_order_event(self, event: OrderEvent) -> None:
        order = self.orders.get(event.client_order_id)
        if order is None:
            self.counters.unknown_order_events += 1
            log.warning("event %s for unknown order %s ignored", event.kind.value, event.client_order_id)
            return
        if event.kind is EventKind.REJECTED and event.reason == DUPLICATE_ORDER_REASON:
            self.counters.venue_duplicate_refusals += 1  # refers to a resend; the original keeps working
            log.warning("venue refused a resend of %s as a duplicate", order.client_order_id)
            return
        fill = event.fill
        if fill is not None:
            if self.ledger.has_fill(fill.fill_id):
                self.counters.duplicate_fills += 1
                log.warning("duplicate fill %s for %s ignored", fill.fill_id, order.client_order_id)
                return
            problem = fill_problem(fill, order)
            if problem:
                self.counters.events_refused += 1
                log.error("refused fill %s for %s: %s", fill.fill_id, order.client_order_id, problem)
                return
        trigger = _TRIGGER_OF[event.kind]
        try:
            self._transition(
                order, trigger, event.ts_event, reason=event.reason, fill=fill, venue_order_id=event.venue_order_id
            )
        except fsm.InvalidTransition as exc:
            self.counters.events_refused += 1
            level = logging.ERROR if fill is not None else logging.WARNING
            log.log(level, "refused: %s", exc)
            return
        self.counters.events_applied += 1
        arrival = self._arrival.get(order.client_order_id)  # None: submitted by an earlier session
        if fill is not None:
            self.ledger.apply_fill(fill)
            if arrival is not None:
                self.quality.on_fill(fill, arrival[0], arrival[1], self.clock.now_ns())
        if trigger is fsm.Trigger.REJECT and arrival is not None:
            self.quality.on_rejected()
        if order.status.is_terminal:
            self._open.pop(order.client_order_id, None)
            if self._arrival.pop(order.client_order_id, None) is not None:
                self.quality.on_final(order.quantity, order.filled_qty)
        self.bus.publish(TOPIC_ORDER_EVENT, (order, event))
        if fill is not None:
            self.bus.publish(TOPIC_FILL, fill)

    def on_settlement(self, event: SettlementEvent) -> None:
        fresh = tuple(f for f in event.fills if not self.ledger.has_fill(f.fill_id))
        problems = [p for f in fresh if (p := fill_problem(f))]
        if problems:
            self.counters.events_refused += 1
            log.error("refused settlement on %s (%s): %s", event.account, event.reason, "; ".join(problems))
            return
        if not fresh:
            return
        self.journal.record_settlement(event.account, event.reason, fresh, event.ts_event)
        for f in fresh:
            self.ledger.apply_fill(f)
            self.bus.publish(TOPIC_FILL, f)
        self.counters.settlements += 1
        log.info("settlement on %s: %s (%d fills)", event.account, event.reason, len(fresh))

    # ------------------------------------------------------------------ state changes

    def _transition(
        self,
        order: Order,
        trigger: fsm.Trigger,
        ts: int,
        *,
        reason: str = "",
        fill: Fill | None = None,
        venue_order_id: str | None = None,
        new: bool = False,
    ) -> None:
        """Apply one transition and journal it; if the journal write fails the order is restored."""
        before = copy.copy(order)
        fsm.apply(order, trigger, ts, fill=fill, reason=reason)
        if venue_order_id and not order.venue_order_id:
            order.venue_order_id = venue_order_id
        try:
            self.journal.record_order(order, trigger.value, ts, reason, fill)
        except Exception:
            for name in Order.__slots__:
                setattr(order, name, getattr(before, name))
            raise
        if new:
            self.orders[order.client_order_id] = order

    # ------------------------------------------------------------------ queries

    def get(self, client_order_id: str) -> Order | None:
        return self.orders.get(client_order_id)

    def open_orders(self, account: str | None = None) -> list[Order]:
        return [o for o in self._open.values() if account is None or o.account == account]
