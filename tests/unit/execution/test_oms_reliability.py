"""Retries, status queries, reconnects and reconciliation, against a scripted venue."""

import dataclasses
from decimal import Decimal

import pytest

from alluse.app.config import AccountConfig
from alluse.app.kernel import build_kernel
from alluse.bench.core import core_config
from alluse.brokers.base import VenueOrder
from alluse.common.clock import MS, NS, TestClock
from alluse.execution.config import ExecutionConfig
from alluse.execution.journal import Journal
from alluse.execution.oms import JournalUnavailable
from alluse.model import Equity, Fill, Order, OrderStatus, OrderType, Quote, Side
from alluse.model.errors import BrokerDisconnected, BrokerTimeout, ErrorClass
from alluse.model.events import EventKind, OrderEvent

S = OrderStatus


class ScriptedVenue:
    """Does what the test says: raise on submit, stay silent, or answer; keeps a venue-side record."""

    name = "scripted"

    def __init__(self):
        self.connected = True
        self.received: list[str] = []
        self.cancels: list[str] = []
        self.fail_next: list[BaseException] = []
        self.silent = False  # received but no events (lost response)
        self.records: dict[str, VenueOrder] = {}
        self.fills: list[Fill] = []

    def set_event_handler(self, on_order_event, on_settlement):
        self.emit, self.settle = on_order_event, on_settlement

    def set_connection_handler(self, cb):
        self.on_connection = cb

    def _check(self):
        if not self.connected:
            raise BrokerDisconnected("down")

    def submit(self, order):
        self._check()
        if self.fail_next:
            raise self.fail_next.pop(0)
        self.received.append(order.client_order_id)
        self.records[order.client_order_id] = VenueOrder(
            order.client_order_id, f"V{len(self.received)}", order.account, order.instrument_id, order.side,
            order.quantity, order.order_type, order.limit_price, order.time_in_force, S.ACCEPTED, 0, 0,
        )  # fmt: skip
        if not self.silent:
            self.emit(OrderEvent(EventKind.ACCEPTED, order.client_order_id, 0, f"V{len(self.received)}"))

    def fill(self, coid, qty, price="10.00", fid=None, deliver=True):
        rec = self.records[coid]
        f = Fill(coid, rec.account, rec.instrument_id, rec.side, qty, Decimal(price), Decimal("1.00"), 0,
                 fid or f"F{len(self.fills) + 1}")  # fmt: skip
        self.fills.append(f)
        filled = rec.filled_qty + qty
        status = S.FILLED if filled == rec.quantity else S.PARTIALLY_FILLED
        self.records[coid] = _replace(rec, filled_qty=filled, status=status)
        if deliver:
            self.emit(OrderEvent(EventKind.FILL, coid, 0, rec.venue_order_id, fill=f))
        return f

    def cancel(self, coid):
        self._check()
        self.cancels.append(coid)

    def open_orders(self):
        self._check()
        return [v for v in self.records.values() if v.status.is_open]

    def order_status(self, coid):
        self._check()
        return self.records.get(coid)

    def executions(self, coid=None):
        self._check()
        return [f for f in self.fills if coid is None or f.client_order_id == coid]

    def account_snapshot(self, account):
        raise NotImplementedError

    def close(self):
        pass


def _replace(v, **kw):
    fields = {name: getattr(v, name) for name in VenueOrder.__slots__}
    fields.update(kw)
    return VenueOrder(**fields)


POLICY = ExecutionConfig(max_attempts=3, initial_backoff_ms=100, max_backoff_ms=400, ack_timeout_ms=1000)


@pytest.fixture
def env(tmp_path):
    return build_env(tmp_path)


CONFIG = core_config(execution=POLICY, seed=1).model_copy(update={"accounts": {"A": AccountConfig(cash=100_000)}})


def scripted_kernel(tmp_path, clock, journal_class=Journal):
    """The kernel's order path around a scripted venue, AAPL quoted at 10 and risk limits out of the way."""
    journal = journal_class(tmp_path / "j.db")
    venue = ScriptedVenue()
    kernel = build_kernel(CONFIG, clock, None, instruments=[Equity("AAPL")], feed=False, journal=journal, broker=venue)
    kernel.engine.on_quotes([Quote("AAPL", 9.99, 10.01, 1_000, 1_000, clock.now_ns(), clock.now_ns())])
    return kernel


