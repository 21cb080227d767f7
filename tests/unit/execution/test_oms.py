"""The order manager against a scripted broker: validation, risk, journal-before-send, events."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from alluse.app.config import AccountConfig, Config
from alluse.app.kernel import build_kernel
from alluse.common.bus import TOPIC_ORDER_EVENT
from alluse.common.clock import TestClock, datetime_to_ns
from alluse.execution.intent_log import read_records
from alluse.execution.journal import Journal
from alluse.execution.oms import DuplicateOrderId, JournalUnavailable, UnknownOrder
from alluse.model import (
    Equity,
    Fill,
    InvalidInput,
    Option,
    Order,
    OrderStatus,
    OrderType,
    Quote,
    Right,
    Side,
)
from alluse.model.events import EventKind, OrderEvent
from alluse.strategies.config import StrategyConfig

PUT = Option("AAPL", date(2026, 12, 18), Decimal("200"), Right.PUT)


class ScriptedBroker:
    name = "scripted"
    connected = True

    def __init__(self, journal_path):
        self.journal_path = journal_path
        self.submitted, self.cancelled, self.seen_in_journal = [], [], []
        self.working: list = []

    def set_event_handler(self, on_order_event, on_settlement):
        self.emit, self.settle = on_order_event, on_settlement

    def set_connection_handler(self, on_connection):
        self.on_connection = on_connection

    def order_status(self, coid):
        return next((v for v in self.working if v.client_order_id == coid), None)

    def executions(self, coid=None):
        return []

    def submit(self, order):
        if self.journal_path is not None:
            # journal before send: the order must already be on disk when the broker sees it
            reader = Journal(self.journal_path, readonly=True)
            self.seen_in_journal.append(order.client_order_id in reader.load().orders)
            reader.close()
        self.submitted.append(order.client_order_id)

    def cancel(self, coid):
        self.cancelled.append(coid)

    def open_orders(self):
        return self.working

    def account_snapshot(self, account):
        raise NotImplementedError

    def close(self):
        pass


@pytest.fixture
def env(tmp_path):
    return build_env(tmp_path)


CONFIG = Config(accounts={"Gen-Acc": AccountConfig(cash=Decimal(100_000))},
                strategy=StrategyConfig(enabled=False, sleeves=[]))  # fmt: skip


def build_env(tmp_path, *, intent_log=True, journal_class=Journal, clock=None, recover=True):
    """The kernel's order path around a scripted broker: AAPL at 200 and a put in Gen-Acc's delta band."""
    clock = clock or TestClock(datetime_to_ns(datetime(2026, 12, 1, 14, 30, tzinfo=UTC)))  # PUT has 17 days to go
    journal = journal_class(tmp_path / "j.db", intent_log=intent_log)
    broker = ScriptedBroker(tmp_path / "j.db")
    kernel = build_kernel(CONFIG, clock, None, instruments=[Equity("AAPL"), PUT], feed=False, journal=journal,
                          broker=broker)  # fmt: skip
    now = clock.now_ns()
    for iid, bid, ask in (("AAPL", 199.99, 200.01), (PUT.id, 2.95, 3.05)):
        kernel.engine.on_quotes([Quote(iid, bid, ask, 100, 100, now, now)])
    if recover:
        kernel.recover()
    return kernel.oms, broker, kernel.bus, clock, kernel


def order(oms, **kw):
    base = dict(
        client_order_id=oms.next_client_order_id(),
        account="Gen-Acc",
        instrument_id="AAPL",
        side=Side.BUY,
        quantity=10,
        order_type=OrderType.LIMIT,
        limit_price=Decimal("200.00"),
    )
    base.update(kw)
    return Order(**base)


def fill(o, qty, price, fid):
    return Fill(o.client_order_id, o.account, o.instrument_id, o.side, qty, Decimal(price), Decimal("1.00"), 5, fid)


def test_submit_journals_before_the_broker_and_fills_reach_the_ledger(env):
    oms, broker, bus, clock, _ = env
    seen = []
    bus.subscribe(TOPIC_ORDER_EVENT, lambda m: seen.append(m[1].kind))
    o = oms.submit(order(oms))
    assert o.status is OrderStatus.SUBMITTED and broker.seen_in_journal == [True]
    broker.emit(OrderEvent(EventKind.ACCEPTED, o.client_order_id, 2, venue_order_id="V1"))
    broker.emit(OrderEvent(EventKind.FILL, o.client_order_id, 3, fill=fill(o, 10, "199.50", "F1")))
    assert o.status is OrderStatus.FILLED and o.venue_order_id == "V1"
    assert oms.ledger.position("Gen-Acc", "AAPL") == 10
    assert oms.ledger.cash["Gen-Acc"] == Decimal(100_000) - Decimal("1995.00") - 1
    assert seen == [EventKind.ACCEPTED, EventKind.FILL]
    assert oms.open_orders() == []


@pytest.mark.parametrize(
    ("field", "kw"),
    [
        ("quantity", {"quantity": 0}),
        ("quantity", {"quantity": -5}),
        ("quantity", {"quantity": 1.5}),
        ("limit_price", {"limit_price": Decimal("200.005")}),
        ("limit_price", {"instrument_id": PUT.id, "limit_price": Decimal("3.02")}),
        ("limit_price", {"limit_price": None}),
        ("instrument_id", {"instrument_id": "ZZZZ"}),
        ("account", {"account": "Nobody"}),
        ("tag", {"tag": None}),  # the journal would take it only to fail its next group commit
        ("reason", {"reason": 5}),
    ],
)
def test_bad_orders_are_refused_naming_the_field_and_nothing_is_written(env, field, kw):
    oms, broker, *_ = env
    o = order(oms, **kw)
    with pytest.raises(InvalidInput) as exc:
        oms.submit(o)
    assert exc.value.field == field
    assert broker.submitted == [] and o.client_order_id not in oms.orders
    assert oms.journal.events(o.client_order_id) == []


def test_duplicate_client_order_id_is_refused_and_the_first_is_untouched(env):
    oms, broker, *_ = env
    first = oms.submit(order(oms))
    dup = order(oms, client_order_id=first.client_order_id, quantity=3)
    with pytest.raises(DuplicateOrderId):
        oms.submit(dup)
    assert oms.orders[first.client_order_id] is first and first.quantity == 10
    assert broker.submitted == [first.client_order_id]


def test_cancel_of_unknown_order(env):
    oms, *_ = env
    with pytest.raises(UnknownOrder) as exc:
        oms.cancel("NOPE")
    assert exc.value.value == "NOPE"


def test_risk_denial_is_journaled_with_reason_and_never_sent(env):
    oms, broker, *_ = env
    o = oms.submit(order(oms, limit_price=Decimal("300.00")))
    assert o.status is OrderStatus.DENIED and o.reason.startswith("PRICE_BAND")
    assert broker.submitted == []
    assert [e["kind"] for e in oms.journal.events(o.client_order_id)] == ["DENY"]


def test_cash_secured_put_check(env):
    oms, broker, *_ = env
    ok = oms.submit(order(oms, instrument_id=PUT.id, side=Side.SELL, quantity=5, limit_price=Decimal("3.00")))
    assert ok.status is OrderStatus.SUBMITTED  # 5 x 200 x 100 = 100,000 = all the cash
    more = oms.submit(order(oms, instrument_id=PUT.id, side=Side.SELL, quantity=1, limit_price=Decimal("3.00")))
    assert more.status is OrderStatus.DENIED and more.reason.startswith("CASH_SECURED")


def test_invalid_and_unknown_events_are_refused_and_counted(env):
    oms, broker, *_ = env
    o = oms.submit(order(oms))
    broker.emit(OrderEvent(EventKind.FILL, o.client_order_id, 2, fill=fill(o, 10, "200.00", "F1")))
    broker.emit(OrderEvent(EventKind.FILL, o.client_order_id, 3, fill=fill(o, 1, "200.00", "F2")))  # overfill
    broker.emit(OrderEvent(EventKind.CANCELED, o.client_order_id, 4))  # after the fill: redundant
    broker.emit(OrderEvent(EventKind.EXPIRED, o.client_order_id, 4))  # redundant too
    broker.emit(OrderEvent(EventKind.ACCEPTED, "GHOST", 5))
    broker.emit(OrderEvent(EventKind.FILL, o.client_order_id, 6, fill=fill(o, 10, "200.00", "F1")))  # dup fill
    assert o.status is OrderStatus.FILLED and o.filled_qty == 10
    assert oms.ledger.position("Gen-Acc", "AAPL") == 10
    c = oms.counters
    assert (c.events_refused, c.redundant_events, c.unknown_order_events, c.duplicate_fills) == (1, 2, 1, 1)


def test_a_journal_failure_leaves_the_order_unsent_and_unchanged(tmp_path, filling_journal):
    oms, broker, *_ = build_env(tmp_path, journal_class=filling_journal)
    o = order(oms)
    oms.journal.full = True
    with pytest.raises(JournalUnavailable, match="disk is full"):
        oms.submit(o)
    assert o.status is OrderStatus.INITIALIZED and broker.submitted == [] and o.client_order_id not in oms.orders


def test_recovery_rebuilds_orders_and_resolves_ones_the_venue_lost(env, tmp_path):
    oms, broker, *_ = env
    a = oms.submit(order(oms))
    broker.emit(OrderEvent(EventKind.FILL, a.client_order_id, 2, fill=fill(a, 4, "200.00", "F1")))
    oms.journal.close()
    # a new process: same journal, a venue that remembers nothing
    oms2, *_, kernel2 = build_env(tmp_path, clock=TestClock(oms.clock.now_ns() + 10_000), recover=False)
    report = kernel2.recover()
    assert report.session == 2 and report.orders == 1 and report.reconcile.resolved == [a.client_order_id]
    ledger = kernel2.ledger
    got = oms2.orders[a.client_order_id]
    assert got.status is OrderStatus.CANCELED and got.filled_qty == 4
    assert ledger.position("Gen-Acc", "AAPL") == 4 and ledger.cash["Gen-Acc"] == Decimal(100_000) - 800 - 1
    assert oms2.next_client_order_id().startswith("AU002-")


@pytest.mark.parametrize(
    "bad",
    [
        {"account": "Rev-Acc"},
        {"instrument_id": PUT.id},
        {"side": Side.SELL},
        {"price": Decimal("NaN")},
        {"price": Decimal("-1")},
        {"commission": Decimal("Infinity")},
        {"quantity": 0},
    ],
)
def test_a_fill_that_does_not_match_its_order_is_refused(env, bad):
    oms, broker, *_ = env
    o = oms.submit(order(oms))
    good = fill(o, 5, "200.00", "F1")
    fields = {name: getattr(good, name) for name in Fill.__slots__}
    fields.update(bad)
    broker.emit(OrderEvent(EventKind.FILL, o.client_order_id, 2, fill=Fill(**fields)))
    assert o.filled_qty == 0 and o.status is OrderStatus.SUBMITTED
    assert oms.counters.events_refused == 1
    assert oms.ledger.cash["Gen-Acc"] == Decimal(100_000) and not oms.ledger.open_positions()


def test_a_new_order_must_not_carry_fills(env):
    oms, broker, *_ = env
    with pytest.raises(InvalidInput) as exc:
        oms.submit(order(oms, filled_qty=5))
    assert exc.value.field == "filled_qty" and broker.submitted == []


def test_latency_is_measured_at_receipt(env):
    oms, broker, bus, clock, _ = env
    o = oms.submit(order(oms))
    clock.advance(7_000_000)
    broker.emit(OrderEvent(EventKind.FILL, o.client_order_id, clock.now_ns(), fill=fill(o, 10, "200.00", "F1")))
    assert oms.quality.records[-1].latency_ns == 7_000_000


def make_unwritable(db, failure):
    if failure == "disk full":
        db.execute(f"PRAGMA max_page_count={db.execute('PRAGMA page_count').fetchone()[0]}")
    else:
        db.execute("PRAGMA query_only=ON")  # the file became read-only under us


@pytest.mark.parametrize("failure", ["disk full", "read-only"])
def test_without_the_intent_log_a_failed_commit_means_the_order_is_not_sent(tmp_path, failure):
    oms, broker, *_ = build_env(tmp_path, intent_log=False)
    broker.journal_path = None  # a second reader of a full database is not what this test is about
    make_unwritable(oms.journal._db, failure)
    sent = 0
    with pytest.raises(Exception, match="full|readonly"):
        for i in range(1, 500):
            sent += oms.submit(order(oms, quantity=i % 40 + 1)).status is OrderStatus.SUBMITTED
    assert len(broker.submitted) == sent  # the order whose journal write failed never reached the broker
    journaled = set(oms.journal.load().orders)
    assert all(coid in journaled for coid in broker.submitted)


@pytest.mark.parametrize("failure", ["disk full", "read-only"])
def test_with_the_intent_log_a_failed_commit_stops_new_orders_and_loses_none_sent(tmp_path, failure):
    from alluse.execution.oms import JournalUnavailable

    oms, broker, _, clock, _ = build_env(tmp_path)
    make_unwritable(oms.journal._db, failure)
    for i in range(1, 500):  # each durable in the log before it is sent; the flush 2 ms later commits them
        oms.submit(order(oms, quantity=1, limit_price=Decimal(200) - Decimal(i) / 100))
        clock.advance(2_000_000)
        if oms.journal_error:
            break
    assert oms.counters.journal_failures == 1 and oms.journal.pending  # the group commit failed
    with pytest.raises(JournalUnavailable):
        oms.submit(order(oms))
    assert broker.submitted and all(broker.seen_in_journal) and len(broker.seen_in_journal) == len(broker.submitted)
    oms.journal.close()  # its last commit fails too; the intents stay in the log
    reopened = Journal(tmp_path / "j.db")  # a restart: the log is replayed into the database
    assert reopened.replayed >= 1
    assert set(broker.submitted) <= set(reopened.load().orders)  # (with the denied ones, intents too)
    reopened.close()


def test_a_full_log_is_committed_and_started_over_and_if_that_fails_the_order_is_not_sent(tmp_path, monkeypatch):
    from alluse.execution import intent_log

    monkeypatch.setattr(intent_log, "CAPACITY", 1024)  # room for a few records
    oms, broker, *_ = build_env(tmp_path)
    log_file = tmp_path / "j.db-intents"
    for i in range(1, 8):  # more than fit: a full log commits what it holds and starts over
        assert oms.submit(order(oms, quantity=i)).status is OrderStatus.SUBMITTED
    assert oms.journal.writes > 1 and all(broker.seen_in_journal)
    make_unwritable(oms.journal._db, "read-only")
    for _ in range(100):  # fill it again; the order that finds it full cannot be committed, and is not sent
        before = read_records(log_file)
        try:
            oms.submit(order(oms, quantity=len(broker.submitted) + 1))
        except Exception as exc:
            assert "readonly" in str(exc)
            break
    else:
        pytest.fail("the log never filled up")
    assert read_records(log_file) == before  # nothing of the refused order in the log
    sent = list(broker.submitted)
    oms.journal._db.execute("PRAGMA query_only=OFF")  # the disk is back, but a failed write stops new orders
    with pytest.raises(JournalUnavailable):  # until a restart has recovered (as after a failed group commit)
        oms.submit(order(oms, quantity=99))
    oms.journal.close()
    assert broker.submitted == sent
    assert set(broker.submitted) <= set(Journal(tmp_path / "j.db").load().orders)


def test_broker_events_are_committed_within_the_flush_interval_without_another_order(env, tmp_path):
    import sqlite3

    oms, broker, _, clock, _ = env

    def committed_kinds():
        db = sqlite3.connect(tmp_path / "j.db")
        try:
            return [r[0] for r in db.execute("SELECT kind FROM events WHERE client_order_id IS NOT NULL")]
        finally:
            db.close()

    o = oms.submit(order(oms))
    broker.emit(OrderEvent(EventKind.ACCEPTED, o.client_order_id, 2, venue_order_id="V1"))
    broker.emit(OrderEvent(EventKind.FILL, o.client_order_id, 3, fill=fill(o, 10, "199.50", "F1")))
    # the intent is in the intent log (the broker saw it there); in memory, the order is FILLED already
    assert committed_kinds() == [] and oms.journal.pending and broker.seen_in_journal == [True]
    clock.advance(1_999_999)
    assert committed_kinds() == []
    clock.advance(1)  # the default 2 ms: one transaction for both events
    assert committed_kinds() == ["SUBMIT", "ACCEPTED", "FILL"] and oms.journal.pending == 0


def test_a_failed_group_commit_stops_new_orders_and_keeps_the_events_for_a_later_commit(env):
    from alluse.execution.oms import JournalUnavailable

    oms, broker, _, clock, _ = env
    o = oms.submit(order(oms))
    oms.journal._db.execute("PRAGMA query_only=ON")  # the disk went read-only under us
    broker.emit(OrderEvent(EventKind.ACCEPTED, o.client_order_id, 2, venue_order_id="V1"))
    assert oms.journal_error is None and o.status is OrderStatus.ACCEPTED  # waiting in memory: no write yet
    clock.advance(2_000_000)  # the flush fails
    assert oms.counters.journal_failures == 1 and "readonly" in oms.journal_error and oms.journal.pending
    with pytest.raises(JournalUnavailable):
        oms.submit(order(oms))
    assert broker.submitted == [o.client_order_id]  # nothing further reached the broker
    broker.emit(OrderEvent(EventKind.FILL, o.client_order_id, 3, fill=fill(o, 10, "199.50", "F1")))
    clock.advance(2_000_000)  # a later event schedules another try, which fails the same way
    assert oms.counters.journal_failures == 2
    oms.journal._db.execute("PRAGMA query_only=OFF")
    oms.journal.flush()  # the disk is back: nothing that waited was dropped
    assert [e["kind"] for e in oms.journal.events(o.client_order_id)] == ["SUBMIT", "ACCEPTED", "FILL"]


def test_a_fill_repeated_inside_one_settlement_is_booked_once_and_the_journal_keeps_working(env):
    from alluse.model.events import SettlementEvent

    oms, broker, _, clock, _ = env
    f = Fill("EXPIRY-1", "Gen-Acc", "AAPL", Side.SELL, 5, Decimal("190"), Decimal("0"), 4, "X1", "X")
    broker.settle(SettlementEvent("Gen-Acc", "assignment", (f, f), 4))
    assert oms.ledger.position("Gen-Acc", "AAPL") == -5  # once, not twice
    clock.advance(2_000_000)  # the group commit that carries it succeeds
    assert oms.journal.pending == 0 and oms.journal_error is None
    assert oms.submit(order(oms)).status is OrderStatus.SUBMITTED  # and orders still go out


def test_a_settlement_heard_before_recovery_waits_for_it_and_is_booked_once(tmp_path):
    """A venue that restarted behind the journal settles an expiry the journal already holds, and says so before
    recovery has read the journal: the settlement waits, and once the ledger is replayed it is seen as booked (the
    journal once refused the repeated fill id at recovery's first write, and the run could not start)."""
    from alluse.model.events import SettlementEvent

    f = Fill("EXPIRY-1", "Gen-Acc", "AAPL", Side.SELL, 5, Decimal("190"), Decimal("0"), 4, "X1", "X")
    oms, broker, _, clock, _ = build_env(tmp_path)
    broker.settle(SettlementEvent("Gen-Acc", "assignment", (f,), 4))
    clock.advance(2_000_000)
    oms.journal.close()
    oms, broker, _, clock, kernel = build_env(tmp_path, recover=False)  # the restart, on the same journal
    broker.settle(SettlementEvent("Gen-Acc", "assignment", (f,), 4))  # the venue settles it again, early
    assert oms.journal.pending == 0  # nothing written before the journal is read
    kernel.recover()
    assert oms.ledger.position("Gen-Acc", "AAPL") == -5 and oms.counters.settlements == 0  # once, from the journal
    fresh = Fill("EXPIRY-2", "Gen-Acc", "AAPL", Side.SELL, 1, Decimal("190"), Decimal("0"), 5, "X2", "X")
    broker.settle(SettlementEvent("Gen-Acc", "exercise", (fresh,), 5))  # after recovery: at once
    assert oms.ledger.position("Gen-Acc", "AAPL") == -6
    clock.advance(2_000_000)
    assert oms.journal.pending == 0 and oms.journal_error is None


@pytest.mark.parametrize("intent_log", [True, False])
def test_a_failing_journal_write_is_the_same_error_counter_and_critical_line_with_or_without_the_intent_log(
    tmp_path, caplog, intent_log
):
    """With the intent log the failure shows at its group commit, without it at the order's own commit: either
    way the order manager says it the same way and sends nothing more (issue #14)."""
    oms, broker, _, clock, _ = build_env(tmp_path, intent_log=intent_log)
    broker.journal_path = None
    oms.submit(order(oms))
    make_unwritable(oms.journal._db, "read-only")
    with caplog.at_level("CRITICAL", logger="alluse.oms"):
        with pytest.raises(JournalUnavailable, match="journal write failed: .*readonly"):
            for _ in range(10):
                oms.submit(order(oms))
                clock.advance(2_000_000)  # the group commit, where there is one
    assert oms.counters.journal_failures == 1
    [line] = [r.getMessage() for r in caplog.records if r.levelname == "CRITICAL"]
    assert line.startswith("journal write failed:") and "no new orders until restart" in line
