"""The venue's own store: written before every event, the venue's truth after a restart."""

import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paper_harness import CASH, EXPIRY_NS, MS, PUT, STOCK, T0, D, FakeQuotes, Harness

from alluse.brokers.base import DUPLICATE_ORDER_REASON
from alluse.brokers.paper import PaperVenue, PaperVenueConfig, Receipt, VenueStoreError, VenueWriteFailed
from alluse.brokers.paper.config import FaultConfig
from alluse.common.clock import NS, TestClock, datetime_to_ns
from alluse.execution.journal import Journal
from alluse.model import Equity, Order, OrderStatus, OrderType, Side, TimeInForce
from alluse.model.errors import ErrorClass, classify_exception
from alluse.model.events import EventKind
from alluse.model.registry import InstrumentRegistry

CLOSE_DAY1 = datetime_to_ns(datetime(2026, 1, 5, 20, tzinfo=UTC))


def restart(h: Harness, store: Path, **config) -> Harness:
    """A second venue process on the same store file, continuing in time (the first one is gone)."""
    h.venue.close()
    return Harness(D("1"), store=store, clock=TestClock(h.clock.now_ns()), **config)


def rows(store: Path, sql: str) -> list[tuple]:
    db = sqlite3.connect(store)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


# ---------------------------------------------------------------- restart


def test_restart_restores_accounts_orders_fills_and_continues_ids(tmp_path):
    store = tmp_path / "venue.db"
    h = Harness(store=store)
    h.quote(STOCK.id, 150.00, 150.02, 100, 100)
    h.submit("b1", Side.BUY, 300)  # 100 now, rests for 200
    h.submit("r1", Side.BUY, 50, limit="149.00", tif=TimeInForce.GTC)
    h.submit("x1", Side.BUY, 0)  # refused: the id is used up
    before = h.venue.account_snapshot("A")
    fills_before = h.venue.executions()

    g = restart(h, store)
    assert g.venue.account_snapshot("A") == before  # the seed (cash 1) was ignored: the store wins
    assert [(o.client_order_id, o.status, o.filled_qty) for o in g.venue.open_orders()] == [
        ("b1", OrderStatus.PARTIALLY_FILLED, 100),
        ("r1", OrderStatus.ACCEPTED, 0),
    ]
    assert g.venue.executions() == fills_before
    rejected = g.venue.order_status("x1")
    assert (rejected.status, rejected.reason) == (OrderStatus.REJECTED, "quantity=0: must be a positive whole number")

    g.quote(STOCK.id, 148.90, 149.00, 100, 500)  # the resting orders still trade
    (more,) = g.fills("b1")
    (r1,) = g.fills("r1")
    assert (more.quantity, more.price, more.liquidity) == (200, D("149.00"), "T")  # market order: taker
    assert (r1.quantity, r1.price, r1.liquidity) == (50, D("149.00"), "M")
    assert more.commission == D("0.500")  # 300 shares in all: $1.50 per order, $1.00 charged before
    assert more.fill_id == "P1-F00000002" and r1.fill_id == "P1-F00000003"  # sequence continues
    g.submit("b2", Side.BUY, 1)
    assert g.of("b2")[0].venue_order_id == "P1-000003"
    g.submit("b1", Side.SELL, 1)  # a resend of an old id after the restart is still a duplicate
    assert (g.of("b1")[-1].kind, g.of("b1")[-1].reason) == (EventKind.REJECTED, DUPLICATE_ORDER_REASON)


def test_restart_with_another_id_prefix_keeps_ids_unique(tmp_path):
    store = tmp_path / "venue.db"
    h = Harness(store=store)
    h.quote(STOCK.id, 150.00, 150.02, 500, 500)
    h.submit("b1", Side.BUY, 100)
    g = restart(h, store, id_prefix="P2")
    g.quote(STOCK.id, 150.00, 150.02, 500, 500)
    g.submit("b2", Side.BUY, 100)
    ids = [f.fill_id for f in g.venue.executions()]
    assert ids == ["P1-F00000001", "P2-F00000002"]


