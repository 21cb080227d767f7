"""Orders in flight: sending, retrying and asking, until the venue has answered.

The client order id is the idempotency key, so a resend is only ever made when the venue has said it
does not know the order. Transient failures (disconnect, pacing) are retried with backoff and jitter,
bounded; permanent ones fail the order with the reason; an unknown outcome (no answer in time, an
exception no error class covers) leads to a status query, never a blind resend. While the connection is
known to be down nothing is sent and no attempt is used: the reconnect's reconciliation sends again.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from mypy_extensions import mypyc_attr

from alluse.brokers.base import Broker, VenueOrder
from alluse.common.clock import Clock, TimerHandle
from alluse.common.metrics import LatencyHistogram
from alluse.execution.config import ExecutionConfig
from alluse.execution.recording import OrderRecorder
from alluse.execution.state import OmsCounters, OrderBook
from alluse.model import Order, OrderStatus
from alluse.model.errors import ErrorClass, classify_exception
from alluse.model.events import EventKind, OrderEvent

log = logging.getLogger("alluse.oms")


@dataclass(slots=True)
class _InFlight:
    """An order sent but not yet heard of: how often it was sent and what it waits for."""

    attempts: int = 0
    timer: TimerHandle | None = None
    parked: bool = False  # waiting for the connection to come back
    failed_queries: int = 0  # status queries that raised while connected (asked again after a backoff)
    throttled: int = 0  # sends the venue refused for its request rate (they use no attempt)
    last_error: str = ""  # what the last failed send raised: the reason says it if the order is given up


def _ignore_event(event: OrderEvent) -> None:
    raise RuntimeError("dispatcher used before the order manager wired it")


def _ignore_sync(order: Order, venue: VenueOrder) -> None:
    raise RuntimeError("dispatcher used before the order manager wired it")


@mypyc_attr(allow_interpreted_subclasses=True)  # ER-1's test subclasses it to resend blindly (and be caught)
class Dispatcher:
    def __init__(
        self,
        clock: Clock,
        broker: Broker,
        config: ExecutionConfig,
        book: OrderBook,
        recorder: OrderRecorder,
        counters: OmsCounters,
        seed: int,
    ) -> None:
        self.clock = clock
        self.broker = broker
        self.config = config
        self.book = book
        self.recorder = recorder
        self.counters = counters
        self.rng = random.Random(seed)
        self.ack_timeout_ns = config.ack_timeout_ns
        self.request_latency = LatencyHistogram()  # wall time inside broker.submit: the request itself
        self.waiting: dict[str, _InFlight] = {}
        self._cancel_timers: dict[str, TimerHandle] = {}  # cancels sent and not yet answered
        # wired by the order manager: a synthesised broker event (given up, cancelled), and the venue's answer
        self.apply_event: Callable[[OrderEvent], None] = _ignore_event
        self.sync: Callable[[Order, VenueOrder], None] = _ignore_sync

    def send(self, order: Order) -> None:
        coid = order.client_order_id
        flight = self.waiting.setdefault(coid, _InFlight())
        _disarm(flight)
        if not self.broker.connected:  # known down: wait for the reconnect, which resends (no attempt used)
            flight.parked = True
            return
        flight.attempts += 1
        flight.parked = False
        t0 = time.perf_counter_ns()
        try:
            self.broker.submit(order)
        except Exception as exc:  # classified, never swallowed: every outcome below is journaled or retried
            self.counters.send_errors += 1
            error = classify_exception(exc)
            log.warning("send of %s failed (%s): %s", coid, error.value, exc)
            if error is ErrorClass.TRANSIENT:
                self.retry_later(order, f"send failed: {exc}")
            elif error is ErrorClass.UNKNOWN:
                flight.last_error = f"{type(exc).__name__}: {exc}"
                self.query(order)
            else:
                self.give_up(order, f"send failed: {exc}")
            return
        finally:
            self.request_latency.observe(time.perf_counter_ns() - t0)
        if coid in self.waiting and order.status is OrderStatus.SUBMITTED:  # nothing heard yet
            flight.timer = self.clock.call_later(self.ack_timeout_ns, self._on_ack_timeout, coid, flight.attempts)

    def send_cancel(self, order: Order) -> None:
        coid = order.client_order_id
        try:
            self.broker.cancel(coid)
        except Exception as exc:
            self.counters.send_errors += 1
            if classify_exception(exc) is ErrorClass.TRANSIENT:  # not sent: the reconnect's reconciliation resends
                log.warning("cancel of %s not sent (%s); will retry after reconnect", coid, exc)
            else:  # the venue may have acted on it: ask where the order stands
                log.warning("cancel of %s failed (%s); asking the venue", coid, exc)
                self.query(order)
            return
        old = self._cancel_timers.pop(coid, None)
        if old is not None:
            old.cancel()
        self._cancel_timers[coid] = self.clock.call_later(self.ack_timeout_ns, self._on_cancel_timeout, coid)

    def _on_cancel_timeout(self, coid: str) -> None:
        """A cancel with no answer: ask, as for a submit. The venue's state is adopted; if it still works the
        order, sync sends the cancel again (and this timer with it): never pending-cancel while connected."""
        self._cancel_timers.pop(coid, None)
        order = self.book.orders.get(coid)
        if order is None or order.status is not OrderStatus.PENDING_CANCEL:
            return
        self.counters.cancel_timeouts += 1
        if self.broker.connected:  # else the reconnect's reconciliation resolves it
            self.query(order)

    def cancel(self, order: Order) -> None:
        """A cancel request the order manager has journaled: ask the venue, unless the order never left."""
        flight = self.waiting.get(order.client_order_id)
        if flight is not None and flight.attempts == 0:  # never left (parked while disconnected): nothing to ask
            self.not_at_venue(order, "not sent yet")
        else:
            self.send_cancel(order)

    def retry_later(self, order: Order, reason: str) -> None:
        coid = order.client_order_id
        flight = self.waiting.setdefault(coid, _InFlight())
        _disarm(flight)
        if flight.attempts >= self.config.max_attempts:
            self.give_up(order, f"gave up after {flight.attempts} attempts: {reason}")
            return
        if self.broker.connected:  # a disconnect does not eat attempts: the reconnect resends
            self._resend_after(order, flight, self.config.backoff_ns(flight.attempts, self.rng),
                               f"attempt {flight.attempts + 1}", reason)  # fmt: skip
        else:
            flight.parked = True

    def retry_throttled(self, order: Order, reason: str) -> None:
        """The venue refused the send for its request rate: that send is given back (it uses no attempt), and
        the order goes again after the venue's window; bounded by `max_throttled` refusals in a row."""
        coid = order.client_order_id
        flight = self.waiting.setdefault(coid, _InFlight())
        _disarm(flight)
        flight.attempts = max(0, flight.attempts - 1)
        flight.throttled += 1
        if flight.throttled > self.config.max_throttled:
            self.give_up(order, f"gave up after {flight.throttled} pacing refusals: {reason}")
            return
        if self.broker.connected:
            self._resend_after(order, flight, self.config.pacing_window_ns(self.rng), "paced: again", reason)
        else:
            flight.parked = True

    def _resend_after(self, order: Order, flight: _InFlight, delay: int, what: str, reason: str) -> None:
        """Journal the retry and send the order again in `delay` ns (under the same id)."""
        self.recorder.note(order, "RETRY", f"{what} in {delay / 1e6:.1f} ms: {reason}")
        self.counters.retries += 1
        flight.timer = self.clock.call_later(delay, self._resend, order.client_order_id)

    def not_at_venue(self, order: Order, reason: str, *, send_now: bool = False) -> None:
        """The venue says it never received the order: send it again (same id) — unless we asked to
        cancel it meanwhile, in which case there is nothing to cancel and it is closed here."""
        if order.status is OrderStatus.PENDING_CANCEL:
            self.heard(order.client_order_id)
            now = self.clock.now_ns()
            self.apply_event(OrderEvent(EventKind.CANCELED, order.client_order_id, now, reason=f"{reason}; cancelled"))
        elif order.status is OrderStatus.SUBMITTED:
            if send_now:
                self.send(order)
            else:
                self.retry_later(order, reason)

    def _resend(self, coid: str) -> None:
        order = self.book.orders.get(coid)
        if order is not None and order.status is OrderStatus.SUBMITTED and coid in self.waiting:
            self.send(order)

    def give_up(self, order: Order, reason: str) -> None:
        self.waiting.pop(order.client_order_id, None)
        self.counters.gave_up += 1
        log.error("order %s: %s", order.client_order_id, reason)
        self.apply_event(OrderEvent(EventKind.REJECTED, order.client_order_id, self.clock.now_ns(), reason=reason))

    def _on_ack_timeout(self, coid: str, attempt: int) -> None:
        flight = self.waiting.get(coid)
        order = self.book.orders.get(coid)
        if flight is None or flight.attempts != attempt or order is None:
            return
        self.counters.ack_timeouts += 1
        self.query(order)

    def query(self, order: Order) -> None:
        """Unknown outcome: ask the venue. It never got the order -> resend (same id); it did -> adopt its answer."""
        coid = order.client_order_id
        try:
            venue_order = self.broker.order_status(coid)
        except Exception as exc:
            flight = self.waiting.setdefault(coid, _InFlight())
            _disarm(flight)
            if not self.broker.connected or classify_exception(exc) is ErrorClass.TRANSIENT:
                log.warning("status query for %s failed (%s); waiting for reconnect", coid, exc)
                flight.parked = True  # the reconnect's reconciliation asks again
                return
            # connected, and the query itself failed: the venue may hold the order, so nothing is given up
            # or resent; ask again, backing off, until it answers (a counter and the log show it)
            self.counters.failed_queries += 1
            flight.failed_queries += 1
            delay = self.config.backoff_ns(min(flight.failed_queries, self.config.max_attempts), self.rng)
            log.error("status query for %s failed (%s); asking again in %.1f ms", coid, exc, delay / 1e6)
            flight.timer = self.clock.call_later(delay, self._requery, coid)
            return
        self.counters.status_queries += 1
        asked = self.waiting.get(coid)
        if asked is not None:
            asked.failed_queries = 0
        if venue_order is None:
            reason = "no answer, and the venue does not know the order"
            if asked is not None and asked.last_error:
                reason += f" (the send raised {asked.last_error})"
            self.not_at_venue(order, reason)
        else:
            self.heard(coid)
            self.sync(order, venue_order)

    def _requery(self, coid: str) -> None:
        order = self.book.orders.get(coid)
        if order is not None and coid in self.waiting and not order.status.is_terminal:
            self.query(order)

    def heard(self, coid: str) -> None:
        """The venue answered about the order: it is no longer in flight."""
        flight = self.waiting.pop(coid, None)
        if flight is not None:
            _disarm(flight)


def _disarm(flight: _InFlight) -> None:
    if flight.timer is not None:
        flight.timer.cancel()
        flight.timer = None
