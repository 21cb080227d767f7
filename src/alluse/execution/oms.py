"""The order manager: the only component that changes an order.

Strategies hand it orders; it validates them, runs the risk gate, journals them and only
then gives them to the broker. Everything the broker says comes back through
`on_order_event`/`on_settlement`, goes through the state machine, is journaled, and only
then reaches the ledger and the bus. A write that fails leaves the order as it was.

Reliability (ARCHITECTURE rules 2-4): the client order id is the idempotency key, so a
resend is only ever made when the venue has said it does not know the order. Transient
failures (disconnect, pacing) are retried with backoff and jitter, bounded; permanent ones
fail the order with the reason; an unknown outcome (no answer in time) leads to a status
query. After every reconnect, and at every start, `reconcile` compares the journal with the
venue: fills made while away are booked, orders the venue works but we never sent are
adopted (tag "external"), in-flight orders are resolved.

Monitoring: order latencies are measured in the trading clock's time, not wall time. The
venue's latency is simulated in clock time (the paper venue answers `ack_latency_ms` later on
the clock), so clock time is what a strategy waiting for its fill experiences, and it stays
right when the clock runs faster than real time or is a TestClock.
"""

from __future__ import annotations

import logging
import operator
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from mypy_extensions import mypyc_attr

from alluse.brokers.base import DUPLICATE_ORDER_REASON, Broker, VenueOrder
from alluse.common.bus import TOPIC_FILL, TOPIC_ORDER_DENIED, TOPIC_ORDER_EVENT, MessageBus
from alluse.common.clock import Clock, TimerHandle
from alluse.common.metrics import LatencyHistogram, Metric, counter, gauge, histogram
from alluse.execution import fsm
from alluse.execution.journal import Journal
from alluse.execution.retry import RetryPolicy
from alluse.model import Fill, InvalidInput, Order, OrderStatus, Side, Unchecked, check_order_fields
from alluse.model.errors import ErrorClass, classify_exception
from alluse.model.events import EventKind, OrderEvent, SettlementEvent
from alluse.model.registry import InstrumentRegistry
from alluse.portfolio import ExecutionQuality, Ledger
from alluse.portfolio.ledger import check_deposit
from alluse.risk.gate import PreTradeCheck

log = logging.getLogger("alluse.oms")

_TRIGGER_OF = {
    EventKind.ACCEPTED: fsm.Trigger.ACCEPT,
    EventKind.REJECTED: fsm.Trigger.REJECT,
    EventKind.FILL: fsm.Trigger.FILL,
    EventKind.CANCELED: fsm.Trigger.CANCELED,
    EventKind.CANCEL_REJECTED: fsm.Trigger.CANCEL_REJECTED,
    EventKind.EXPIRED: fsm.Trigger.EXPIRE,
}


LIQUIDITY = ("T", "M", "X")  # taker, maker, expiry/assignment (model.Fill)


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


class DuplicateOrderId(InvalidInput):
    def __init__(self, client_order_id: str) -> None:
        super().__init__("client_order_id", client_order_id, "already used; an order id is never reused")


class UnknownOrder(InvalidInput):
    def __init__(self, client_order_id: Unchecked) -> None:  # whatever was asked for
        super().__init__("client_order_id", client_order_id, "no such order")


@mypyc_attr(native_class=False)
class JournalUnavailable(RuntimeError):
    """A journal write failed earlier: no new order may leave until the process restarts and recovers."""


@dataclass(slots=True)
class ReconcileReport:
    fills_applied: int = 0
    adopted: list[str] = field(default_factory=list)  # working at the venue, unknown to the journal
    resolved: list[str] = field(default_factory=list)  # open in the journal, brought to the venue's state or closed
    resent: list[str] = field(default_factory=list)  # never reached the venue; sent again (same id)


@dataclass(slots=True)
class RecoveryReport:
    session: int
    orders: int
    open_orders: int
    fills: int
    reconcile: ReconcileReport = field(default_factory=ReconcileReport)