def test_day_order_whose_close_passed_while_down_expires_on_restart(tmp_path):
    store = tmp_path / "venue.db"
    h = Harness(store=store)
    h.submit("day", Side.BUY, 100, limit="100.00")
    h.submit("gtc", Side.BUY, 100, limit="100.00", tif=TimeInForce.GTC)
    h.venue.close()
    later = CLOSE_DAY1 + 3 * 3600 * NS  # the process was down through the close
    g = Harness(store=store, clock=TestClock(later))
    assert {o.client_order_id for o in g.venue.open_orders()} == {"day", "gtc"}
    g.submit("new", Side.BUY, 100, limit="100.00")  # accepted after that close: lives until the next
    g.clock.advance(1)
    assert [(e.kind, e.reason) for e in g.of("day")] == [(EventKind.EXPIRED, "session close")]
    assert {o.client_order_id for o in g.venue.open_orders()} == {"gtc", "new"}
    g.clock.advance_to(CLOSE_DAY1 + 24 * 3600 * NS)
    assert g.kinds("new")[-1] is EventKind.EXPIRED
    assert g.venue.order_status("day").status is OrderStatus.EXPIRED


def test_day_order_restored_before_its_close_still_expires_at_it(tmp_path):
    store = tmp_path / "venue.db"
    h = Harness(store=store)
    h.submit("day", Side.BUY, 100, limit="100.00")
    g = restart(h, store)
    g.clock.advance_to(CLOSE_DAY1 - 1)
    assert g.kinds("day") == []
    g.clock.advance_to(CLOSE_DAY1)
    assert g.kinds("day") == [EventKind.EXPIRED]


def test_option_positions_and_orders_still_expire_and_settle_after_restart(tmp_path):
    store = tmp_path / "venue.db"
    h = Harness(store=store)
    h.quote(PUT.id, 2.45, 2.55, 10, 10)
    h.submit("p1", Side.SELL, 1, iid=PUT.id)
    h.submit("p2", Side.BUY, 1, iid=PUT.id, limit="0.05", tif=TimeInForce.GTC)
    g = restart(h, store)
    assert g.venue.account_snapshot("A").reserved_cash == D("20000")
    g.quote(STOCK.id, 195.00, 195.02)
    g.clock.advance_to(EXPIRY_NS)
    assert g.kinds("p2") == [EventKind.EXPIRED]
    assert [s.reason for s in g.settlements] == ["assigned"]
    assert g.venue.account_snapshot("A").positions == {STOCK.id: 100}
    k = restart(g, store)  # the settlement is on record too
    assert k.venue.account_snapshot("A") == g.venue.account_snapshot("A")
    assert [f.client_order_id for f in k.venue.executions()][-2:] == [f"settle:A:{PUT.id}"] * 2


def test_events_in_flight_at_a_crash_are_lost_but_the_store_has_the_decision(tmp_path):
    store = tmp_path / "venue.db"
    h = Harness(store=store, ack_latency_ms=5, fill_latency_ms=5)
    h.quote(STOCK.id, 150.00, 150.02)
    h.submit("b1", Side.BUY, 100)
    assert h.events == []  # "crash" before delivery
    g = restart(h, store)
    g.clock.advance(10 * MS)
    assert g.events == []  # nothing is redelivered: the client asks
    status = g.venue.order_status("b1")
    assert (status.status, status.filled_qty) == (OrderStatus.FILLED, 100)
    assert [f.quantity for f in g.venue.executions("b1")] == [100]


def test_every_decision_is_stored_before_its_event_is_delivered(tmp_path):
    store = tmp_path / "venue.db"
    seen: list[tuple] = []
    h = Harness(store=store)

    def on_event(event):
        # another process (a new connection) reading the store at delivery time sees the decision
        status = rows(store, f"SELECT status, filled_qty FROM orders WHERE client_order_id='{event.client_order_id}'")
        fills = rows(store, f"SELECT count(*) FROM fills WHERE client_order_id='{event.client_order_id}'")
        seen.append((event.kind, status[0], fills[0][0]))

    h.venue.set_event_handler(on_event, lambda s: None)
    h.quote(STOCK.id, 150.00, 150.02, 100, 100)
    h.submit("b1", Side.BUY, 150)
    h.venue.cancel("b1")
    assert seen == [
        (EventKind.ACCEPTED, ("PARTIALLY_FILLED", 100), 1),  # one decision: accepted and filled
        (EventKind.FILL, ("PARTIALLY_FILLED", 100), 1),
        (EventKind.CANCELED, ("CANCELED", 100), 1),
    ]
    # accounts keep their seed; cash and positions are the seed plus the stored fills
    assert rows(store, "SELECT * FROM accounts") == [("A", "100000")]
    assert rows(store, "SELECT quantity, price, commission FROM fills") == [(100, "150.02", "1.00")]


