"""Files written at schema version 1 (tests/fixtures/v1, by tests/fixtures/make_v1_stores.py) still read back
exactly: through every store's writable open (which would upgrade them) and its read-only one."""

import runpy
import shutil
import sqlite3
from pathlib import Path

import pytest

from alluse.brokers.paper.store import SqliteVenueStore, StoredState
from alluse.execution.journal import Journal
from alluse.model import OrderType, TimeInForce
from alluse.monitoring.alert_history import AlertHistory
from alluse.monitoring.store import MetricsStore, SeriesRows, open_for_writing

FIXTURES = Path(__file__).parents[2] / "fixtures"
V1 = FIXTURES / "v1"
made = runpy.run_path(str(FIXTURES / "make_v1_stores.py"))  # the values the script wrote
T0, S, ACCOUNT = made["T0"], made["S"], made["ACCOUNT"]


@pytest.fixture
def v1(tmp_path: Path) -> Path:
    for name in made["FILES"]:
        shutil.copyfile(V1 / name, tmp_path / name)
    return tmp_path


def test_the_fixtures_are_whole_checkpointed_version_1_files():
    assert sorted(p.name for p in V1.iterdir()) == sorted(made["FILES"])  # no -wal, -shm or intent log
    for name in made["FILES"]:
        db = sqlite3.connect(f"file:{V1 / name}?mode=ro", uri=True)
        assert db.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("1",)
        db.close()


@pytest.mark.parametrize("readonly", [True, False])
def test_a_v1_journal_reads_back_exactly(v1, readonly):
    j = Journal(v1 / "journal.db", readonly=readonly)
    state = j.load()
    made_orders = made["new_orders"]()
    assert list(state.orders) == list(made_orders)
    for coid, (status, filled, avg_price, venue_order_id, reason) in made["JOURNAL_ORDERS"].items():
        got, new = state.orders[coid], made_orders[coid]
        assert (got.status, got.filled_qty, got.avg_fill_price) == (status, filled, avg_price), coid
        assert (got.venue_order_id, got.reason) == (venue_order_id, reason), coid
        assert (got.account, got.instrument_id, got.side, got.quantity) == (
            new.account, new.instrument_id, new.side, new.quantity,
        )  # fmt: skip
        assert (got.order_type, got.limit_price, got.time_in_force) == (
            new.order_type, new.limit_price, new.time_in_force,
        )  # fmt: skip
        assert (got.ts_created, got.tag) == (new.ts_created, new.tag)
    assert state.orders["S1-3"].time_in_force is TimeInForce.GTC and state.orders["S1-3"].ts_last == T0 + 9 * S + 1
    assert state.orders["S1-4"].order_type is OrderType.MARKET and state.orders["S1-4"].limit_price is None
    assert state.fills == [made["F_PUT"], made["F_STOCK"], *made["SETTLEMENT"]]
    assert state.deposits == {ACCOUNT: made["DEPOSIT"]} and state.sessions == 1
    assert j.trading_states() == {ACCOUNT: made["TRADING_STATE"]}
    assert j.watermarks() == {ACCOUNT: made["WATERMARK"]}
    assert [(e["kind"], e["client_order_id"], e["status"]) for e in j.events()] == [
        ("SESSION_START", None, None),
        ("DEPOSIT", None, None),
        ("SUBMIT", "S1-1", "SUBMITTED"),
        ("ACCEPTED", "S1-1", "ACCEPTED"),
        ("FILL", "S1-1", "FILLED"),
        ("SUBMIT", "S1-2", "SUBMITTED"),
        ("ACCEPTED", "S1-2", "ACCEPTED"),
        ("FILL", "S1-2", "PARTIALLY_FILLED"),
        ("SUBMIT", "S1-3", "SUBMITTED"),
        ("ACCEPTED", "S1-3", "ACCEPTED"),
        ("CANCEL_REQUEST", "S1-3", "PENDING_CANCEL"),
        ("CANCELED", "S1-3", "CANCELED"),
        ("SUBMIT", "S1-4", "SUBMITTED"),
        ("REJECTED", "S1-4", "REJECTED"),
        ("SUBMIT", "S1-5", "SUBMITTED"),
        ("TRADING_STATE", None, "REDUCING"),
        ("SETTLEMENT", None, None),
        ("SESSION_END", None, None),
    ]
    assert j.events("S1-4")[-1]["detail"] == "insufficient buying power"
    assert j.trading_state_changes(0)[0][1:] == (ACCOUNT, "REDUCING", "risk: drawdown 6.1% past 5%")
    assert j.last_event_ts() == T0 + 21 * S
    assert (j.schema_version(), j.journal_id, j.replayed) == (1, made["JOURNAL_ID"], 0)
    j.close()


@pytest.mark.parametrize("reopen", [False, True])
def test_a_v1_venue_store_reads_back_exactly(v1, reopen):
    instruments = {i.id: i for i in (made["STOCK"], made["PUT"])}
    for _ in range(1 + reopen):  # and again after a writable open has had it
        store = SqliteVenueStore(v1 / "venue.db")
        state = store.load(instruments.get)
        receipts = store.receipts()
        store.close()
    assert state == StoredState(
        accounts=made["VENUE_ACCOUNTS"],
        orders=list(made["VENUE_ORDERS"]),
        fills=list(made["VENUE_FILLS"]),
        venue_seq=2,
        fill_seq=2,
    )
    assert receipts == list(made["VENUE_RECEIPTS"])


@pytest.mark.parametrize("writable_first", [False, True])
def test_a_v1_metrics_store_reads_back_exactly(v1, writable_first):
    path = v1 / "metrics.db"
    if writable_first:
        open_for_writing(path).close()
    reader = MetricsStore.open_readonly(path)
    m0, minute = made["M0"], made["MINUTE_NS"]
    counter, p99 = "alluse_oms_orders_total", 'alluse_order_latency_seconds:p99{venue="paper"}'
    assert reader.series_names() == [counter, p99]
    assert reader.latest() == {counter: (m0 + minute + 10 * S, 8.0), p99: (m0 + minute + 10 * S, -1.5e-9)}
    assert reader.query_rows("", m0, m0 + 2 * minute) == {
        counter: SeriesRows(raw=[(m0 + minute + 10 * S, 8.0)], minutes=[(m0, 2, 8.0, 3.0, 5.0)]),
        p99: SeriesRows(raw=[(m0 + minute + 10 * S, -1.5e-9)], minutes=[(m0, 1, 0.00025, 0.00025, 0.00025)]),
    }
    assert reader.query(counter, m0, m0 + 2 * minute) == [(m0, 4.0), (m0 + minute + 10 * S, 8.0)]
    reader.close()


@pytest.mark.parametrize("readonly", [True, False])
def test_a_v1_alert_history_reads_back_exactly(v1, readonly):
    history = AlertHistory(v1 / "alerts.db", readonly=readonly)
    alerts = made["ALERTS"]
    assert history.history() == list(reversed(alerts))
    assert history.history(state="resolved") == [alerts[1]]
    assert history.open_episodes() == {"store_unhealthy": alerts[2]}
    history.close()
