"""What a report reads: the series of a window from the metrics store, and the alerts raised in it.

Both files are opened read-only, so a report can be built while `alluse run` is writing them.
A counter's running total is left out (it only ever rises: every trend would be "rising"); its
`:rate` series says the same thing per second and is analysed instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alluse.analytics.catalog import is_cumulative
from alluse.analytics.results import NS_PER_HOUR, AlertRecord, SeriesData, Skipped, Window
from alluse.monitoring.alert_history import ALERTS_FILE, AlertHistory, AlertHistoryError
from alluse.monitoring.store import METRICS_FILE, MetricsReader, MetricsStore

_ALERT_LIMIT = 10_000  # newest events kept in a report; a window with more says so


class ReportInputError(Exception):
    """The report cannot be built from what was given: the message names the input and its value."""


@dataclass(slots=True)
class ReportInput:
    window: Window
    series: list[SeriesData]
    alerts: list[AlertRecord]
    skipped: list[Skipped]


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


def load_series(reader: MetricsReader, window: Window, prefix: str = "alluse_") -> list[SeriesData]:
    """Every series with samples in the window, counters' running totals excepted, sorted by name."""
    out = []
    for name, points in reader.query_prefix(prefix, window.start_ns, window.end_ns).items():
        if not points or is_cumulative(name):
            continue
        ts, values = zip(*points, strict=True)
        out.append(SeriesData(name, np.fromiter(ts, np.int64, len(ts)), np.fromiter(values, np.float64, len(ts))))
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


def read_data_dir(data_dir: Path, *, hours: float | None = None, since_ns: int | None = None) -> ReportInput:
    """The report's input from a data dir (metrics.db, alerts.db). A missing metrics store is an error;
    an empty one gives an input with no series and says why. The window starts no earlier than the
    oldest sample in it."""
    store_path = data_dir / METRICS_FILE
    if not store_path.exists():
        raise ReportInputError(f"data_dir={str(data_dir)!r}: no metrics store ({METRICS_FILE}); run `alluse run` first")
    reader = MetricsStore.open_readonly(store_path)
    try:
        window = resolve_window(reader, hours=hours, since_ns=since_ns)
        if window is None:
            return ReportInput(Window(0, 0), [], [], [Skipped("data", None, f"{store_path} holds no samples")])
        series = load_series(reader, window)
    finally:
        reader.close()
    if series:  # the report covers the data, not the empty hours before a short run began
        window = Window(max(window.start_ns, min(int(s.ts_ns[0]) for s in series)), window.end_ns)
    alerts, note = load_alerts(data_dir / ALERTS_FILE, window)
    skipped = [] if note is None else [note]
    if not series:
        skipped.append(Skipped("data", None, "no samples in the window"))
    return ReportInput(window, series, alerts, skipped)