def build_env(tmp_path, journal_class=Journal):
    clock = TestClock(1_000 * NS)
    kernel = scripted_kernel(tmp_path, clock, journal_class)
    kernel.recover()
    return kernel.oms, kernel.broker, clock, kernel.journal


def use_broker(oms, broker) -> None:
    """Put a broken broker in front of the venue the core built (the order manager's parts that call it)."""
    oms.dispatcher.broker = oms.reconciler.broker = broker


def new(oms, qty=10):
    return Order(oms.next_client_order_id(), "A", "AAPL", Side.BUY, qty, OrderType.LIMIT, Decimal("10.00"))


def kinds(journal, coid):
    return [e["kind"] for e in journal.events(coid)]


def test_transient_reject_is_retried_with_the_same_id_after_a_backoff(env):
    oms, venue, clock, journal = env
    o = new(oms)
    venue.silent = True
    oms.submit(o)
    venue.silent = False
    venue.records.pop(o.client_order_id)  # the venue refused it: it holds nothing
    venue.emit(OrderEvent(EventKind.REJECTED, o.client_order_id, 0, reason="timed out", error=ErrorClass.TRANSIENT))
    assert o.status is S.SUBMITTED and oms.counters.transient_rejects == 1
    clock.advance(79 * MS)
    assert venue.received == [o.client_order_id]  # not before the backoff (100 ms -20% jitter)
    clock.advance(50 * MS)
    assert venue.received == [o.client_order_id] * 2 and o.status is S.ACCEPTED
    assert kinds(journal, o.client_order_id) == ["SUBMIT", "RETRY", "ACCEPTED"]


