"""The metrics store: every collected sample in SQLite (WAL), written off the caller's thread.

Schema (version SCHEMA_VERSION in `meta`, upgraded by a writable open with the steps in MIGRATIONS:
common/migrations.py; the `samples_1m` table marks the file as a metrics store):
- `series`     id INTEGER PRIMARY KEY, name TEXT UNIQUE (a `Sample.series` key), last_ts_ns, last_value:
               the newest sample, updated in the same transaction as the samples, so `latest()` is one
               small read however many samples are kept;
- `samples`    raw points: minute (= ts_ns // 60e9), series_id, ts_ns (epoch ns, wall time), value REAL;
               PRIMARY KEY (minute, series_id, ts_ns) WITHOUT ROWID. Clustering by minute keeps a batch's
               inserts on the current minute's few pages; a (series_id, ts_ns) key touches one page per
               series per batch, which is slower, and more so as the file grows (docs/performance.md).
               A repeated (series, ts_ns) replaces the earlier value;
- `samples_1m` the 1-minute downsample: series_id, minute_ts_ns (the minute's start), count, sum, min, max;
               PRIMARY KEY (series_id, minute_ts_ns) WITHOUT ROWID. Kept indefinitely (~720k rows a day at
               500 series).

Raw samples are kept `retention_s`; the writer thread then folds each whole minute into `samples_1m` and
deletes its raw rows, in one transaction, at most every `fold_every_s` (so raw data lives between
retention_s and retention_s + 60 s + fold_every_s). A sample arriving after its minute was folded is
merged into that minute at the next fold.

Writes never block the caller: `submit` only puts the batch on a bounded queue, and one writer
thread, with its own connection, writes what has queued in one transaction. A full queue, a failing
write (locked beyond the busy timeout, disk full, read-only) or a file refused at open (not SQLite,
another program's, newer, damaged: left untouched) drops samples and counts them; `healthy` is False
until a write succeeds again, and the store's own metrics say so, for the alert engine.
"""

from __future__ import annotations

import logging
import math
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from alluse.common.metrics import LatencyHistogram, Metric, Sample, counter, gauge, histogram
from alluse.common.migrations import Step
from alluse.common.sqlite_files import BUSY_TIMEOUT_MS, SYNCHRONOUS_MODES, open_readonly, open_wal
from alluse.monitoring.store_writer import MINUTE_NS, SampleWriter

log = logging.getLogger("alluse.monitoring.store")

METRICS_FILE = "metrics.db"
SCHEMA_VERSION = 2
# version 2: money gauges name their unit (Prometheus convention); series stored under the old names are renamed
RENAMED_V2 = {old: f"{old}_usd" for old in (
    "alluse_account_cash", "alluse_account_realized_pnl", "alluse_account_equity", "alluse_account_gross_exposure",
)}  # fmt: skip
MIGRATIONS: tuple[Step, ...] = (  # version `to - 1` -> `to`, oldest first
    Step(2, "series: money gauges renamed to their _usd names", tuple(
        f"UPDATE series SET name = '{new}' || substr(name, {len(old) + 1}) "
        f"WHERE name = '{old}' OR substr(name, 1, {len(old) + 1}) = '{old}{{'"
        for old, new in RENAMED_V2.items()
    )),
)  # fmt: skip
_WHAT = "metrics store"
_MARKER_TABLE = "samples_1m"

