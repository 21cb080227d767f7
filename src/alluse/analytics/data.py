"""What a report reads: the series of a window from the metrics store, and the alerts raised in it.

Both files are opened read-only, so a report can be built while `alluse run` is writing them.
A counter's running total is left out (it only ever rises: every trend would be "rising"); its
`:rate` series says the same thing per second and is analysed instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from alluse.analytics.catalog import is_cumulative
from alluse.analytics.results import NS_PER_HOUR, NS_PER_S, AlertRecord, RunStart, SeriesData, Skipped, Window
from alluse.analytics.warmup import COUNTER, find_run_starts
from alluse.monitoring.alert_history import ALERTS_FILE, AlertHistory, AlertHistoryError
from alluse.monitoring.store import METRICS_FILE, MetricsReader, MetricsStore, MetricsStoreError
from alluse.monitoring.store_writer import MINUTE_NS

_ALERT_LIMIT = 10_000  # newest events kept in a report; a window with more says so


class ReportInputError(Exception):
    """The report cannot be built from what was given: the message names the input and its value."""


@dataclass(slots=True)
class ReportInput:
    window: Window
    series: list[SeriesData]
    alerts: list[AlertRecord]
    skipped: list[Skipped]
    run_starts: list[RunStart] = field(default_factory=list)  # where runs began (analytics/warmup.py)


def resolve_window(reader: MetricsReader, *, hours: float | None, since_ns: int | None) -> Window | None:
    """The window ends just after the newest stored sample (a report on a stopped system covers its last
    hours, not the empty time since) and starts `hours` before that, or at `since_ns`. None: the store
    has no samples."""
    if hours is not None and (not math.isfinite(hours) or hours <= 0):
        raise ReportInputError(f"hours={hours!r}: must be a positive number")
    newest = max((ts for ts, _ in reader.latest().values()), default=None)
    if newest is None:
        return None
    end = newest + 1
    if since_ns is not None:
        if since_ns >= end:
            raise ReportInputError(f"since={since_ns!r}: after the newest stored sample ({newest})")
        return Window(since_ns, end)
    return Window(end - int((24.0 if hours is None else hours) * NS_PER_HOUR), end)


def rebuild_minutes(minutes: list[tuple[int, int, float, float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """Stand-in samples for folded minutes (minute_ts_ns, count, sum, min, max): each minute becomes `count`
    samples spread over it, one at its min, one at its max and the rest at the value that keeps its sum,
    so count, sum (hence mean), min and max are exactly the stored ones; only the spread inside a minute
    is not (it was not kept)."""
    if not minutes:
        return np.empty(0, np.int64), np.empty(0)
    m_ts, count, total, lo, hi = (np.asarray(col) for col in zip(*minutes, strict=True))
    count = count.astype(np.int64)
    middle = np.where(count > 2, (total - lo - hi) / np.maximum(count - 2, 1), lo)
    values = np.repeat(np.clip(middle, lo, hi), count)
    first = np.cumsum(count) - count
    values[first] = lo
    values[first + count // 2] = hi  # count 1: the same slot, and lo == hi
    within = np.arange(values.size) - np.repeat(first, count)
    ts = np.repeat(m_ts.astype(np.int64), count) + ((within + 0.5) * (MINUTE_NS / np.repeat(count, count))).astype(
        np.int64
    )
    return ts, values


def load_series(reader: MetricsReader, window: Window, prefix: str = "alluse_") -> list[SeriesData]:
    """Every series with samples in the window, counters' running totals excepted, sorted by name.
    Where the store keeps only 1-minute aggregates, they are rebuilt as stand-in samples (`rebuild_minutes`)."""
    out = []
    for name, rows in reader.query_rows(prefix, window.start_ns, window.end_ns).items():
        if not (rows.raw or rows.minutes) or is_cumulative(name):
            continue
        ts, values = rebuild_minutes(rows.minutes)
        rebuilt = int(ts.size)
        if rows.raw:
            raw_ts, raw_values = zip(*rows.raw, strict=True)
            ts = np.concatenate([ts, np.fromiter(raw_ts, np.int64, len(raw_ts))])
            values = np.concatenate([values, np.fromiter(raw_values, np.float64, len(raw_ts))])
            order = np.argsort(ts, kind="stable")  # a late raw sample may sit inside a folded minute
            ts, values = ts[order], values[order]
        out.append(SeriesData(name, ts, values, rebuilt))
    return out


def load_alerts(path: Path, window: Window) -> tuple[list[AlertRecord], Skipped | None]:
    """The alert events of the window, oldest first; a missing or unreadable history is a skipped part."""
    if not path.exists():
        return [], Skipped("alerts", None, f"no alert history at {path}")
    try:
        history = AlertHistory(path, readonly=True)
    except AlertHistoryError as exc:
        return [], Skipped("alerts", None, str(exc))
    try:
        events = history.history(since_ns=window.start_ns, limit=_ALERT_LIMIT)
    finally:
        history.close()
    records = [
        AlertRecord(e.ts_ns, e.rule, e.severity, e.state.value, e.metric, e.value, e.threshold, e.description)
        for e in reversed(events)
        if e.ts_ns < window.end_ns
    ]
    note = None
    if len(events) == _ALERT_LIMIT:
        note = Skipped("alerts", None, f"more than {_ALERT_LIMIT} alert events in the window: the oldest are left out")
    return records, note


def metrics_store_path(data_dir: Path) -> Path:
    """Where a data dir keeps its metrics store; an error naming the dir when it has none (checked before any
    output is made for it)."""
    if data_dir.exists() and not data_dir.is_dir():
        raise ReportInputError(f"data_dir={str(data_dir)!r}: not a directory")
    store_path = data_dir / METRICS_FILE
    if not store_path.exists():
        raise ReportInputError(f"data_dir={str(data_dir)!r}: no metrics store ({METRICS_FILE}); run `alluse run` first")
    return store_path


def read_data_dir(
    data_dir: Path, *, hours: float | None = None, since_ns: int | None = None, warmup_s: float = 0.0
) -> ReportInput:
    """The report's input from a data dir (metrics.db, alerts.db). A missing metrics store is an error;
    an empty one gives an input with no series and says why. The window starts no earlier than the
    oldest sample in it. Run starts are looked for from `warmup_s` before the window: one there still warms up in it."""
    store_path = metrics_store_path(data_dir)
    try:
        reader = MetricsStore.open_readonly(store_path)
    except MetricsStoreError as exc:  # not a database, another program's, newer: left untouched
        raise ReportInputError(str(exc)) from None
    try:
        window = resolve_window(reader, hours=hours, since_ns=since_ns)
        if window is None:
            return ReportInput(Window(0, 0), [], [], [Skipped("data", None, f"{store_path} holds no samples")])
        series = load_series(reader, window)
        lookback = int(warmup_s * NS_PER_S)
        counter = reader.query_rows(COUNTER, window.start_ns - lookback, window.end_ns).get(COUNTER)
    finally:
        reader.close()
    first = min((int(s.ts_ns[0]) for s in series), default=None)
    starts = find_run_starts(counter, first, window.start_ns)
    if first is not None:  # the report covers the data, not the empty hours before a short run began
        window = Window(max(window.start_ns, first), window.end_ns)
    alerts, note = load_alerts(data_dir / ALERTS_FILE, window)
    skipped = [] if note is None else [note]
    if not series:
        skipped.append(Skipped("data", None, "no samples in the window"))
    return ReportInput(window, series, alerts, skipped, starts)