def test_transient_failures_are_bounded_then_the_order_fails_with_the_reason(env):
    oms, venue, clock, _ = env
    o = new(oms)
    venue.silent = True
    oms.submit(o)
    for _ in range(POLICY.max_attempts):
        venue.records.pop(o.client_order_id, None)
        venue.emit(OrderEvent(EventKind.REJECTED, o.client_order_id, 0, reason="busy", error=ErrorClass.TRANSIENT))
        clock.advance(NS // 2)
    assert o.status is S.REJECTED and o.reason.startswith("gave up after 3 attempts: busy")
    assert len(venue.received) == 3 and oms.counters.gave_up == 1


def test_permanent_reject_fails_fast(env):
    oms, venue, clock, _ = env
    o = new(oms)
    venue.silent = True
    oms.submit(o)
    venue.emit(OrderEvent(EventKind.REJECTED, o.client_order_id, 0, reason="bad contract", error=ErrorClass.PERMANENT))
    clock.advance(10 * NS)
    assert o.status is S.REJECTED and o.reason == "bad contract" and venue.received == [o.client_order_id]
    assert oms.counters.permanent_rejects == 1 and oms.counters.retries == 0


def test_no_answer_leads_to_a_status_query_not_a_blind_resend(env):
    oms, venue, clock, _ = env
    o = new(oms)
    venue.silent = True  # the venue got it and filled it, but every answer was lost
    oms.submit(o)
    venue.fill(o.client_order_id, 10, deliver=False)
    clock.advance(POLICY.ack_timeout_ns)
    assert oms.counters.ack_timeouts == 1 and oms.counters.status_queries == 1
    assert venue.received == [o.client_order_id]  # asked, never resent
    assert o.status is S.FILLED and oms.ledger.position("A", "AAPL") == 10


def test_a_lost_request_is_resent_once_the_venue_says_it_does_not_know_it(env):
    oms, venue, clock, _ = env
    o = new(oms)
    venue.silent = True
    oms.submit(o)
    venue.records.pop(o.client_order_id)  # it never arrived
    venue.received.clear()
    venue.silent = False
    clock.advance(POLICY.ack_timeout_ns + 200 * MS)
    assert venue.received == [o.client_order_id] and o.status is S.ACCEPTED


def test_timeout_exception_is_unknown_outcome_and_queried(env):
    oms, venue, clock, _ = env
    o = new(oms)
    venue.fail_next = [BrokerTimeout("no answer")]
    oms.submit(o)
    assert oms.counters.status_queries == 1 and oms.counters.send_errors == 1
    clock.advance(200 * MS)  # the venue did not know it: resent after a backoff
    assert venue.received == [o.client_order_id] and o.status is S.ACCEPTED


def test_disconnect_parks_the_send_and_reconnect_resends_without_using_attempts(env):
    oms, venue, clock, _ = env
    venue.connected = False
    venue.on_connection(False)
    o = new(oms)
    oms.submit(o)
    clock.advance(60 * NS)
    assert o.status is S.SUBMITTED and venue.received == []
    venue.connected = True
    venue.on_connection(True)
    assert venue.received == [o.client_order_id] and o.status is S.ACCEPTED
    assert oms.counters.disconnects == 1 and oms.counters.reconnects == 1 and oms.counters.gave_up == 0


def test_reconnect_books_fills_made_while_away_and_resends_pending_cancels(env):
    oms, venue, clock, _ = env
    a, b = new(oms), new(oms)
    oms.submit(a)
    oms.submit(b)
    venue.connected = False
    venue.on_connection(False)
    venue.fill(a.client_order_id, 4, deliver=False)
    assert oms.cancel(b.client_order_id) and b.status is S.PENDING_CANCEL and venue.cancels == []
    venue.connected = True
    venue.on_connection(True)
    assert a.filled_qty == 4 and a.status is S.PARTIALLY_FILLED and oms.ledger.position("A", "AAPL") == 4
    assert venue.cancels == [b.client_order_id]


def test_reconcile_adopts_an_order_the_venue_works_but_we_never_sent(env):
    oms, venue, clock, journal = env
    venue.records["OTHER-1"] = VenueOrder("OTHER-1", "V9", "A", "AAPL", Side.SELL, 5, OrderType.MARKET, None,
                                          new(oms).time_in_force, S.ACCEPTED, 0, 0)  # fmt: skip
    venue.fill("OTHER-1", 2, deliver=False)
    venue.emit(OrderEvent(EventKind.FILL, "OTHER-1", 0, "V9", fill=venue.fills[-1]))  # unknown: triggers a reconcile
    clock.advance(1)
    adopted = oms.orders["OTHER-1"]
    assert adopted.tag == "external" and adopted.filled_qty == 2 and adopted.status is S.PARTIALLY_FILLED
    assert oms.ledger.position("A", "AAPL") == -2 and oms.counters.adopted == 1


def test_late_fill_after_cancel_is_booked(env):
    oms, venue, clock, _ = env
    o = new(oms)
    oms.submit(o)
    oms.cancel(o.client_order_id)
    venue.emit(OrderEvent(EventKind.CANCELED, o.client_order_id, 0))
    venue.fill(o.client_order_id, 3)
    assert o.status is S.CANCELED and o.filled_qty == 3 and oms.counters.late_fills == 1
    assert oms.ledger.position("A", "AAPL") == 3


def test_duplicate_and_late_acks_are_redundant_not_errors(env):
    oms, venue, clock, _ = env
    o = new(oms)
    oms.submit(o)
    venue.emit(OrderEvent(EventKind.ACCEPTED, o.client_order_id, 0))
    venue.fill(o.client_order_id, 10)
    venue.emit(OrderEvent(EventKind.ACCEPTED, o.client_order_id, 0))
    assert o.status is S.FILLED and oms.counters.redundant_events == 2 and oms.counters.events_refused == 0


def test_a_journal_failure_on_an_event_stops_new_orders(tmp_path, filling_journal):
    oms, venue, clock, journal = build_env(tmp_path, filling_journal)
    o = new(oms)
    oms.submit(o)
    journal.full = True
    venue.fill(o.client_order_id, 10)
    assert o.status is S.ACCEPTED and oms.counters.journal_failures == 1
    assert oms.ledger.position("A", "AAPL") == 0  # not booked without its journal record
    journal.full = False
    with pytest.raises(JournalUnavailable, match="disk is full"):
        oms.submit(new(oms))
    assert venue.received == [o.client_order_id]


def test_restart_closes_orders_that_never_reached_the_venue(env, tmp_path):
    oms, venue, clock, journal = env
    o = new(oms)
    venue.fail_next = [BrokerDisconnected("x")]
    venue.connected = True
    oms.submit(o)  # disconnected on send: parked/retrying, never received
    journal.close()
    restarted = scripted_kernel(tmp_path, TestClock(2_000 * NS))  # a venue that never heard of it
    report = restarted.recover()
    oms2 = restarted.oms
    assert report.reconcile.resolved == [o.client_order_id]
    assert oms2.orders[o.client_order_id].status is S.CANCELED
    assert "never reached the venue" in oms2.orders[o.client_order_id].reason


def test_cancel_of_an_order_that_never_left_closes_it_here(env):
    oms, venue, clock, _ = env
    venue.connected = False
    venue.on_connection(False)
    o = new(oms)
    oms.submit(o)  # parked: the venue is known to be down
    assert oms.cancel(o.client_order_id)
    assert o.status is S.CANCELED and "not sent yet" in o.reason
    venue.connected = True
    venue.on_connection(True)
    assert venue.received == [] and oms.in_flight() == 0


def test_cancel_of_a_lost_order_closes_it_once_the_venue_says_it_never_got_it(env):
    oms, venue, clock, _ = env
    o = new(oms)
    venue.silent = True
    oms.submit(o)
    venue.records.pop(o.client_order_id)  # the request was lost on the way
    oms.cancel(o.client_order_id)
    clock.advance(POLICY.ack_timeout_ns)
    assert o.status is S.CANCELED and oms.in_flight() == 0


def test_a_refused_cancel_of_an_unacknowledged_order_asks_the_venue_and_never_resends(env):
    oms, venue, clock, _ = env
    o = new(oms)
    venue.silent = True
    oms.submit(o)
    venue.records.pop(o.client_order_id)  # lost on the way
    oms.cancel(o.client_order_id)
    venue.emit(OrderEvent(EventKind.CANCEL_REJECTED, o.client_order_id, 0, reason="unknown order"))
    assert o.status is S.CANCELED and oms.counters.status_queries == 1
    clock.advance(10 * NS)
    assert venue.received == [o.client_order_id]  # the first send only: a cancelled intent is never resent


class RaisesAfterSending:
    """The venue, but its submit raises something no broker error class covers after the venue took
    the order: a bug in broker code after the send."""

    def __init__(self, venue):
        self._venue = venue

    def __getattr__(self, name):
        return getattr(self._venue, name)

    failing_queries = 0  # status queries that raise too, before the venue answers one

    def submit(self, order):
        self._venue.submit(order)
        raise RuntimeError("broken after the send")

    def order_status(self, client_order_id):
        if self.failing_queries:
            self.failing_queries -= 1
            raise RuntimeError("status query broken")
        return self._venue.order_status(client_order_id)


def test_an_unexpected_exception_from_the_send_is_an_unknown_outcome_resolved_by_asking(tmp_path):
    from alluse.bench.core import ACCOUNT, build_core
    from alluse.brokers.paper import PaperVenueConfig

    core = build_core(tmp_path, venue_config=PaperVenueConfig(ack_latency_ms=1))
    try:
        use_broker(core.oms, RaisesAfterSending(core.venue))
        order = core.order(0, qty=100)
        core.oms.submit(order)
        assert order.status is not OrderStatus.REJECTED  # not given up: the venue may have it
        core.settle()
        assert order.status is OrderStatus.FILLED, order.reason
        assert core.venue.account_snapshot(ACCOUNT).positions[order.instrument_id] == 100
        assert core.ledger.position(ACCOUNT, order.instrument_id) == 100  # both sides agree
        assert len(core.venue.executions(order.client_order_id)) == 1  # sent once, filled once
    finally:
        core.close()


class FailsBeforeSending(RaisesAfterSending):
    """The first send raises before it reaches the venue, and the first status queries raise too."""

    sends_to_fail = 1

    def submit(self, order):
        if self.sends_to_fail:
            self.sends_to_fail -= 1
            raise RuntimeError("broken before the send")
        self._venue.submit(order)


def test_a_failing_status_query_while_connected_is_asked_again_never_given_up_nor_resent_blind(tmp_path):
    from alluse.bench.core import ACCOUNT, build_core
    from alluse.brokers.paper import PaperVenueConfig

    core = build_core(tmp_path, venue_config=PaperVenueConfig(ack_latency_ms=1))
    try:
        broker = FailsBeforeSending(core.venue)
        broker.failing_queries = 3
        use_broker(core.oms, broker)
        order = core.order(0, qty=100)
        core.oms.submit(order)
        assert order.status is OrderStatus.SUBMITTED and core.oms.counters.failed_queries == 1
        core.settle()
        # asked until the venue answered "never got it", then sent again under the same id: filled once
        assert core.oms.counters.failed_queries == 3 and core.oms.counters.status_queries == 1
        exported = {m.name: m.value for m in core.oms.metrics() if m.name.startswith("alluse_oms_")}
        assert exported["alluse_oms_failed_queries_total"] == 3
        assert order.status is OrderStatus.FILLED, order.reason
        assert core.oms.in_flight() == 0
        assert core.venue.account_snapshot(ACCOUNT).positions[order.instrument_id] == 100
        assert len(core.venue.executions(order.client_order_id)) == 1
    finally:
        core.close()


class ReportsABadFill(RaisesAfterSending):
    """The venue, with one more execution in its reports: a fill whose id is not a string."""

    def submit(self, order):
        self._venue.submit(order)

    def executions(self, client_order_id=None):
        good = self._venue.executions(client_order_id)
        return good + [dataclasses.replace(good[0], fill_id=123)] if good else good


def test_reconciliation_refuses_a_bad_fill_by_name_and_books_the_rest(tmp_path):
    from alluse.bench.core import build_core

    core = build_core(tmp_path)
    try:
        use_broker(core.oms, ReportsABadFill(core.venue))
        order = core.oms.submit(core.order(0, qty=100))
        refused = core.oms.counters.events_refused
        report = core.oms.reconcile()
        assert core.oms.counters.events_refused == refused + 1  # the bad one, counted, not raised
        assert report.fills_applied == 0  # the good one was booked already; the bad one is not "applied"
        assert order.status is OrderStatus.FILLED and core.ledger.position(order.account, order.instrument_id) == 100
    finally:
        core.close()


def test_pacing_refusals_use_no_attempt_and_wait_for_the_venues_window(env):
    """A pacing storm: the venue refuses the same order more often than it has attempts; each refusal waits for
    the venue's window (1 s) and the order still goes through (issue #14: pacing must not eat the retry budget)."""
    oms, venue, clock, journal = env
    o = new(oms)
    venue.silent = True
    oms.submit(o)
    for k in range(POLICY.max_attempts + 3):
        venue.records.pop(o.client_order_id, None)
        venue.emit(OrderEvent(EventKind.REJECTED, o.client_order_id, 0, reason="pacing", error=ErrorClass.THROTTLED))
        assert o.status is S.SUBMITTED
        clock.advance(999 * MS)
        assert len(venue.received) == k + 1  # not before the window
        clock.advance(250 * MS)  # the window, with at most the jitter's fifth on top
        assert len(venue.received) == k + 2
    venue.emit(OrderEvent(EventKind.ACCEPTED, o.client_order_id, 0, "V1"))  # the last send got through
    assert o.status is S.ACCEPTED and oms.counters.throttled_rejects == POLICY.max_attempts + 3
    assert oms.counters.gave_up == 0


def test_a_cancel_never_answered_is_resolved_by_a_status_query(env):
    oms, venue, clock, journal = env
    o = new(oms)
    oms.submit(o)
    assert o.status is S.ACCEPTED
    venue.silent = True  # the cancel reaches the venue, its answer never comes
    oms.cancel(o.client_order_id)
    assert o.status is S.PENDING_CANCEL
    venue.records.pop(o.client_order_id)  # the venue cancelled it (and holds nothing of it any more)
    clock.advance(POLICY.ack_timeout_ns + MS)
    assert o.status is S.CANCELED and oms.counters.cancel_timeouts == 1


@pytest.mark.parametrize("fill_first", [True, False])
def test_a_refused_cancel_is_journaled_and_published_whichever_answer_comes_first(env, fill_first):
    """The venue fills the order while our cancel is on its way: its answers (the fill, the refusal) may come in
    either order; the refusal is in the journal and on the bus both ways (issue #14)."""
    from alluse.common.bus import TOPIC_ORDER_EVENT

    oms, venue, clock, journal = env
    seen = []
    oms.bus.subscribe(TOPIC_ORDER_EVENT, lambda message: seen.append(message[1].kind))
    o = new(oms)
    oms.submit(o)
    venue.silent = True
    oms.cancel(o.client_order_id)
    refusal = OrderEvent(EventKind.CANCEL_REJECTED, o.client_order_id, 0, reason="already filled")
    if not fill_first:
        venue.emit(refusal)
    venue.fill(o.client_order_id, 10)
    if fill_first:
        venue.emit(refusal)
    assert o.status is S.FILLED
    assert "CANCEL_REJECTED" in kinds(journal, o.client_order_id)
    assert EventKind.CANCEL_REJECTED in seen
