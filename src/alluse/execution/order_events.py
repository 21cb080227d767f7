"""What the broker says, applied: every order event and settlement goes through the state machine and the
journal, and only then reaches the ledger, execution quality and the bus.

Events are checked before anything reads them: a fill must match its order and be sane money (a bad one is
refused, counted and logged), a fill seen before is ignored, an event whose effect the order already shows
(a duplicate, an ack overtaken by a fill) changes nothing, and an event for an unknown order starts a
reconciliation. Order latencies are wall time from the submit (what the process and venue really took, at
any clock speed).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from decimal import Decimal

from alluse.brokers.base import DUPLICATE_ORDER_REASON
from alluse.common.bus import TOPIC_FILL, TOPIC_ORDER_EVENT, MessageBus
from alluse.common.clock import Clock
from alluse.common.metrics import LatencyHistogram
from alluse.execution import fsm
from alluse.execution.dispatch import Dispatcher
from alluse.execution.recording import OrderRecorder
from alluse.execution.state import OmsCounters, OrderBook
from alluse.model import Order, OrderStatus, Side, Unchecked
from alluse.model.errors import ErrorClass
from alluse.model.events import EventKind, OrderEvent, SettlementEvent
from alluse.portfolio import ExecutionQuality, Ledger

log = logging.getLogger("alluse.oms")

LIQUIDITY = ("T", "M", "X")  # taker, maker, expiry/assignment (model.Fill)
OUTCOMES = (OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED)

_TRIGGER_OF = {
    EventKind.ACCEPTED: fsm.Trigger.ACCEPT,
    EventKind.REJECTED: fsm.Trigger.REJECT,
    EventKind.FILL: fsm.Trigger.FILL,
    EventKind.CANCELED: fsm.Trigger.CANCELED,
    EventKind.CANCEL_REJECTED: fsm.Trigger.CANCEL_REJECTED,
    EventKind.EXPIRED: fsm.Trigger.EXPIRE,
}


def fill_problem(fill: Unchecked, order: Order | None = None) -> str:
    """Why a fill from the broker cannot be booked ("" if it can): it must match its order, be sane money
    and have every field the journal stores of the type it stores. Read unchecked (model.Unchecked): it
    comes from broker code, and this is where a bad field is named."""
    if type(fill.quantity) is not int or fill.quantity <= 0:
        return f"quantity={fill.quantity!r}: not a positive whole number"
    for name, value in (("price", fill.price), ("commission", fill.commission)):
        if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
            return f"{name}={value!r}: not a finite, non-negative Decimal"
    for name in ("fill_id", "client_order_id", "account", "instrument_id"):
        value = getattr(fill, name)
        if type(value) is not str or not value:
            return f"{name}={value!r}: not a non-empty string"
    if fill.liquidity not in LIQUIDITY:
        return f"liquidity={fill.liquidity!r}: not one of {', '.join(LIQUIDITY)}"
    if type(fill.ts_event) is not int or fill.ts_event < 0:
        return f"ts_event={fill.ts_event!r}: not a non-negative whole number of ns"
    if not isinstance(fill.side, Side):
        return f"side={fill.side!r}: not BUY or SELL"
    if order is not None and (
        fill.client_order_id != order.client_order_id
        or fill.account != order.account
        or fill.instrument_id != order.instrument_id
        or fill.side is not order.side
    ):
        for name in ("client_order_id", "account", "instrument_id", "side"):
            if getattr(fill, name) != getattr(order, name):
                return f"{name}={getattr(fill, name)!r} does not match the order's {getattr(order, name)!r}"
    return ""


def _no_reconcile() -> None:
    raise RuntimeError("event handler used before the order manager wired it")


class OrderEventHandler:
    def __init__(
        self,
        clock: Clock,
        bus: MessageBus,
        book: OrderBook,
        recorder: OrderRecorder,
        dispatcher: Dispatcher,
        ledger: Ledger,
        quality: ExecutionQuality,
        counters: OmsCounters,
        simulated_venue: bool = False,
    ) -> None:
        self.clock = clock
        self.simulated_venue = simulated_venue
        self.bus = bus
        self.book = book
        self.recorder = recorder
        self.dispatcher = dispatcher
        self.ledger = ledger
        self.quality = quality
        self.counters = counters
        self.outcomes: dict[OrderStatus, int] = {s: 0 for s in OUTCOMES}  # orders that ended so, this process
        self.ack_latency = LatencyHistogram()  # submit -> ACCEPTED heard, in the latency clock
        self.fill_latency = LatencyHistogram()  # submit -> the fill completing the order heard, likewise
        self.schedule_reconcile: Callable[[], None] = _no_reconcile  # wired by the order manager
        # a settlement heard before recovery read the journal waits for it: the ledger could not yet tell a fill
        # the journal already holds (a venue that restarted behind us settles an expiry again)
        self.recovered = False
        self._early_settlements: list[SettlementEvent] = []

    def latency_now(self) -> int:
        """The clock latencies are measured in: a real venue's in wall time (what it and the process really
        took, at any --speed); a simulated one's in the clock its latencies are played on."""
        return self.clock.now_ns() if self.simulated_venue else time.perf_counter_ns()

    def on_order_event(self, event: OrderEvent) -> None:
        coid = event.client_order_id
        order = self.book.orders.get(coid)
        if order is None:
            self.counters.unknown_order_events += 1
            log.warning("event %s for unknown order %s: reconciling", event.kind.value, coid)
            self.schedule_reconcile()
            return
        if event.kind is EventKind.REJECTED:
            if event.reason == DUPLICATE_ORDER_REASON:
                self.counters.venue_duplicate_refusals += 1  # refers to a resend; the original keeps working
                log.warning("venue refused a resend of %s as a duplicate", coid)
                return
            if event.error is ErrorClass.TRANSIENT and order.status is OrderStatus.SUBMITTED:
                self.counters.transient_rejects += 1
                self.dispatcher.retry_later(order, event.reason)
                return
            if event.error is ErrorClass.THROTTLED and order.status is OrderStatus.SUBMITTED:
                self.counters.throttled_rejects += 1
                self.dispatcher.retry_throttled(order, event.reason)
                return
        if (
            event.kind is EventKind.CANCEL_REJECTED
            and order.status is OrderStatus.PENDING_CANCEL
            and order.venue_order_id is None
        ):  # a cancel refused for an order never acknowledged: does the venue have it at all? ask
            self._cancel_refused_aside(order, event)
            self.dispatcher.query(order)
            return
        if _is_redundant(order, event):
            self.counters.redundant_events += 1
            log.debug("redundant %s for %s in %s", event.kind.value, coid, order.status.value)
            if event.kind is EventKind.CANCEL_REJECTED:  # the order finished first: the refusal still shows
                self._cancel_refused_aside(order, event)
            return
        fill = event.fill
        if fill is not None:
            problem = fill_problem(fill, order)  # first: the checks below read the fill's fields typed
            if problem:
                self.counters.events_refused += 1
                log.error("refused fill %r for %s: %s", getattr(fill, "fill_id", None), coid, problem)
                return
            if self.ledger.has_fill(fill.fill_id):
                self.counters.duplicate_fills += 1
                log.info("duplicate fill %s for %s ignored", fill.fill_id, coid)
                return
        self.dispatcher.heard(coid)
        trigger = _TRIGGER_OF[event.kind]
        was_terminal = order.status.is_terminal
        late = fill is not None and was_terminal
        try:
            self.recorder.apply(
                order,
                trigger,
                event.ts_event,
                reason=event.reason,
                fill=fill,
                venue_order_id=event.venue_order_id,
                intent=False,
            )
        except fsm.InvalidTransition as exc:
            self.counters.events_refused += 1
            log.log(logging.ERROR if fill is not None else logging.WARNING, "refused: %s", exc)
            return
        except Exception as error:  # the venue has it, we could not write it: stop sending, recover on restart
            self.recorder.failed(error)  # (not `exc`: compiled, that name keeps the first clause's type)
            return
        self.counters.events_applied += 1
        self.counters.late_fills += late
        if trigger is fsm.Trigger.REJECT:
            self.counters.permanent_rejects += 1
        book = self.book
        arrival = book.arrival.get(coid)  # None: submitted by an earlier session
        if not was_terminal and order.status.is_terminal and order.status in self.outcomes:
            self.outcomes[order.status] += 1
        sent_at = book.sent_at.get(coid)
        if sent_at is not None:
            if trigger is fsm.Trigger.ACCEPT:
                self.ack_latency.observe(self.latency_now() - sent_at)
            elif order.status is OrderStatus.FILLED and not was_terminal:
                self.fill_latency.observe(self.latency_now() - sent_at)
        if fill is not None:
            self.ledger.apply_fill(fill)
            if arrival is not None:
                self.quality.on_fill(fill, arrival[0], arrival[1], self.clock.now_ns())
        if trigger is fsm.Trigger.REJECT and arrival is not None:
            self.quality.on_rejected()
        if order.status.is_terminal:
            book.open.pop(coid, None)
            book.sent_at.pop(coid, None)
            if book.arrival.pop(coid, None) is not None:
                self.quality.on_final(order.quantity, order.filled_qty)
        self.bus.publish(TOPIC_ORDER_EVENT, (order, event))
        if fill is not None:
            self.bus.publish(TOPIC_FILL, fill)
        if (
            trigger is fsm.Trigger.CANCEL_REJECTED
            and order.status is OrderStatus.SUBMITTED
            and coid not in self.dispatcher.waiting
        ):
            self.dispatcher.query(order)  # a cancel refused for an order never acknowledged: does the venue have it?

    def _cancel_refused_aside(self, order: Order, event: OrderEvent) -> None:
        """A refused cancel that changes no state here (the order finished first, or was never acknowledged) is
        journaled as a note and published all the same: the refusal shows whichever way round the venue's
        answers came (after the fill, or before the acknowledgement), as it does when it changes the state."""
        self.recorder.note(order, "CANCEL_REJECTED", event.reason)
        self.bus.publish(TOPIC_ORDER_EVENT, (order, event))

    def after_recovery(self) -> None:
        """The journal is read and the ledger replayed: the settlements that came before are applied now."""
        self.recovered = True
        early, self._early_settlements = self._early_settlements, []
        for event in early:
            self.on_settlement(event)

    def on_settlement(self, event: SettlementEvent) -> None:
        if not self.recovered:
            log.info("settlement on %s (%s) before recovery: applied after it", event.account, event.reason)
            self._early_settlements.append(event)
            return
        # one per fill id, even if the broker repeats one inside the event: a duplicate row would make
        # the group commit that carries it fail, and every journal write after it with it
        problems = [p for f in event.fills if (p := fill_problem(f))]  # first, as for an order's fill
        if problems:
            self.counters.events_refused += 1
            log.error("refused settlement on %s (%s): %s", event.account, event.reason, "; ".join(problems))
            return
        unique = {f.fill_id: f for f in event.fills if not self.ledger.has_fill(f.fill_id)}
        fresh = tuple(unique.values())
        if not fresh or not self.recorder.settlement(event.account, event.reason, fresh, event.ts_event):
            return
        for f in fresh:
            self.ledger.apply_fill(f)
            self.bus.publish(TOPIC_FILL, f)
        self.counters.settlements += 1
        log.info("settlement on %s: %s (%d fills)", event.account, event.reason, len(fresh))


def _is_redundant(order: Order, event: OrderEvent) -> bool:
    """An event whose effect the order already shows: a duplicate, or an ack overtaken by a fill."""
    kind, status = event.kind, order.status
    if kind is EventKind.ACCEPTED:
        return status is not OrderStatus.SUBMITTED and status is not OrderStatus.PENDING_CANCEL
    if kind is EventKind.CANCEL_REJECTED:  # the order finished first (usually: it filled)
        return status.is_terminal
    return (kind, status) in _REDUNDANT_FINALS


_REDUNDANT_FINALS = frozenset(
    {
        (EventKind.CANCELED, OrderStatus.CANCELED),
        (EventKind.EXPIRED, OrderStatus.EXPIRED),
        (EventKind.REJECTED, OrderStatus.REJECTED),
        (EventKind.CANCELED, OrderStatus.FILLED),  # the fill won the race; the venue says so with the fill
        (EventKind.EXPIRED, OrderStatus.FILLED),
    }
)