@dataclass(slots=True)
class OmsCounters:
    submitted: int = 0
    denied: int = 0
    events_applied: int = 0
    events_refused: int = 0
    redundant_events: int = 0  # duplicates and late acks whose effect was already applied
    unknown_order_events: int = 0
    duplicate_fills: int = 0
    late_fills: int = 0  # fills that crossed a cancel/expiry confirmation
    venue_duplicate_refusals: int = 0
    settlements: int = 0
    transient_rejects: int = 0
    permanent_rejects: int = 0
    send_errors: int = 0
    retries: int = 0
    gave_up: int = 0
    ack_timeouts: int = 0
    status_queries: int = 0
    failed_queries: int = 0
    disconnects: int = 0
    reconnects: int = 0
    reconciliations: int = 0
    adopted: int = 0
    journal_failures: int = 0


@dataclass(slots=True)
class _InFlight:
    """An order sent but not yet heard of: how often it was sent and what it waits for."""

    attempts: int = 0
    timer: TimerHandle | None = None
    parked: bool = False  # waiting for the connection to come back
    failed_queries: int = 0  # status queries that raised while connected (asked again after a backoff)
    last_error: str = ""  # what the last failed send raised: the reason says it if the order is given up


@mypyc_attr(allow_interpreted_subclasses=True)  # tests subclass it to break it on purpose (ER-1 must notice)
class OrderManager:
    def __init__(
        self,
        *,
        clock: Clock,
        bus: MessageBus,
        registry: InstrumentRegistry,
        journal: Journal,
        broker: Broker,
        risk: PreTradeCheck,
        ledger: Ledger,
        quality: ExecutionQuality,
        mid_of: Callable[[str], float | None],
        accounts: Iterable[str],
        id_prefix: str = "AU",
        retry: RetryPolicy | None = None,
        seed: int = 0,
        journal_flush_ns: int = 2_000_000,
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
        self.retry = retry or RetryPolicy()
        self._rng = random.Random(seed)
        self.orders: dict[str, Order] = {}
        self._open: dict[str, Order] = {}
        self._inflight: dict[str, _InFlight] = {}
        self._arrival: dict[str, tuple[float | None, int]] = {}  # id -> (arrival mid, submit ts)
        self._sent_wall: dict[str, int] = {}  # id -> perf_counter_ns at submit (latency histograms)
        self._session = 0
        self._seq = 0
        self._reconcile_timer: TimerHandle | None = None
        self._journal_flush_ns = journal_flush_ns  # how long a broker event may wait for a group commit
        self._flush_timer: TimerHandle | None = None
        self.journal_error: str | None = None
        self.counters = OmsCounters()
        self.outcomes: dict[OrderStatus, int] = {s: 0 for s in _OUTCOMES}  # orders that ended so, this process
        self.ack_latency = LatencyHistogram()  # submit -> ACCEPTED heard, wall time
        self.fill_latency = LatencyHistogram()  # submit -> the fill completing the order heard, wall time
        self.request_latency = LatencyHistogram()  # wall time inside broker.submit: the request itself
        broker.set_event_handler(self.on_order_event, self.on_settlement)
        broker.set_connection_handler(self.on_connection)

    # ------------------------------------------------------------------ start-up

    def recover(self, initial_cash: dict[Unchecked, Unchecked]) -> RecoveryReport:
        """The only start path: rebuild orders, positions and cash from the journal, then reconcile."""
        for account, cash in initial_cash.items():  # all before any is written: a refused deposit in the
            if type(account) is not str or not account:  # journal would be replayed at every start
                raise InvalidInput("initial_cash", account, "accounts are non-empty strings")
            check_deposit(cash, f"initial_cash[{account}]")
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
        report.reconcile = self.reconcile(at_start=True)
        log.info(
            "recovered session %d: %d orders (%d open), %d fills; reconciliation: %s",
            report.session,
            report.orders,
            report.open_orders,
            report.fills,
            report.reconcile,
        )
        return report

    # ------------------------------------------------------------------ requests

    def next_client_order_id(self) -> str:
        self._seq += 1
        return f"{self.id_prefix}{self._session:03d}-{self._seq:06d}"

    def validate(self, order: Order) -> None:
        """Input checks: a bad order is a programming or data error, refused before anything happens.

        Every field is read through `raw`, typed Any: compiled, this module checks a typed field's
        type as it reads it and would raise a bare TypeError, not the InvalidInput naming the field.
        Each field is checked here, so the code after this may read them typed."""
        raw: Any = order
        coid = raw.client_order_id
        if type(coid) is not str or not coid:  # a str subclass (numpy's) would fail the journal's row check
            raise InvalidInput("client_order_id", coid, "must be a non-empty string")
        if coid in self.orders:
            raise DuplicateOrderId(coid)
        if raw.status is not OrderStatus.INITIALIZED:
            raise InvalidInput("status", raw.status, "a new order must be INITIALIZED")
        if type(raw.account) is not str or raw.account not in self.accounts:
            raise InvalidInput("account", raw.account, f"unknown account (known: {', '.join(sorted(self.accounts))})")
        instrument = self.registry.get(raw.instrument_id) if type(raw.instrument_id) is str else None
        if instrument is None:
            raise InvalidInput("instrument_id", raw.instrument_id, "unknown instrument")
        if type(raw.filled_qty) is not int or raw.filled_qty:
            raise InvalidInput("filled_qty", raw.filled_qty, "a new order carries no fills (0)")
        if not isinstance(raw.avg_fill_price, Decimal) or raw.avg_fill_price:
            raise InvalidInput("avg_fill_price", raw.avg_fill_price, "a new order carries no fills (Decimal 0)")
        if raw.venue_order_id is not None:
            raise InvalidInput("venue_order_id", raw.venue_order_id, "a new order has no venue id")
        if type(raw.tag) is not str:
            raise InvalidInput("tag", raw.tag, "must be a string")
        if type(raw.reason) is not str:
            raise InvalidInput("reason", raw.reason, "must be a string")
        check_order_fields(order, instrument)

    def submit(self, order: Order) -> Order:
        """Risk, journal, broker — in that order. Returns the order (DENIED carries the reason)."""
        self.validate(order)
        if self.journal_error is not None:
            raise JournalUnavailable(f"not sending {order.client_order_id}: {self.journal_error}")
        now = self.clock.now_ns()
        arrival_mid = self.mid_of(order.instrument_id)
        order.ts_created = now
        denial = self.risk.check(order)
        if denial is not None:
            self._journaled(order, fsm.Trigger.DENY, now, reason=str(denial), new=True)
            self.counters.denied += 1
            log.info("order %s denied: %s", order.client_order_id, denial)
            self.bus.publish(TOPIC_ORDER_DENIED, order)
            return order
        self._journaled(order, fsm.Trigger.SUBMIT, now, new=True)  # journaled before the broker sees it
        self._open[order.client_order_id] = order
        self._arrival[order.client_order_id] = (arrival_mid, now)
        self._sent_wall[order.client_order_id] = time.perf_counter_ns()
        self.counters.submitted += 1
        self.quality.on_sent()
        self._send(order)
        return order

    def cancel(self, client_order_id: Unchecked) -> bool:
        """Ask the venue to cancel. False when the order is already final (nothing to cancel)."""
        order = self.orders.get(client_order_id) if type(client_order_id) is str else None
        if order is None:
            raise UnknownOrder(client_order_id)
        if order.status.is_terminal or order.status is OrderStatus.PENDING_CANCEL:
            return False
        self._journaled(order, fsm.Trigger.CANCEL_REQUEST, self.clock.now_ns())
        flight = self._inflight.get(client_order_id)
        if flight is not None and flight.attempts == 0:  # never left (parked while disconnected): nothing to ask
            self._not_at_venue(order, "not sent yet")
        else:
            self._send_cancel(order)
        return True

    def cancel_all(self, account: Unchecked = None) -> int:
        return sum(self.cancel(o.client_order_id) for o in self.open_orders(account))

    # ------------------------------------------------------------------ sending, retrying, asking

    def _send(self, order: Order) -> None:
        coid = order.client_order_id
        flight = self._inflight.setdefault(coid, _InFlight())
        self._disarm(flight)
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
                self._retry_later(order, f"send failed: {exc}")
            elif error is ErrorClass.UNKNOWN:
                flight.last_error = f"{type(exc).__name__}: {exc}"
                self._query(order)
            else:
                self._give_up(order, f"send failed: {exc}")
            return
        finally:
            self.request_latency.observe(time.perf_counter_ns() - t0)
        if coid in self._inflight and order.status is OrderStatus.SUBMITTED:  # nothing heard yet
            flight.timer = self.clock.call_later(self.retry.ack_timeout_ns, self._on_ack_timeout, coid, flight.attempts)

    def _send_cancel(self, order: Order) -> None:
        try:
            self.broker.cancel(order.client_order_id)
        except Exception as exc:
            self.counters.send_errors += 1
            if classify_exception(exc) is ErrorClass.TRANSIENT:  # not sent: the reconnect's reconciliation resends
                log.warning("cancel of %s not sent (%s); will retry after reconnect", order.client_order_id, exc)
            else:  # the venue may have acted on it: ask where the order stands
                log.warning("cancel of %s failed (%s); asking the venue", order.client_order_id, exc)
                self._query(order)

    def _retry_later(self, order: Order, reason: str) -> None:
        coid = order.client_order_id
        flight = self._inflight.setdefault(coid, _InFlight())
        self._disarm(flight)
        if flight.attempts >= self.retry.max_attempts:
            self._give_up(order, f"gave up after {flight.attempts} attempts: {reason}")
            return
        if not self.broker.connected:
            flight.parked = True  # a disconnect does not eat attempts: reconnect resends
            return
        delay = self.retry.backoff_ns(flight.attempts, self._rng)
        self._note(order, "RETRY", f"attempt {flight.attempts + 1} in {delay / 1e6:.1f} ms: {reason}")
        self.counters.retries += 1
        flight.timer = self.clock.call_later(delay, self._resend, coid)

    def _not_at_venue(self, order: Order, reason: str, *, send_now: bool = False) -> None:
        """The venue says it never received the order: send it again (same id) — unless we asked to
        cancel it meanwhile, in which case there is nothing to cancel and it is closed here."""
        if order.status is OrderStatus.PENDING_CANCEL:
            self._heard(order.client_order_id)
            self.on_order_event(
                OrderEvent(
                    EventKind.CANCELED, order.client_order_id, self.clock.now_ns(), reason=f"{reason}; cancelled"
                )
            )
        elif order.status is OrderStatus.SUBMITTED:
            if send_now:
                self._send(order)
            else:
                self._retry_later(order, reason)

    def _resend(self, coid: str) -> None:
        order = self.orders.get(coid)
        if order is not None and order.status is OrderStatus.SUBMITTED and coid in self._inflight:
            self._send(order)

    def _give_up(self, order: Order, reason: str) -> None:
        self._inflight.pop(order.client_order_id, None)
        self.counters.gave_up += 1
        log.error("order %s: %s", order.client_order_id, reason)
        self.on_order_event(OrderEvent(EventKind.REJECTED, order.client_order_id, self.clock.now_ns(), reason=reason))

    def _on_ack_timeout(self, coid: str, attempt: int) -> None:
        flight = self._inflight.get(coid)
        order = self.orders.get(coid)
        if flight is None or flight.attempts != attempt or order is None:
            return
        self.counters.ack_timeouts += 1
        self._query(order)

    def _query(self, order: Order) -> None:
        """Unknown outcome: ask the venue. It never got the order -> resend (same id); it did -> adopt its answer."""
        coid = order.client_order_id
        try:
            venue_order = self.broker.order_status(coid)
        except Exception as exc:
            flight = self._inflight.setdefault(coid, _InFlight())
            self._disarm(flight)
            if not self.broker.connected or classify_exception(exc) is ErrorClass.TRANSIENT:
                log.warning("status query for %s failed (%s); waiting for reconnect", coid, exc)
                flight.parked = True  # the reconnect's reconciliation asks again
                return
            # connected, and the query itself failed: the venue may hold the order, so nothing is given up
            # or resent; ask again, backing off, until it answers (a counter and the log show it)
            self.counters.failed_queries += 1
            flight.failed_queries += 1
            delay = self.retry.backoff_ns(min(flight.failed_queries, self.retry.max_attempts), self._rng)
            log.error("status query for %s failed (%s); asking again in %.1f ms", coid, exc, delay / 1e6)
            flight.timer = self.clock.call_later(delay, self._requery, coid)
            return
        self.counters.status_queries += 1
        waiting = self._inflight.get(coid)
        if waiting is not None:
            waiting.failed_queries = 0
        if venue_order is None:
            reason = "no answer, and the venue does not know the order"
            if waiting is not None and waiting.last_error:
                reason += f" (the send raised {waiting.last_error})"
            self._not_at_venue(order, reason)
        else:
            self._heard(coid)
            self._sync(order, venue_order)

    def _requery(self, coid: str) -> None:
        order = self.orders.get(coid)
        if order is not None and coid in self._inflight and not order.status.is_terminal:
            self._query(order)

    def _sync(self, order: Order, venue: VenueOrder) -> None:
        """Bring our order to the venue's state: its fills first, then its status."""
        coid = order.client_order_id
        now = self.clock.now_ns()
        for f in self.broker.executions(coid):
            if fill_problem(f) or not self.ledger.has_fill(f.fill_id):  # a bad fill is refused, counted, there
                self.on_order_event(OrderEvent(EventKind.FILL, coid, now, venue.venue_order_id, fill=f))
        if order.venue_order_id is None and venue.status is not OrderStatus.REJECTED:  # acknowledged after all
            self.on_order_event(OrderEvent(EventKind.ACCEPTED, coid, now, venue.venue_order_id))
        final = _FINAL_EVENT.get(venue.status)
        if final is not None and not order.status.is_terminal:
            error = ErrorClass.PERMANENT if final is EventKind.REJECTED else None
            self.on_order_event(OrderEvent(final, coid, now, venue.venue_order_id, reason=venue.reason, error=error))
        elif order.status is OrderStatus.PENDING_CANCEL and venue.status.is_open:
            self._send_cancel(order)

    def _heard(self, coid: str) -> None:
        flight = self._inflight.pop(coid, None)
        if flight is not None:
            self._disarm(flight)

    @staticmethod
    def _disarm(flight: _InFlight) -> None:
        if flight.timer is not None:
            flight.timer.cancel()
            flight.timer = None

    # ------------------------------------------------------------------ reconciliation

    def on_connection(self, up: bool) -> None:
        if not up:
            self.counters.disconnects += 1
            log.warning("broker disconnected")
            return
        self.counters.reconnects += 1
        log.info("broker reconnected: reconciling")
        self.reconcile()

    def reconcile(self, *, at_start: bool = False) -> ReconcileReport:
        """Make the journal agree with the venue. At start, an order the venue never received is
        closed (the intent is stale); while running it is sent again under the same id."""
        report = ReconcileReport()
        try:
            working = {v.client_order_id: v for v in self.broker.open_orders()}
            executions = self.broker.executions()
        except Exception as exc:
            log.warning("reconciliation postponed: %s", exc)
            return report
        self.counters.reconciliations += 1
        for coid, unknown in working.items():
            if coid not in self.orders:
                self._adopt(unknown)
                report.adopted.append(coid)
        now = self.clock.now_ns()
        for f in executions:
            problem = fill_problem(f)  # before anything reads its fields typed
            if problem:
                self.counters.events_refused += 1
                log.error("reconciliation refused fill %r: %s", getattr(f, "fill_id", None), problem)
                continue
            if self.ledger.has_fill(f.fill_id):
                continue
            if f.client_order_id in self.orders:
                self.on_order_event(OrderEvent(EventKind.FILL, f.client_order_id, now, fill=f))
            else:
                self.on_settlement(SettlementEvent(f.account, "booked on reconciliation", (f,), f.ts_event))
            if self.ledger.has_fill(f.fill_id):  # booked, not refused
                report.fills_applied += 1
        for order in list(self._open.values()):
            coid = order.client_order_id
            venue_order = working.get(coid)
            if venue_order is None:
                try:
                    venue_order = self.broker.order_status(coid)
                except Exception as exc:  # the connection went again: the next reconnect finishes the job
                    log.warning("reconciliation interrupted at %s: %s", coid, exc)
                    break
            if venue_order is not None:
                self._heard(coid)
                self._sync(order, venue_order)
                report.resolved.append(coid)
            elif at_start:
                self.on_order_event(
                    OrderEvent(
                        EventKind.CANCELED, coid, now, reason="never reached the venue before the restart; not resent"
                    )
                )
                report.resolved.append(coid)
            else:
                if order.status is OrderStatus.SUBMITTED:
                    report.resent.append(coid)
                self._not_at_venue(order, "not at the venue after reconnect", send_now=True)
        self.risk.rebuild()  # exposure from the reconciled book, adopted orders included
        return report

    def _schedule_reconcile(self) -> None:
        if self._reconcile_timer is None:

            def run() -> None:
                self._reconcile_timer = None
                self.reconcile()

            self._reconcile_timer = self.clock.call_later(0, run)

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
        self._journaled(order, fsm.Trigger.SUBMIT, order.ts_created, reason="adopted from the venue", new=True)
        self._open[order.client_order_id] = order
        self.counters.adopted += 1
        log.warning("adopted external order %s (%s %s)", order.client_order_id, order.side.value, order.instrument_id)

    # ------------------------------------------------------------------ broker events

    def on_order_event(self, event: OrderEvent) -> None:
        coid = event.client_order_id
        order = self.orders.get(coid)
        if order is None:
            self.counters.unknown_order_events += 1
            log.warning("event %s for unknown order %s: reconciling", event.kind.value, coid)
            self._schedule_reconcile()
            return
        if event.kind is EventKind.REJECTED:
            if event.reason == DUPLICATE_ORDER_REASON:
                self.counters.venue_duplicate_refusals += 1  # refers to a resend; the original keeps working
                log.warning("venue refused a resend of %s as a duplicate", coid)
                return
            if event.error is ErrorClass.TRANSIENT and order.status is OrderStatus.SUBMITTED:
                self.counters.transient_rejects += 1
                self._retry_later(order, event.reason)
                return
        if (
            event.kind is EventKind.CANCEL_REJECTED
            and order.status is OrderStatus.PENDING_CANCEL
            and order.venue_order_id is None
        ):  # a cancel refused for an order never acknowledged: does the venue have it at all? ask
            self._query(order)
            return
        if _is_redundant(order, event):
            self.counters.redundant_events += 1
            log.debug("redundant %s for %s in %s", event.kind.value, coid, order.status.value)
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
        self._heard(coid)
        trigger = _TRIGGER_OF[event.kind]
        was_terminal = order.status.is_terminal
        late = fill is not None and was_terminal
        try:
            self._journaled(
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
            self._journal_failed(error)  # (not `exc`: compiled, that name keeps the first clause's type)
            return
        self.counters.events_applied += 1
        self.counters.late_fills += late
        if trigger is fsm.Trigger.REJECT:
            self.counters.permanent_rejects += 1
        arrival = self._arrival.get(coid)  # None: submitted by an earlier session
        if not was_terminal and order.status.is_terminal and order.status in self.outcomes:
            self.outcomes[order.status] += 1
        sent_wall = self._sent_wall.get(coid)
        if sent_wall is not None:  # wall time: what the process and the venue really took, at any --speed
            if trigger is fsm.Trigger.ACCEPT:
                self.ack_latency.observe(time.perf_counter_ns() - sent_wall)
            elif order.status is OrderStatus.FILLED and not was_terminal:
                self.fill_latency.observe(time.perf_counter_ns() - sent_wall)
        if fill is not None:
            self.ledger.apply_fill(fill)
            if arrival is not None:
                self.quality.on_fill(fill, arrival[0], arrival[1], self.clock.now_ns())
        if trigger is fsm.Trigger.REJECT and arrival is not None:
            self.quality.on_rejected()
        if order.status.is_terminal:
            self._open.pop(coid, None)
            self._sent_wall.pop(coid, None)
            if self._arrival.pop(coid, None) is not None:
                self.quality.on_final(order.quantity, order.filled_qty)
        self.bus.publish(TOPIC_ORDER_EVENT, (order, event))
        if fill is not None:
            self.bus.publish(TOPIC_FILL, fill)
        if (
            trigger is fsm.Trigger.CANCEL_REJECTED
            and order.status is OrderStatus.SUBMITTED
            and coid not in self._inflight
        ):
            self._query(order)  # a cancel refused for an order never acknowledged: does the venue have it at all?

    def on_settlement(self, event: SettlementEvent) -> None:
        # one per fill id, even if the broker repeats one inside the event: a duplicate row would make
        # the group commit that carries it fail, and every journal write after it with it
        problems = [p for f in event.fills if (p := fill_problem(f))]  # first, as for an order's fill
        if problems:
            self.counters.events_refused += 1
            log.error("refused settlement on %s (%s): %s", event.account, event.reason, "; ".join(problems))
            return
        unique = {f.fill_id: f for f in event.fills if not self.ledger.has_fill(f.fill_id)}
        fresh = tuple(unique.values())
        if not fresh:
            return
        try:
            self.journal.record_settlement(event.account, event.reason, fresh, event.ts_event)
        except Exception as exc:
            self._journal_failed(exc)
            return
        self._schedule_flush()
        for f in fresh:
            self.ledger.apply_fill(f)
            self.bus.publish(TOPIC_FILL, f)
        self.counters.settlements += 1
        log.info("settlement on %s: %s (%d fills)", event.account, event.reason, len(fresh))

    # ------------------------------------------------------------------ state changes

    def _journaled(
        self,
        order: Order,
        trigger: fsm.Trigger,
        ts: int,
        *,
        reason: str = "",
        fill: Fill | None = None,
        venue_order_id: str | None = None,
        new: bool = False,
        intent: bool = True,
    ) -> None:
        """Apply one transition and journal it; if the journal write fails the order is restored.
        `intent=False`: a broker event, which the journal may commit with the next intent (group commit);
        an intent may also wait for that commit once the journal's intent log holds it."""
        before = _snapshot(order)
        fsm.apply(order, trigger, ts, fill=fill, reason=reason)
        if venue_order_id and not order.venue_order_id:
            order.venue_order_id = venue_order_id
        try:
            self.journal.record_order(order, trigger._value_, ts, reason, fill, intent=intent)  # see _order_row
        except Exception:
            for name, value in zip(_CHANGED_BY_EVENTS, before, strict=True):
                setattr(order, name, value)
            raise
        self._schedule_flush()
        if new:
            self.orders[order.client_order_id] = order

    def _note(self, order: Order, kind: str, detail: str) -> None:
        """An event that changes nothing about the order but belongs in its history (a retry)."""
        try:
            self.journal.record_order(order, kind, self.clock.now_ns(), detail, intent=False)
        except Exception as exc:
            self._journal_failed(exc)
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        """Records wait at most `journal_flush_ns` for a commit (one before then takes them along)."""
        if self._flush_timer is None and self.journal.pending:
            self._flush_timer = self.clock.call_later(self._journal_flush_ns, self._flush_journal)

    def _flush_journal(self) -> None:
        self._flush_timer = None
        try:
            self.journal.flush()
        except Exception as exc:  # the venue has these, we could not write them: stop sending, recover on restart
            self._journal_failed(exc)

    def _journal_failed(self, exc: BaseException) -> None:
        self.counters.journal_failures += 1
        self.journal_error = f"journal write failed: {exc}"
        log.critical("%s; no new orders until restart (recovery will reconcile with the venue)", self.journal_error)

    # ------------------------------------------------------------------ queries

    def get(self, client_order_id: Unchecked) -> Order | None:
        return self.orders.get(client_order_id) if type(client_order_id) is str else None

    def open_orders(self, account: Unchecked = None) -> list[Order]:
        return [o for o in self._open.values() if account is None or o.account == account]

    def in_flight(self) -> int:
        """Orders sent and not yet heard of (waiting for an ack, a retry or a reconnect)."""
        return len(self._inflight)

    # ------------------------------------------------------------------ monitoring

    def metrics(self) -> Iterator[Metric]:
        c = self.counters
        orders = "Orders by lifecycle event (submitted: passed risk and sent; the rest: how orders ended)"
        yield counter("alluse_orders_total", orders, c.submitted, event="submitted")
        yield counter("alluse_orders_total", orders, c.denied, event="denied")
        for status, n in self.outcomes.items():
            yield counter("alluse_orders_total", orders, n, event=status.value.lower())
        by_state = dict.fromkeys(_OPEN_STATES, 0)
        for order in self._open.values():
            by_state[order.status] = by_state.get(order.status, 0) + 1
        for status, n in by_state.items():
            yield gauge("alluse_open_orders", "Working orders by state", n, state=status.value.lower())
        yield gauge("alluse_orders_in_flight", "Orders sent and not yet heard of", len(self._inflight))
        yield histogram("alluse_broker_request_seconds", "Wall time of the broker's submit call", self.request_latency)
        yield histogram("alluse_order_ack_latency_seconds", "Submit to acknowledgement, wall time", self.ack_latency)
        yield histogram("alluse_order_latency_seconds", "Submit to complete fill, wall time", self.fill_latency)
        rejects = "Rejects heard from the venue or made here, by class"
        yield counter("alluse_oms_rejects_total", rejects, c.transient_rejects, error_class="transient")
        yield counter("alluse_oms_rejects_total", rejects, c.permanent_rejects, error_class="permanent")
        for name, help_text in _OMS_COUNTERS:
            yield counter(f"alluse_oms_{name}_total", help_text, getattr(c, name))


# what a transition may change (fsm.apply and the venue id); restored together if the journal write fails
_CHANGED_BY_EVENTS = ("status", "filled_qty", "avg_fill_price", "venue_order_id", "ts_last", "reason")
_snapshot = operator.attrgetter(*_CHANGED_BY_EVENTS)

_OUTCOMES = (OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED)
_OPEN_STATES = (OrderStatus.SUBMITTED, OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED, OrderStatus.PENDING_CANCEL)
_OMS_COUNTERS = (  # OmsCounters fields exported as alluse_oms_<field>_total
    ("retries", "Resends scheduled after a transient failure"),
    ("ack_timeouts", "Orders not heard of within the ack timeout"),
    ("status_queries", "Order status queries answered by the venue"),
    ("failed_queries", "Order status queries that raised while connected (asked again after a backoff)"),
    ("gave_up", "Orders failed after the last retry or a permanent send error"),
    ("send_errors", "Submits or cancels that raised"),
    ("disconnects", "Broker disconnections seen"),
    ("reconnects", "Broker reconnections seen"),
    ("reconciliations", "Reconciliations with the venue completed"),
    ("events_refused", "Broker events refused (invalid transition or bad fill)"),
    ("duplicate_fills", "Fills received twice and ignored"),
    ("journal_failures", "Journal writes that failed"),
)

_FINAL_EVENT = {
    OrderStatus.CANCELED: EventKind.CANCELED,
    OrderStatus.EXPIRED: EventKind.EXPIRED,
    OrderStatus.REJECTED: EventKind.REJECTED,
}


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