def test_a_failed_store_write_sends_nothing(tmp_path, monkeypatch):
    store = tmp_path / "venue.db"
    h = Harness(store=store)
    h.quote(STOCK.id, 150.00, 150.02)

    class BrokenWrites:  # the venue's real store, but its disk fails every write
        def __init__(self, store):
            self._store = store

        def write(self, batch):
            raise sqlite3.OperationalError("disk I/O error")

        def __getattr__(self, name):
            return getattr(self._store, name)

    # replaced whole: a compiled store's methods cannot be patched (the venue types it as a VenueStore)
    monkeypatch.setattr(h.venue, "_store", BrokenWrites(h.venue._store))
    with pytest.raises(VenueWriteFailed, match="disk I/O error") as err:
        h.submit("b1", Side.BUY, 100)
    assert classify_exception(err.value) is ErrorClass.UNKNOWN  # the client must ask
    assert h.events == []
    monkeypatch.undo()
    g = restart(h, store)
    assert g.venue.order_status("b1") is None  # never stored, so never happened as far as the venue knows
    assert g.venue.account_snapshot("A").cash == CASH


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("order"), st.sampled_from([STOCK, PUT]), st.sampled_from(list(Side)), st.integers(1, 3)),
            st.tuples(st.just("quote"), st.integers(-30, 30), st.integers(0, 200)),
            st.tuples(st.just("cancel"), st.integers(0, 20)),
            st.tuples(st.just("restart")),
        ),
        min_size=3,
        max_size=25,
    )
)
def test_a_restarted_venue_is_the_same_venue(actions):
    """Random flows with restarts: after each restart the venue reports exactly what it reported before."""
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "venue.db"
        h = Harness(store=store)
        n = 0
        for action in actions:
            if action[0] == "order":
                _, inst, side, qty = action
                qty = qty * 50 if inst is STOCK else qty
                limit = "150.00" if inst is STOCK else "2.50"
                h.submit(f"o{n}", side, qty, iid=inst.id, limit=limit, tif=TimeInForce.GTC)
                n += 1
            elif action[0] == "quote":
                _, move, size = action
                h.clock.advance(MS)
                h.quote(STOCK.id, 149.99 + move / 100, 150.01 + move / 100, size, size)
                h.quote(PUT.id, 2.45 + move / 200, 2.55 + move / 200, size // 20, size // 20)
            elif action[0] == "cancel":
                h.venue.cancel(f"o{action[1] % n}" if n else "ghost")
            else:
                before = (
                    h.venue.account_snapshot("A"),
                    h.venue.open_orders(),
                    h.venue.executions(),
                    [h.venue.order_status(f"o{i}") for i in range(n)],
                    h.venue.receipts(),
                )
                h = restart(h, store)
                after = (
                    h.venue.account_snapshot("A"),
                    h.venue.open_orders(),
                    h.venue.executions(),
                    [h.venue.order_status(f"o{i}") for i in range(n)],
                    h.venue.receipts(),
                )
                assert after == before
        h.venue.close()


# ---------------------------------------------------------------- receipts


def test_receipts_record_every_submit_that_reached_the_venue(tmp_path):
    store = tmp_path / "venue.db"
    faults = FaultConfig(seed=1, pacing_reject_rate=1.0)
    h = Harness(store=store, faults=faults)
    h.submit("p1", Side.BUY, 10, limit="100.00")  # paced: the id is not used up
    h.venue.set_faults(FaultConfig(seed=1))
    h.clock.advance(MS)
    h.submit("p1", Side.BUY, 10, limit="100.00")
    h.submit("p1", Side.BUY, 10, limit="100.00")  # a blind resend: refused
    h.submit("bad", Side.BUY, 0)
    expected = [
        Receipt("p1", T0, "pacing"),
        Receipt("p1", T0 + MS, "accepted"),
        Receipt("p1", T0 + MS, "duplicate"),
        Receipt("bad", T0 + MS, "rejected"),
    ]
    assert h.venue.receipts() == expected
    assert [(e.kind, e.reason) for e in h.of("p1")][1:] == [
        (EventKind.ACCEPTED, ""),
        (EventKind.REJECTED, DUPLICATE_ORDER_REASON),
    ]
    g = restart(h, store)
    assert g.venue.receipts() == expected
    assert h.venue.orders_received == 4


def test_receipts_in_memory_without_a_store():
    h = Harness()
    h.submit("a", Side.BUY, 1, limit="1.00")
    h.submit("a", Side.BUY, 1, limit="1.00")
    assert [(r.client_order_id, r.outcome) for r in h.venue.receipts()] == [("a", "accepted"), ("a", "duplicate")]


# ---------------------------------------------------------------- files refused


def _venue(path: Path) -> PaperVenue:
    return PaperVenue(TestClock(T0), InstrumentRegistry([STOCK]), FakeQuotes(), PaperVenueConfig(), path)


def _newer_store(path: Path) -> None:
    _venue(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    db.commit()
    db.close()


def _foreign_sqlite(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()


def _journal(path: Path) -> None:
    Journal(path).close()


def _text(path: Path) -> None:
    path.write_text("account,cash\nA,100\n")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_text, "not a SQLite database (file left untouched)"),
        (_foreign_sqlite, "a SQLite database but not an alluse venue store"),
        (_journal, "a SQLite database but not an alluse venue store"),
        (_newer_store, "schema version 99 is newer than this program's 1"),
    ],
)
def test_store_refused_and_left_untouched(tmp_path, make, message):
    path = tmp_path / "venue.db"
    make(path)
    before = path.read_bytes()
    with pytest.raises(VenueStoreError, match=re.escape(message)):
        _venue(path)
    assert path.read_bytes() == before


