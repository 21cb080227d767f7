"""The metrics store: batched writes off the caller's thread, queries, 1-minute fold, and failures that
drop and count samples but never reach the caller."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator

import pytest

from alluse.common.metrics import MetricKind, Sample
from alluse.monitoring.store import SCHEMA_VERSION, MetricsStore, MetricsStoreError, open_for_writing
from alluse.monitoring.store_writer import MINUTE_NS

S = 1_000_000_000
M0 = 28_333_334 * MINUTE_NS  # a minute start, in 2023


class FakeClock:
    def __init__(self, now_ns: int) -> None:
        self.now_ns = now_ns

    def __call__(self) -> int:
        return self.now_ns


@pytest.fixture
def stores() -> Iterator[Callable[..., MetricsStore]]:
    made: list[MetricsStore] = []

    def make(path, **kwargs) -> MetricsStore:
        kwargs.setdefault("clock_ns", FakeClock(M0))
        store = MetricsStore(path, **kwargs)
        made.append(store)
        return store

    yield make
    for store in made:
        store.close(timeout_s=2)


def wait_until(condition: Callable[[], bool], timeout_s: float = 2.0) -> None:
    """Polls (1 ms) for a state another thread reaches; fails the test if it never does."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.001)


def tick(t_s: int, n_series: int = 3, base: float = 0.0) -> list[Sample]:
    return [Sample(f"s{i}", M0 + t_s * S, base + i + t_s) for i in range(n_series)]


def hold_write_lock(path) -> sqlite3.Connection:
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    return other


def metric_values(store: MetricsStore) -> dict[str, object]:
    return {m.name: m.value for m in store.metrics()}


def test_round_trip(tmp_path, stores):
    store = stores(tmp_path / "m.db")
    assert store.submit(tick(0) + tick(1)) is True
    assert store.flush()
    assert store.series_names() == ["s0", "s1", "s2"]
    assert store.query("s1", M0, M0 + 2 * S) == [(M0, 1.0), (M0 + S, 2.0)]
    assert store.latest() == {"s0": (M0 + S, 1.0), "s1": (M0 + S, 2.0), "s2": (M0 + S, 3.0)}
    assert (store.written_samples, store.dropped_samples, store.write_errors, store.healthy) == (6, 0, 0, True)


def test_the_callers_list_is_copied(tmp_path, stores):
    store = stores(tmp_path / "m.db")
    batch = tick(0)
    store.submit(batch)
    batch.clear()
    store.flush()
    assert store.written_samples == 3


def test_queued_batches_are_written_together_up_to_batch_max(tmp_path, stores):
    path = tmp_path / "m.db"
    store = stores(path, batch_max=1200, busy_timeout_ms=5000)
    store.flush()  # the first fold is done: the fake clock never makes another due
    blocker = hold_write_lock(path)
    store.submit(tick(0, n_series=500))
    wait_until(lambda: store.queue_depth == 0)  # the writer has it and waits for the lock
    for t in range(1, 6):
        store.submit(tick(t, n_series=500))
    blocker.execute("COMMIT")
    assert store.flush()
    # the first batch alone, then 2,500 queued samples as 1,200 + 300 (one batch_max) and 1,000
    latency = metric_values(store)["alluse_metrics_store_write_latency_seconds"]
    assert latency.count == 4
    assert store.written_samples == 3000 and store.dropped_samples == 0


def test_query_by_range_is_half_open_and_ordered(tmp_path, stores):
    store = stores(tmp_path / "m.db")
    store.submit([Sample("a", M0 + t * S, float(t)) for t in (5, 1, 3, 2, 4)])  # out of order on purpose
    store.submit([Sample("a", M0 + 3 * S, 30.0)])  # the same instant again replaces
    store.flush()
    assert store.query("a", M0 + 2 * S, M0 + 4 * S) == [(M0 + 2 * S, 2.0), (M0 + 3 * S, 30.0)]
    assert store.query("a", M0 + 4 * S, M0 + 4 * S) == []
    assert store.query("a", M0 + 10 * S, M0 + 20 * S) == []
    assert [ts for ts, _ in store.query("a", 0, M0 + 3600 * S)] == [M0 + t * S for t in (1, 2, 3, 4, 5)]
    assert store.query_prefix("a", M0, M0 + 2 * S) == {"a": [(M0 + S, 1.0)]}