WRITTEN_TOTAL = "alluse_metrics_store_written_samples_total"
DROPPED_TOTAL = "alluse_metrics_store_dropped_samples_total"
INVALID_TOTAL = "alluse_metrics_store_invalid_samples_total"
WRITE_ERRORS_TOTAL = "alluse_metrics_store_write_errors_total"
WRITE_LATENCY = "alluse_metrics_store_write_latency_seconds"
QUEUE_BATCHES = "alluse_metrics_store_queue_batches"
HEALTHY = "alluse_metrics_store_healthy"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    last_ts_ns INTEGER,
    last_value REAL
);
CREATE TABLE IF NOT EXISTS samples (
    minute INTEGER NOT NULL,
    series_id INTEGER NOT NULL,
    ts_ns INTEGER NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (minute, series_id, ts_ns)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS samples_1m (
    series_id INTEGER NOT NULL,
    minute_ts_ns INTEGER NOT NULL,
    count INTEGER NOT NULL,
    sum REAL NOT NULL,
    min REAL NOT NULL,
    max REAL NOT NULL,
    PRIMARY KEY (series_id, minute_ts_ns)
) WITHOUT ROWID;
"""

# one index seek per minute of the range: the planner cannot skip-scan the leading `minute` column itself
_RAW_RANGE = """
WITH RECURSIVE m(minute) AS (SELECT ?1 UNION ALL SELECT minute + 1 FROM m WHERE minute < ?2)
SELECT x.ts_ns, x.value FROM m CROSS JOIN samples AS x
WHERE x.minute = m.minute AND x.series_id = ?3 AND x.ts_ns >= ?4 AND x.ts_ns < ?5
ORDER BY x.ts_ns
"""
_DOWNSAMPLED_RANGE = """
SELECT minute_ts_ns, sum / count FROM samples_1m
WHERE series_id = ?1 AND minute_ts_ns >= ?2 AND minute_ts_ns < ?3 ORDER BY minute_ts_ns
"""
_FOLDED_ROWS = """
SELECT minute_ts_ns, count, sum, min, max FROM samples_1m
WHERE series_id = ?1 AND minute_ts_ns >= ?2 AND minute_ts_ns < ?3 ORDER BY minute_ts_ns
"""
_NAME_PREFIX = "substr(name, 1, length(?1)) = ?1"


class MetricsStoreError(Exception):
    """The file cannot be used (it has not been touched), or a query names something the store lacks."""


@dataclass(slots=True)
class SeriesRows:
    """One series over a range as stored: raw samples, and the minutes already folded into aggregates."""

    raw: list[tuple[int, float]]  # (ts_ns, value), oldest first
    minutes: list[tuple[int, int, float, float, float]]  # (minute_ts_ns, count, sum, min, max), oldest first


class MetricsReader:
    """Queries over one connection, from any thread (a lock serialises them); each is one read snapshot."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._lock = threading.Lock()

    def series_names(self, prefix: str = "") -> list[str]:
        """Every stored series whose name starts with `prefix`, sorted."""
        with self._lock:
            return [
                r[0] for r in self._db.execute(f"SELECT name FROM series WHERE {_NAME_PREFIX} ORDER BY name", (prefix,))
            ]

    def latest(self, prefix: str = "") -> dict[str, tuple[int, float]]:
        """series -> (ts_ns, value) of its newest raw sample, for series starting with `prefix`."""
        sql = f"SELECT name, last_ts_ns, last_value FROM series WHERE last_ts_ns IS NOT NULL AND {_NAME_PREFIX}"
        with self._lock:
            return {name: (ts, value) for name, ts, value in self._db.execute(sql, (prefix,))}

    def query(self, series: str, start_ns: int, end_ns: int) -> list[tuple[int, float]]:
        """(ts_ns, value) of `series` with start_ns <= ts_ns < end_ns, oldest first.

        Raw samples where they are kept; where they have been folded, one point per minute: the
        minute's start and its average (sum / count). Raises MetricsStoreError for an unknown series
        or a reversed range."""
        with self._lock, _ReadTransaction(self._db):
            return self._query(series, start_ns, end_ns, self._raw_minutes(start_ns, end_ns))

    def query_prefix(self, prefix: str, start_ns: int, end_ns: int) -> dict[str, list[tuple[int, float]]]:
        """`query` for every series starting with `prefix`, from one snapshot."""
        with self._lock, _ReadTransaction(self._db):
            names = [r[0] for r in self._db.execute(f"SELECT name FROM series WHERE {_NAME_PREFIX}", (prefix,))]
            if not names:
                return {}
            raw_minutes = self._raw_minutes(start_ns, end_ns)
            return {name: self._query(name, start_ns, end_ns, raw_minutes) for name in sorted(names)}

    def query_rows(self, prefix: str, start_ns: int, end_ns: int) -> dict[str, SeriesRows]:
        """Like `query_prefix`, but folded minutes keep their count, sum, min and max instead of becoming
        one averaged point: what an analysis needs to get counts, means and extremes exactly right."""
        with self._lock, _ReadTransaction(self._db):
            db = self._db
            raw_minutes = self._raw_minutes(start_ns, end_ns)
            out = {}
            for sid, name in db.execute(f"SELECT id, name FROM series WHERE {_NAME_PREFIX} ORDER BY name", (prefix,)):
                minutes = db.execute(_FOLDED_ROWS, (sid, start_ns, end_ns)).fetchall()
                out[name] = SeriesRows(self._raw(sid, start_ns, end_ns, raw_minutes), minutes)
            return out

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _query(
        self, series: str, start_ns: int, end_ns: int, raw_minutes: tuple[int, int] | None
    ) -> list[tuple[int, float]]:
        db = self._db
        row = db.execute("SELECT id FROM series WHERE name = ?", (series,)).fetchone()
        if row is None:
            raise MetricsStoreError(f"series={series!r}: not in the metrics store")
        sid = row[0]
        points = db.execute(_DOWNSAMPLED_RANGE, (sid, start_ns, end_ns)).fetchall()
        raw = self._raw(sid, start_ns, end_ns, raw_minutes)
        if points and raw and points[-1][0] > raw[0][0]:  # a late sample not yet folded
            return sorted(points + raw)
        return points + raw

    def _raw_minutes(self, start_ns: int, end_ns: int) -> tuple[int, int] | None:
        """The minutes of [start_ns, end_ns) that still hold raw samples, the same for every series of one
        snapshot (so asked once per query). Raises MetricsStoreError for a reversed range."""
        if start_ns > end_ns:
            raise MetricsStoreError(f"start_ns={start_ns} is after end_ns={end_ns}")
        db = self._db
        # two statements: SQLite answers a lone min() or max() from the index, both together by a full scan
        lo = db.execute("SELECT min(minute) FROM samples").fetchone()[0]
        hi = db.execute("SELECT max(minute) FROM samples").fetchone()[0]
        if lo is None or start_ns == end_ns:
            return None
        lo, hi = max(lo, start_ns // MINUTE_NS), min(hi, (end_ns - 1) // MINUTE_NS)
        return (lo, hi) if lo <= hi else None

    def _raw(
        self, sid: int, start_ns: int, end_ns: int, raw_minutes: tuple[int, int] | None
    ) -> list[tuple[int, float]]:
        if raw_minutes is None:
            return []
        return self._db.execute(_RAW_RANGE, (*raw_minutes, sid, start_ns, end_ns)).fetchall()


def open_for_writing(path: Path, *, synchronous: str = "NORMAL") -> sqlite3.Connection:
    """The store's file, checked then opened (created if missing) with its schema: the writer's connection."""
    return open_wal(
        path,
        _WHAT,
        version=SCHEMA_VERSION,
        marker_table=_MARKER_TABLE,
        schema=_SCHEMA,
        steps=MIGRATIONS,
        synchronous=synchronous,
        error=MetricsStoreError,
    )


class _ReadTransaction:
    """BEGIN ... COMMIT around a multi-statement read, so a fold in between cannot hide or repeat rows."""

    __slots__ = ("_db",)

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN")

    def __exit__(self, *exc: object) -> None:
        self._db.execute("COMMIT")


_STOP = object()


class MetricsStore:
    """The live store: `submit` from the collector, queries from anywhere, `metrics()` for itself."""

    def __init__(
        self,
        path: str | Path,
        *,
        retention_s: float = 6 * 3600,
        queue_max: int = 256,
        batch_max: int = 10_000,
        fold_every_s: float = 60.0,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
        synchronous: str = "NORMAL",
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        for name, value in (("retention_s", retention_s), ("fold_every_s", fold_every_s)):
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name}={value!r}: must be a positive number of seconds")
        for name, value in (("queue_max", queue_max), ("batch_max", batch_max), ("busy_timeout_ms", busy_timeout_ms)):
            if type(value) is not int or value < (0 if name == "busy_timeout_ms" else 1):
                raise ValueError(f"{name}={value!r}: must be a positive int")
        if synchronous not in SYNCHRONOUS_MODES:
            raise ValueError(f"synchronous={synchronous!r}: expected one of {', '.join(SYNCHRONOUS_MODES)}")
        self.path = Path(path)
        self._retention_ns = int(retention_s * 1e9)
        self._fold_every_ns = int(fold_every_s * 1e9)
        self._batch_max = batch_max
        self._busy_timeout_ms = busy_timeout_ms
        self._synchronous = synchronous
        self._clock_ns = clock_ns
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_max)
        self._latency = LatencyHistogram()
        # each counter has one writing thread: submit's on the caller's, the rest on the writer's
        self._dropped_at_submit = 0
        self._dropped_in_writer = 0
        self._written = 0
        self._invalid = 0
        self._write_errors = 0
        self.healthy = True
        self.last_error: str | None = None
        self._dropping = False
        self._closed = False
        self._next_maintenance_ns = 0
        self._writer: SampleWriter | None = None
        self._writer_db: sqlite3.Connection | None = None
        self._reader: MetricsReader | None = None
        self._reader_lock = threading.Lock()
        self._open()
        self._thread = threading.Thread(target=self._run, name="alluse-metrics-writer", daemon=True)
        self._thread.start()

    @staticmethod
    def open_readonly(path: str | Path) -> MetricsReader:
        """An existing store for the CLI: checked, never created or changed. Raises MetricsStoreError.
        Version 1 reads as it is (the same tables; its money series keep their old names until a run upgrades it)."""
        db = open_readonly(Path(path), _WHAT, version=SCHEMA_VERSION, marker_table=_MARKER_TABLE, readable_from=1,
                           error=MetricsStoreError)  # fmt: skip
        return MetricsReader(db)

    # ------------------------------------------------------------------ caller side

    def submit(self, samples: list[Sample]) -> bool:
        """Queue a batch for the writer; never blocks, never raises for the store's sake. False: dropped."""
        batch = list(samples)  # the caller may reuse its list
        if not batch:
            return True
        if self._closed:
            self._dropped_at_submit += len(batch)
            return False
        try:
            self._queue.put_nowait(batch)
        except queue.Full:
            self._dropped_at_submit += len(batch)
            if not self._dropping:
                self._dropping = True
                log.warning("metrics store %s: writer queue full, dropping samples", self.path)
            return False
        self._dropping = False
        return True

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait (blocking: not on the event loop) until everything submitted so far has been handled."""
        if self._closed:
            return False
        done = threading.Event()
        deadline = time.monotonic() + timeout_s
        try:
            self._queue.put(done, timeout=timeout_s)
        except queue.Full:
            return False
        return done.wait(max(0.0, deadline - time.monotonic()))

    def close(self, timeout_s: float = 5.0) -> bool:
        """Write what is queued, stop the writer; False if it did not finish within `timeout_s`."""
        if self._closed:
            return not self._thread.is_alive()
        self._closed = True
        deadline = time.monotonic() + timeout_s
        stopped = False
        try:
            self._queue.put(_STOP, timeout=timeout_s)
            self._thread.join(max(0.0, deadline - time.monotonic()))
            stopped = not self._thread.is_alive()
        except queue.Full:
            pass
        if stopped:
            self._drop_leftovers()
        else:
            log.warning(
                "metrics store %s: writer did not finish within %.1f s; queued samples lost", self.path, timeout_s
            )
        with self._reader_lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None
        return stopped

    # ------------------------------------------------------------------ queries (any thread)

    def series_names(self, prefix: str = "") -> list[str]:
        return self._read().series_names(prefix)

    def latest(self, prefix: str = "") -> dict[str, tuple[int, float]]:
        return self._read().latest(prefix)

    def query(self, series: str, start_ns: int, end_ns: int) -> list[tuple[int, float]]:
        return self._read().query(series, start_ns, end_ns)

    def query_prefix(self, prefix: str, start_ns: int, end_ns: int) -> dict[str, list[tuple[int, float]]]:
        return self._read().query_prefix(prefix, start_ns, end_ns)

    # ------------------------------------------------------------------ its own metrics

    @property
    def written_samples(self) -> int:
        return self._written

    @property
    def dropped_samples(self) -> int:
        """Queue full or closed, plus every sample of a batch whose write failed or found no open file."""
        return self._dropped_at_submit + self._dropped_in_writer

    @property
    def invalid_samples(self) -> int:
        return self._invalid

    @property
    def write_errors(self) -> int:
        """Failed transactions (writes and folds) and failed attempts to open the file."""
        return self._write_errors

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    def metrics(self) -> Iterator[Metric]:
        yield counter(WRITTEN_TOTAL, "Samples written to the metrics store", self._written)
        yield counter(
            DROPPED_TOTAL, "Samples dropped: writer queue full, store failing or closed", self.dropped_samples
        )
        yield counter(INVALID_TOTAL, "Samples skipped as malformed (NaN, non-int ts_ns, bad series)", self._invalid)
        yield counter(WRITE_ERRORS_TOTAL, "Failed metrics store writes, folds and opens", self._write_errors)
        yield histogram(WRITE_LATENCY, "Time to write one batch of samples (one transaction)", self._latency)
        yield gauge(QUEUE_BATCHES, "Batches waiting for the metrics store writer", self._queue.qsize())
        yield gauge(HEALTHY, "1 while metrics store writes succeed, 0 while they fail", 1.0 if self.healthy else 0.0)

    # ------------------------------------------------------------------ writer thread

    def _open(self) -> None:
        """Open (creating if needed) for writing; on a refused or unusable file, record the failure."""
        try:
            db = open_for_writing(self.path, synchronous=self._synchronous)
        except (MetricsStoreError, sqlite3.Error, OSError) as exc:
            self._fail(f"open: {exc}")
            return
        db.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms}")
        self._writer_db = db
        self._writer = SampleWriter(db)

    def _run(self) -> None:
        held: object = None
        try:
            while True:
                item = held if held is not None else self._queue.get()
                held = None
                if type(item) is list:
                    self._maintain()  # first: a file reopened here takes this batch
                    held = self._write_queued(item)
                elif item is _STOP:
                    return
                else:
                    self._maintain()
                    item.set()  # type: ignore[attr-defined]  # a flush marker
        finally:
            if self._writer_db is not None:
                self._writer_db.close()

    def _write_queued(self, batch: list[Sample]) -> object:
        """Write `batch` and whatever else has queued behind it, up to batch_max samples per transaction.
        Returns a control item (flush marker, stop) met while gathering, for the loop to handle next."""
        held = None
        while len(batch) < self._batch_max:
            try:
                more = self._queue.get_nowait()
            except queue.Empty:
                break
            if type(more) is not list:
                held = more
                break
            batch.extend(more)
        for i in range(0, len(batch), self._batch_max):
            self._write(batch[i : i + self._batch_max])
        return held

    def _write(self, chunk: list[Sample]) -> None:
        if self._writer is None:
            self._dropped_in_writer += len(chunk)
            return
        t0 = time.perf_counter_ns()
        try:
            written, bad = self._writer.write(chunk)
        except Exception as exc:  # whatever fails, the writer thread must live on
            self._dropped_in_writer += len(chunk)
            self._fail(f"write of {len(chunk)} samples: {exc}")
            return
        self._latency.observe(time.perf_counter_ns() - t0)
        self._written += written
        if bad:
            if not self._invalid:
                sample, why = bad[0]
                log.warning("metrics store: skipped %d malformed samples, first %r: %s", len(bad), sample, why)
            self._invalid += len(bad)
        self._succeeded()

    def _maintain(self) -> None:
        """Every fold_every_s of clock time: retry opening a refused file, or fold samples past retention."""
        now = self._clock_ns()
        if now < self._next_maintenance_ns:
            return
        self._next_maintenance_ns = now + self._fold_every_ns
        if self._writer is None:
            self._open()
            if self._writer is not None:
                self._succeeded()
            return
        try:
            folded = self._writer.fold(now - self._retention_ns)
        except Exception as exc:  # as for writes: counted, and the thread lives on
            self._fail(f"fold: {exc}")
            return
        if folded:
            log.debug("metrics store: folded %d raw samples into 1-minute rows", folded)

    def _fail(self, what: str) -> None:
        self._write_errors += 1
        self.last_error = f"metrics store {self.path}: {what}"
        if self.healthy:
            self.healthy = False
            log.error("%s; samples are dropped until it recovers", self.last_error)

    def _succeeded(self) -> None:
        if not self.healthy:
            self.healthy = True
            log.warning("metrics store %s: writing again after %d errors", self.path, self._write_errors)

    def _drop_leftovers(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if type(item) is list:
                self._dropped_in_writer += len(item)

    def _read(self) -> MetricsReader:
        with self._reader_lock:
            if self._reader is None:
                if self._closed:
                    raise MetricsStoreError(f"metrics store {self.path}: closed")
                if self._writer is None:
                    raise MetricsStoreError(self.last_error or f"metrics store {self.path}: not open")
                db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
                db.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms}")
                db.execute("PRAGMA query_only=ON")
                self._reader = MetricsReader(db)
            return self._reader
