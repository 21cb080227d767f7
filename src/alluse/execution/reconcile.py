"""Reconciliation: make the journal agree with the venue, at every start and after every reconnect.

Fills made while away are booked; orders the venue works but we never sent are adopted (tag "external");
in-flight orders are resolved: brought to the venue's state, or, when the venue never received them,
closed at start (the intent is stale) or sent again under the same id while running.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from alluse.brokers.base import Broker, VenueOrder
from alluse.common.clock import Clock, TimerHandle
from alluse.execution import fsm
from alluse.execution.dispatch import Dispatcher
from alluse.execution.order_events import OrderEventHandler, fill_problem
from alluse.execution.recording import OrderRecorder
from alluse.execution.state import OmsCounters, OrderBook
from alluse.model import Order, OrderStatus
from alluse.model.errors import ErrorClass
from alluse.model.events import FINAL_EVENT_OF_STATUS, EventKind, OrderEvent, SettlementEvent
from alluse.portfolio import Ledger

log = logging.getLogger("alluse.oms")


@dataclass(slots=True)
class ReconcileReport:
    fills_applied: int = 0
    adopted: list[str] = field(default_factory=list)  # working at the venue, unknown to the journal
    resolved: list[str] = field(default_factory=list)  # open in the journal, brought to the venue's state or closed
    resent: list[str] = field(default_factory=list)  # never reached the venue; sent again (same id)


class Reconciler:
    def __init__(
        self,
        clock: Clock,
        broker: Broker,
        book: OrderBook,
        recorder: OrderRecorder,
        dispatcher: Dispatcher,
        events: OrderEventHandler,
        ledger: Ledger,
        rebuild_risk: Callable[[Iterable[Order]], object],
        counters: OmsCounters,
    ) -> None:
        self.clock = clock
        self.broker = broker
        self.book = book
        self.recorder = recorder
        self.dispatcher = dispatcher
        self.events = events
        self.ledger = ledger
        self.rebuild_risk = rebuild_risk
        self.counters = counters
        self._timer: TimerHandle | None = None

    def on_connection(self, up: bool) -> None:
        if not up:
            self.counters.disconnects += 1
            log.warning("broker disconnected")
            return
        self.counters.reconnects += 1
        log.info("broker reconnected: reconciling")
        self.reconcile()

    def schedule(self) -> None:
        """Reconcile soon (once, however many events ask for it meanwhile)."""
        if self._timer is None:
            self._timer = self.clock.call_later(0, self._run)

    def _run(self) -> None:
        self._timer = None
        self.reconcile()

    def reconcile(self, *, at_start: bool = False) -> ReconcileReport:
        """At start, an order the venue never received is closed (the intent is stale); while running it is
        sent again under the same id."""
        report = ReconcileReport()
        try:
            working = {v.client_order_id: v for v in self.broker.open_orders()}
            executions = self.broker.executions()
        except Exception as exc:
            log.warning("reconciliation postponed: %s", exc)
            return report
        self.counters.reconciliations += 1
        orders = self.book.orders
        for coid, unknown in working.items():
            if coid not in orders:
                self._adopt(unknown)
                report.adopted.append(coid)
        now = self.clock.now_ns()
        on_event = self.events.on_order_event
        for f in executions:
            problem = fill_problem(f)  # before anything reads its fields typed
            if problem:
                self.counters.events_refused += 1
                log.error("reconciliation refused fill %r: %s", getattr(f, "fill_id", None), problem)
                continue
            if self.ledger.has_fill(f.fill_id):
                continue
            if f.client_order_id in orders:
                on_event(OrderEvent(EventKind.FILL, f.client_order_id, now, fill=f))
            else:
                self.events.on_settlement(SettlementEvent(f.account, "booked on reconciliation", (f,), f.ts_event))
            if self.ledger.has_fill(f.fill_id):  # booked, not refused
                report.fills_applied += 1
        for order in list(self.book.open.values()):
            coid = order.client_order_id
            venue_order = working.get(coid)
            if venue_order is None:
                try:
                    venue_order = self.broker.order_status(coid)
                except Exception as exc:  # the connection went again: the next reconnect finishes the job
                    log.warning("reconciliation interrupted at %s: %s", coid, exc)
                    break
            if venue_order is not None:
                self.dispatcher.heard(coid)
                self.sync(order, venue_order)
                report.resolved.append(coid)
            elif at_start:
                reason = "never reached the venue before the restart; not resent"
                on_event(OrderEvent(EventKind.CANCELED, coid, now, reason=reason))
                report.resolved.append(coid)
            else:
                if order.status is OrderStatus.SUBMITTED:
                    report.resent.append(coid)
                self.dispatcher.not_at_venue(order, "not at the venue after reconnect", send_now=True)
        self.rebuild_risk(self.book.open.values())  # exposure from the reconciled book, adopted orders included
        return report

    def sync(self, order: Order, venue: VenueOrder) -> None:
        """Bring our order to the venue's state: its fills first, then its status."""
        coid = order.client_order_id
        now = self.clock.now_ns()
        on_event = self.events.on_order_event
        for f in self.broker.executions(coid):
            if fill_problem(f) or not self.ledger.has_fill(f.fill_id):  # a bad fill is refused, counted, there
                on_event(OrderEvent(EventKind.FILL, coid, now, venue.venue_order_id, fill=f))
        # acknowledged after all; SUBMITTED: the venue holds it unacknowledged (IB's PendingSubmit, the cluster's
        # committed row a gateway will send): its acknowledgement is still to come
        if order.venue_order_id is None and venue.status not in (OrderStatus.REJECTED, OrderStatus.SUBMITTED):
            on_event(OrderEvent(EventKind.ACCEPTED, coid, now, venue.venue_order_id))
        final = FINAL_EVENT_OF_STATUS.get(venue.status)
        if final is not None and not order.status.is_terminal:
            error = ErrorClass.PERMANENT if final is EventKind.REJECTED else None
            on_event(OrderEvent(final, coid, now, venue.venue_order_id, reason=venue.reason, error=error))
        elif order.status is OrderStatus.PENDING_CANCEL and venue.status.is_open:
            self.dispatcher.send_cancel(order)

    def _adopt(self, venue: VenueOrder) -> None:
        """An order working at the venue that we never sent (another client, a lost journal write)."""
        order = Order(
            client_order_id=venue.client_order_id,
            account=venue.account,
            instrument_id=venue.instrument_id,
            side=venue.side,
            quantity=venue.quantity,
            order_type=venue.order_type,
            limit_price=venue.limit_price,
            time_in_force=venue.time_in_force,
            ts_created=self.clock.now_ns(),
            tag="external",
        )
        self.recorder.apply(order, fsm.Trigger.SUBMIT, order.ts_created, reason="adopted from the venue")
        self.book.orders[order.client_order_id] = order
        self.book.open[order.client_order_id] = order
        self.counters.adopted += 1
        log.warning("adopted external order %s (%s %s)", order.client_order_id, order.side.value, order.instrument_id)