def test_query_names_what_it_cannot_answer(tmp_path, stores):
    store = stores(tmp_path / "m.db")
    store.submit(tick(0))
    store.flush()
    with pytest.raises(MetricsStoreError, match=r"series='nope': not in the metrics store"):
        store.query("nope", M0, M0 + S)
    with pytest.raises(MetricsStoreError, match=rf"start_ns={M0 + S} is after end_ns={M0}"):
        store.query("s0", M0 + S, M0)


def test_latest_keeps_the_newest_sample_and_filters_by_prefix(tmp_path, stores):
    store = stores(tmp_path / "m.db")
    store.submit([Sample("cpu", M0 + 10 * S, 1.0), Sample("cpu", M0 + 5 * S, 2.0), Sample("rss", M0, 3.0)])
    store.flush()
    store.submit([Sample("cpu", M0 + 7 * S, 4.0)])  # older than what is stored: a late arrival
    store.flush()
    assert store.latest() == {"cpu": (M0 + 10 * S, 1.0), "rss": (M0, 3.0)}
    assert store.latest("rs") == {"rss": (M0, 3.0)}
    assert store.series_names("c") == ["cpu"]


def test_retention_folds_old_minutes_into_one_minute_rows(tmp_path, stores):
    clock = FakeClock(M0)
    path = tmp_path / "m.db"
    store = stores(path, retention_s=120, fold_every_s=60, clock_ns=clock)
    store.submit(
        [
            Sample("a", M0 + 0 * S, 1.0),
            Sample("a", M0 + 10 * S, 5.0),
            Sample("a", M0 + 50 * S, 3.0),
            Sample("a", M0 + 65 * S, 7.0),
            Sample("b", M0 + 30 * S, -2.0),
            Sample("a", M0 + 300 * S, 9.0),
        ]
    )
    store.flush()
    clock.now_ns = M0 + 301 * S  # minutes ending at or before M0 + 181 s are past retention
    store.flush()
    db = sqlite3.connect(path)
    rows = db.execute(
        "SELECT s.name, m.minute_ts_ns, m.count, m.sum, m.min, m.max"
        " FROM samples_1m m JOIN series s ON s.id = m.series_id ORDER BY s.name, m.minute_ts_ns"
    ).fetchall()
    assert rows == [
        ("a", M0, 3, 9.0, 1.0, 5.0),
        ("a", M0 + MINUTE_NS, 1, 7.0, 7.0, 7.0),
        ("b", M0, 1, -2.0, -2.0, -2.0),
    ]
    assert db.execute("SELECT ts_ns FROM samples").fetchall() == [(M0 + 300 * S,)]
    assert store.query("a", M0, M0 + 400 * S) == [(M0, 3.0), (M0 + MINUTE_NS, 7.0), (M0 + 300 * S, 9.0)]
    assert store.latest()["a"] == (M0 + 300 * S, 9.0)

    store.submit([Sample("a", M0 + 20 * S, 11.0)])  # arrives after its minute was folded
    store.flush()
    assert store.query("a", M0, M0 + 60 * S) == [(M0, 3.0), (M0 + 20 * S, 11.0)]  # until the next fold
    clock.now_ns += 60 * S
    store.flush()
    assert db.execute("SELECT count, sum, min, max FROM samples_1m WHERE minute_ts_ns = ?", (M0,)).fetchall() == [
        (4, 20.0, 1.0, 11.0),
        (1, -2.0, -2.0, -2.0),
    ]
    db.close()


def test_no_fold_before_fold_every_s_has_passed(tmp_path, stores):
    clock = FakeClock(M0)
    store = stores(tmp_path / "m.db", retention_s=60, fold_every_s=60, clock_ns=clock)
    store.submit(tick(0))
    store.flush()  # the first fold ran here, with nothing old enough; the next is due at M0 + 60 s
    clock.now_ns = M0 + 100 * S
    store.flush()  # folds minutes ending by M0 + 40 s: none; the next is due at M0 + 160 s
    clock.now_ns = M0 + 150 * S  # minute M0 is now past retention, but no fold is due
    store.flush()
    assert store.query("s0", M0, M0 + S) == [(M0, 0.0)]
    clock.now_ns = M0 + 160 * S
    store.flush()
    assert store.query("s0", M0, M0 + S) == [(M0, 0.0)]  # now the minute's average, stamped at its start
    db = sqlite3.connect(tmp_path / "m.db")
    assert db.execute("SELECT count(*) FROM samples").fetchone() == (0,)
    db.close()


