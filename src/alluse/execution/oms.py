"""The order manager: the only component that changes an order, and the execution engine's front door.

Strategies hand it orders; it validates them, runs the pre-trade check, journals them and only then gives
them to the broker. Its parts each do one job: `recording` (state machine + journal, restored together on
failure), `dispatch` (orders in flight: sends, retries, ack timeouts, status queries), `order_events` (what
the broker says, applied), `reconcile` (the journal made to agree with the venue at start and after a
reconnect). Recovery is the only start path (`recover`). The rules it keeps (docs/architecture.md):
journal before send, the client order id as idempotency key, errors classified, an unknown outcome asked
about, never resent blindly.

Order latencies are measured in wall time; execution quality in the trading clock's time (the paper venue's
latency is simulated in clock time, which is what a strategy waiting for its fill experiences).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from mypy_extensions import mypyc_attr

from alluse.brokers.base import Broker
from alluse.common.bus import TOPIC_ORDER_DENIED, MessageBus
from alluse.common.clock import Clock
from alluse.common.metrics import LatencyHistogram, Metric, counter, gauge, histogram
from alluse.execution import fsm
from alluse.execution.config import ExecutionConfig
from alluse.execution.dispatch import Dispatcher
from alluse.execution.journal import Journal
from alluse.execution.order_events import OrderEventHandler
from alluse.execution.reconcile import Reconciler, ReconcileReport
from alluse.execution.recording import OrderRecorder
from alluse.execution.state import OmsCounters, OrderBook
from alluse.model import Order, OrderStatus, Unchecked, check_order_fields
from alluse.model.base import InvalidInput
from alluse.model.registry import InstrumentRegistry
from alluse.portfolio import ExecutionQuality, Ledger
from alluse.portfolio.ledger import check_deposit

log = logging.getLogger("alluse.oms")


class PreTradeCheck(Protocol):
    """What the order manager asks of the risk engine (the kernel wires a RiskGate). A Protocol, so tests
    can hand the manager a stand-in: compiled, a RiskGate-typed slot would refuse one."""

    def check(self, order: Order) -> object | None:
        """None to pass (the check then counts the order as working), else the denial (its str is the reason)."""

    def release(self, order: Order) -> None:
        """A passed order that was never sent (its journal write failed): undo what `check` counted."""

    def rebuild(self, open_orders: Iterable[Order]) -> object:
        """Recount exposure from the ledger and these working orders (after recovery or reconciliation)."""


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
class RecoveryReport:
    session: int
    orders: int
    open_orders: int
    fills: int
    reconcile: ReconcileReport = field(default_factory=ReconcileReport)


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
        mid_of: Any,  # Callable[[str], float | None]: the arrival mid, for slippage
        accounts: Iterable[str],
        config: ExecutionConfig | None = None,
        journal_flush_ns: int = 2_000_000,
        id_prefix: str = "AU",
        seed: int = 0,
        dispatcher: type[Dispatcher] = Dispatcher,  # a test hands in a broken one, to see ER-1 catch it
        simulated_venue: bool = False,
    ) -> None:
        """`simulated_venue`: the broker is a simulation whose latencies are its configuration played on our
        clock (the paper venue): they are measured in that clock and exported as simulated, never as the
        process's own. What the process itself takes (`submit_latency`) is wall time either way."""
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
        self.config = config if config is not None else ExecutionConfig()
        self.counters = OmsCounters()
        self.book = OrderBook()
        self._session = 0
        self._seq = 0
        self.recorder = OrderRecorder(journal, clock, journal_flush_ns, self.counters)
        self.dispatcher = dispatcher(clock, broker, self.config, self.book, self.recorder, self.counters, seed)
        self.events = OrderEventHandler(
            clock, bus, self.book, self.recorder, self.dispatcher, ledger, quality, self.counters, simulated_venue
        )
        self.submit_latency = LatencyHistogram()  # submit -> sent (or denied): checks, risk, journal; wall time
        self.reconciler = Reconciler(
            clock, broker, self.book, self.recorder, self.dispatcher, self.events, ledger, risk.rebuild, self.counters
        )
        self.dispatcher.apply_event = self.events.on_order_event
        self.dispatcher.sync = self.reconciler.sync
        self.events.schedule_reconcile = self.reconciler.schedule
        broker.set_event_handler(self.events.on_order_event, self.events.on_settlement)
        broker.set_connection_handler(self.reconciler.on_connection)

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
        self.book.orders.update(state.orders)
        self.book.open.update((k, o) for k, o in state.orders.items() if o.status.is_open)
        self._session = self.journal.start_session(now)
        self.events.after_recovery()
        open_orders = len(self.book.open)
        report = RecoveryReport(self._session, len(self.book.orders), open_orders, len(state.fills))
        report.reconcile = self.reconciler.reconcile(at_start=True)
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
        if coid in self.book.orders:
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
        t0 = time.perf_counter_ns()
        self.validate(order)
        recorder = self.recorder
        if recorder.journal_error is not None:
            raise JournalUnavailable(f"not sending {order.client_order_id}: {recorder.journal_error}")
        now = self.clock.now_ns()
        arrival_mid = self.mid_of(order.instrument_id)
        order.ts_created = now
        coid = order.client_order_id
        book = self.book
        denial = self.risk.check(order)
        if denial is not None:
            try:
                recorder.apply(order, fsm.Trigger.DENY, now, reason=str(denial))
            except Exception as deny_error:  # (a name of its own: compiled, an except name keeps its first type)
                # the message from `failed`: compiled, `recorder.journal_error` stays narrowed to None here
                raise JournalUnavailable(f"not recording {coid}: {recorder.failed(deny_error)}") from deny_error
            book.orders[coid] = order
            self.counters.denied += 1
            log.info("order %s denied: %s", coid, denial)
            self.submit_latency.observe(time.perf_counter_ns() - t0)
            self.bus.publish(TOPIC_ORDER_DENIED, order)
            return order
        try:
            recorder.apply(order, fsm.Trigger.SUBMIT, now)  # journaled before the broker sees it
        except Exception as intent_error:  # not durable: not sent, and no order after it (as a failed commit)
            self.risk.release(order)  # never sent: what the check counted as working is not
            raise JournalUnavailable(f"not sending {coid}: {recorder.failed(intent_error)}") from intent_error
        except BaseException:
            self.risk.release(order)
            raise
        book.orders[coid] = order
        book.open[coid] = order
        book.arrival[coid] = (arrival_mid, now)
        self.counters.submitted += 1
        self.quality.on_sent()
        book.sent_at[coid] = self.events.latency_now()
        self.submit_latency.observe(time.perf_counter_ns() - t0)  # our own part, before the broker's
        self.dispatcher.send(order)
        return order

    def cancel(self, client_order_id: Unchecked) -> bool:
        """Ask the venue to cancel. False when the order is already final (nothing to cancel)."""
        order = self.book.orders.get(client_order_id) if type(client_order_id) is str else None
        if order is None:
            raise UnknownOrder(client_order_id)
        if order.status.is_terminal or order.status is OrderStatus.PENDING_CANCEL:
            return False
        self.recorder.apply(order, fsm.Trigger.CANCEL_REQUEST, self.clock.now_ns())
        self.dispatcher.cancel(order)
        return True

    def cancel_all(self, account: Unchecked = None) -> int:
        return sum(self.cancel(o.client_order_id) for o in self.open_orders(account))

    def reconcile(self) -> ReconcileReport:
        """Make the journal agree with the venue now (the manager also does at start and on reconnect)."""
        return self.reconciler.reconcile()

    # ------------------------------------------------------------------ queries

    @property
    def orders(self) -> dict[str, Order]:
        return self.book.orders

    @property
    def journal_error(self) -> str | None:
        return self.recorder.journal_error

    def get(self, client_order_id: Unchecked) -> Order | None:
        return self.book.orders.get(client_order_id) if type(client_order_id) is str else None

    def open_orders(self, account: Unchecked = None) -> list[Order]:
        return [o for o in self.book.open.values() if account is None or o.account == account]

    def in_flight(self) -> int:
        """Orders sent and not yet heard of (waiting for an ack, a retry or a reconnect)."""
        return len(self.dispatcher.waiting)

    # ------------------------------------------------------------------ monitoring

    def metrics(self) -> Iterator[Metric]:
        c = self.counters
        orders = "Orders by lifecycle event (submitted: passed risk and sent; the rest: how orders ended)"
        yield counter("alluse_orders_total", orders, c.submitted, event="submitted")
        yield counter("alluse_orders_total", orders, c.denied, event="denied")
        for status, n in self.events.outcomes.items():
            yield counter("alluse_orders_total", orders, n, event=status.value.lower())
        by_state = dict.fromkeys(_OPEN_STATES, 0)
        for order in self.book.open.values():
            by_state[order.status] = by_state.get(order.status, 0) + 1
        for status, n in by_state.items():
            yield gauge("alluse_open_orders", "Working orders by state", n, state=status.value.lower())
        yield gauge("alluse_orders_in_flight", "Orders sent and not yet heard of", len(self.dispatcher.waiting))
        request = self.dispatcher.request_latency
        yield histogram("alluse_broker_request_seconds", "Wall time of the broker's submit call", request)
        own = "Wall time of the order path before the broker: validation, risk checks, the journal's intent"
        yield histogram("alluse_order_submit_seconds", own, self.submit_latency)
        ack, fill = self.events.ack_latency, self.events.fill_latency
        if self.events.simulated_venue:  # the venue's configured latency on our clock: not a measurement of us
            sim = " in the simulated venue's clock (its configured latency, not this process's)"
            yield histogram("alluse_order_ack_latency_simulated_seconds", "Submit to acknowledgement" + sim, ack)
            yield histogram("alluse_order_latency_simulated_seconds", "Submit to complete fill" + sim, fill)
            ack = fill = _NOTHING_MEASURED  # the wall-time series exist (rules name them) and stay empty
        yield histogram("alluse_order_ack_latency_seconds", "Submit to acknowledgement, wall time (a real venue)", ack)
        yield histogram("alluse_order_latency_seconds", "Submit to complete fill, wall time (a real venue)", fill)
        rejects = "Rejects heard from the venue or made here, by class"
        yield counter("alluse_oms_rejects_total", rejects, c.transient_rejects, error_class="transient")
        yield counter("alluse_oms_rejects_total", rejects, c.permanent_rejects, error_class="permanent")
        yield counter("alluse_oms_rejects_total", rejects, c.throttled_rejects, error_class="throttled")
        for name, help_text in _OMS_COUNTERS:
            yield counter(f"alluse_oms_{name}_total", help_text, getattr(c, name))


_NOTHING_MEASURED = LatencyHistogram()  # never observed
_OPEN_STATES = (OrderStatus.SUBMITTED, OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED, OrderStatus.PENDING_CANCEL)
_OMS_COUNTERS = (  # OmsCounters fields exported as alluse_oms_<field>_total
    ("retries", "Resends scheduled after a transient failure"),
    ("ack_timeouts", "Orders not heard of within the ack timeout"),
    ("cancel_timeouts", "Cancels not answered within the ack timeout (a status query resolves them)"),
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