def test_truncated_store_is_refused(tmp_path):
    path = tmp_path / "venue.db"
    h = Harness(store=path)
    h.submit("a", Side.BUY, 1, limit="1.00")
    h.venue.close()
    path.write_bytes(path.read_bytes()[:100])  # the SQLite header survives, the pages do not
    before = path.read_bytes()
    with pytest.raises(VenueStoreError):
        _venue(path)
    assert path.read_bytes() == before


def test_store_that_is_a_directory_is_refused(tmp_path):
    with pytest.raises(VenueStoreError, match="is a directory"):
        _venue(tmp_path)


# ---------------------------------------------------------------- kill -9

_CHILD = """
import sys
from decimal import Decimal
from alluse.brokers.paper import PaperVenue, PaperVenueConfig
from alluse.common.clock import TestClock
from alluse.model.registry import InstrumentRegistry
from alluse.model import Equity, Order, OrderType, Quote, Side

class Source:
    def get(self, iid):
        return Quote(iid, 99.99, 100.01, 150, 150, 1, 1)

clock = TestClock(10**18)
venue = PaperVenue(clock, InstrumentRegistry([Equity("S")]), Source(), PaperVenueConfig(), sys.argv[1])
venue.set_event_handler(lambda e: None, lambda s: None)
venue.load_account("A", Decimal(10**9), {})
i = 0
while True:
    i += 1
    clock.advance(1000)
    venue.submit(Order(f"o{i}", "A", "S", Side.BUY if i % 2 else Side.SELL, 100, OrderType.MARKET))
    venue.on_quote(Quote("S", 99.99, 100.01, 150, 150 + i, clock.now_ns(), clock.now_ns()))
    if i % 50 == 0:
        print(i, flush=True)
"""


@pytest.mark.parametrize("lines", [1, 4])
def test_a_venue_killed_mid_burst_restarts_consistent(tmp_path, lines):
    """SIGKILL while the venue writes: what is stored is whole, and the restarted venue carries on."""
    store = tmp_path / "venue.db"
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(store)], stdout=subprocess.PIPE, text=True)
    try:
        for _ in range(lines):
            assert child.stdout.readline()  # the child keeps submitting while we read: the kill lands anywhere
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait()
        child.stdout.close()
    clock = TestClock(10**18 + 10**15)
    venue = PaperVenue(clock, InstrumentRegistry([Equity("S")]), FakeQuotes(), PaperVenueConfig(), store)
    venue.set_event_handler(lambda e: None, lambda s: None)
    receipts = venue.receipts()
    assert len(receipts) >= 50 * lines
    assert len({r.client_order_id for r in receipts}) == len(receipts)  # no id reached the venue twice
    fills = venue.executions()
    assert len({f.fill_id for f in fills}) == len(fills)
    for r in receipts:
        order = venue.order_status(r.client_order_id)
        assert order is not None and order.filled_qty == sum(f.quantity for f in venue.executions(r.client_order_id))
    cash = D(10**9) - sum(f.side.sign * f.quantity * f.price + f.commission for f in fills)
    assert venue.account_snapshot("A").cash == cash
    n = len(receipts)
    venue.submit(Order(f"o{n + 1}", "A", "S", Side.BUY, 1, OrderType.LIMIT, D("1.00")))
    assert venue.order_status(f"o{n + 1}").venue_order_id == f"P1-{n + 1:06d}"
    venue.close()