def test_a_full_queue_drops_and_counts_without_blocking(tmp_path, stores):
    path = tmp_path / "m.db"
    store = stores(path, queue_max=2, busy_timeout_ms=5000)
    blocker = hold_write_lock(path)
    assert store.submit(tick(0))
    wait_until(lambda: store.queue_depth == 0)
    assert store.submit(tick(1)) and store.submit(tick(2))
    t0 = time.perf_counter()
    assert store.submit(tick(3)) is False
    assert store.submit(tick(4)) is False
    assert time.perf_counter() - t0 < 1.0  # waiting on the held lock would take its 5 s busy timeout
    assert store.dropped_samples == 6
    assert metric_values(store)["alluse_metrics_store_queue_batches"] == 2
    blocker.execute("COMMIT")
    assert store.flush()
    assert store.written_samples == 9 and store.dropped_samples == 6
    assert metric_values(store)["alluse_metrics_store_dropped_samples_total"] == 6


def test_a_locked_database_is_counted_and_recovers(tmp_path, stores):
    path = tmp_path / "m.db"
    store = stores(path, busy_timeout_ms=20)
    store.submit(tick(0))
    store.flush()
    blocker = hold_write_lock(path)
    assert store.submit(tick(1)) is True  # accepted: the caller never sees the failure
    store.flush()
    assert store.healthy is False
    assert "database is locked" in store.last_error
    assert (store.write_errors, store.dropped_samples) == (1, 3)
    assert metric_values(store)["alluse_metrics_store_healthy"] == 0.0
    assert store.latest()["s0"] == (M0, 0.0)  # reads go on
    blocker.execute("COMMIT")
    store.submit(tick(2))
    store.flush()
    assert store.healthy is True
    assert metric_values(store)["alluse_metrics_store_healthy"] == 1.0
    assert store.query("s0", M0, M0 + 10 * S) == [(M0, 0.0), (M0 + 2 * S, 2.0)]
    assert (store.write_errors, store.written_samples, store.dropped_samples) == (1, 6, 3)


def test_a_full_disk_is_counted_and_recovers(tmp_path, stores):
    store = stores(tmp_path / "m.db")
    store.submit(tick(0))
    store.flush()
    db = store._writer_db  # the writer is idle between flushes
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count={pages}")  # the disk is now full
    store.submit([Sample(f"new{i}", M0, 1.0) for i in range(2000)])
    store.flush()
    assert not store.healthy and "full" in store.last_error
    assert (store.write_errors, store.dropped_samples) == (1, 2000)
    assert store.series_names() == ["s0", "s1", "s2"]  # the failed batch left nothing behind
    db.execute("PRAGMA max_page_count=1073741823")
    store.submit([Sample(f"new{i}", M0, 1.0) for i in range(2000)])
    store.flush()
    assert store.healthy and store.written_samples == 2003
    assert len(store.series_names("new")) == 2000


def test_malformed_samples_are_skipped_counted_and_the_rest_written(tmp_path, stores, caplog):
    store = stores(tmp_path / "m.db")
    store.submit(
        [
            Sample("ok", M0, 1.0),
            Sample("nan", M0, float("nan")),
            Sample("float_ts", 1.5, 1.0),  # type: ignore[arg-type]
            Sample("", M0, 1.0),
            Sample("text", M0, "abc"),  # type: ignore[arg-type]
            "not a sample",  # type: ignore[list-item]
            Sample("inf", M0, float("inf")),
        ]
    )
    store.flush()
    assert store.invalid_samples == 5 and store.written_samples == 2 and store.healthy
    assert store.latest() == {"ok": (M0, 1.0), "inf": (M0, float("inf"))}
    assert "value is NaN" in caplog.text


@pytest.mark.parametrize(
    "make_file, message",
    [
        (lambda p: p.write_bytes(b"this is not a database\n" * 50), "not a SQLite database"),
        (lambda p: sqlite3.connect(p).execute("CREATE TABLE foo (x)").connection.commit(), "not an alluse metrics"),
        ("newer", f"schema version 99 is newer than this program's {SCHEMA_VERSION}"),
    ],
)
def test_a_foreign_or_newer_file_is_refused_untouched(tmp_path, stores, make_file, message):
    path = tmp_path / "m.db"
    if make_file == "newer":
        db = open_for_writing(path)
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
        db.close()
    else:
        make_file(path)
    before = path.read_bytes()
    store = stores(path)
    assert not store.healthy and message in store.last_error
    assert store.submit(tick(0)) is True
    store.flush()
    assert store.dropped_samples == 3 and store.written_samples == 0
    with pytest.raises(MetricsStoreError, match=message):
        store.latest()
    store.close()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.db"]
    with pytest.raises(MetricsStoreError, match=message):
        MetricsStore.open_readonly(path)  # (SQLite may leave an empty -wal/-shm beside a WAL-mode file)
    assert path.read_bytes() == before


def test_a_refused_file_is_retried_and_used_once_the_cause_is_gone(tmp_path, stores):
    path = tmp_path / "m.db"
    path.write_bytes(b"junk" * 100)
    clock = FakeClock(M0)
    store = stores(path, fold_every_s=60, clock_ns=clock)
    store.submit(tick(0))
    store.flush()
    errors = store.write_errors
    path.unlink()  # the operator moves the junk away
    store.submit(tick(1))
    store.flush()
    assert store.written_samples == 0 and store.write_errors == errors  # not retried before fold_every_s
    clock.now_ns += 60 * S
    store.submit(tick(2))
    store.flush()
    assert store.healthy and store.written_samples == 3
    assert store.latest()["s2"] == (M0 + 2 * S, 4.0)


def test_close_flushes_and_the_file_reads_back_read_only(tmp_path, stores):
    path = tmp_path / "m.db"
    store = stores(path)
    for t in range(50):
        store.submit(tick(t, n_series=100))
    assert store.close() is True
    assert store.written_samples == 5000
    assert store.submit(tick(99)) is False and store.dropped_samples == 3
    reader = MetricsStore.open_readonly(path)
    assert len(reader.series_names()) == 100
    assert len(reader.query("s7", M0, M0 + 60 * S)) == 50
    assert reader.latest("s99") == {"s99": (M0 + 49 * S, 99.0 + 49)}
    reader.close()


def test_a_restart_continues_the_same_series(tmp_path, stores):
    path = tmp_path / "m.db"
    first = stores(path)
    first.submit(tick(0))
    first.close()
    second = stores(path)
    second.submit(tick(1))
    second.flush()
    assert second.series_names() == ["s0", "s1", "s2"]
    assert second.query("s2", M0, M0 + 2 * S) == [(M0, 2.0), (M0 + S, 3.0)]


def test_open_readonly_never_creates_the_file(tmp_path):
    with pytest.raises(MetricsStoreError, match="no such file"):
        MetricsStore.open_readonly(tmp_path / "missing.db")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"retention_s": 0}, "retention_s=0"),
        ({"retention_s": float("nan")}, "retention_s=nan"),
        ({"fold_every_s": -1}, "fold_every_s=-1"),
        ({"queue_max": 0}, "queue_max=0"),
        ({"batch_max": 2.5}, "batch_max=2.5"),
        ({"synchronous": "MAYBE"}, "synchronous='MAYBE'"),
    ],
)
def test_bad_settings_are_refused_by_name(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        MetricsStore(tmp_path / "m.db", **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_metrics_describe_the_store(tmp_path, stores):
    store = stores(tmp_path / "m.db")
    store.submit(tick(0))
    store.flush()
    kinds = {m.name: m.kind for m in store.metrics()}
    assert kinds == {
        "alluse_metrics_store_written_samples_total": MetricKind.COUNTER,
        "alluse_metrics_store_dropped_samples_total": MetricKind.COUNTER,
        "alluse_metrics_store_invalid_samples_total": MetricKind.COUNTER,
        "alluse_metrics_store_write_errors_total": MetricKind.COUNTER,
        "alluse_metrics_store_write_latency_seconds": MetricKind.HISTOGRAM,
        "alluse_metrics_store_queue_batches": MetricKind.GAUGE,
        "alluse_metrics_store_healthy": MetricKind.GAUGE,
    }
    values = metric_values(store)
    assert values["alluse_metrics_store_written_samples_total"] == 3
    assert values["alluse_metrics_store_write_latency_seconds"].count == 1
