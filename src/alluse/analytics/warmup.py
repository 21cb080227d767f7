"""A run's first seconds are not its steady state: where runs start in the data, and what is left out.

Start-up looks like trouble that is not there: rates begin at a process's second tick, windowed
percentiles once their window has filled, caches and the first option chains are cold. Fitted over a
short run, those seconds make "anomalies" and bend trends. So `analytics.warmup_s` after every run
start is left out of trends, anomalies and forecasts; the statistics and the grade keep it (a slow
start is something the software did, and a grade must not hide it).

Run starts come from the collector's running total of samples (`series.COLLECTOR_SAMPLES_TOTAL`):
there is one collector per process, its first tick reads 0 and it never falls within a process, so a
0, or a reading below the one before, is a new process, however short the pause before it (a crash
and an immediate restart) and however long a pause without one (a stalled loop, a suspended machine
whose next seconds are exactly what anomaly detection is for). A gap in the samples tells neither.
A store without that series (written by another tool) shows only the start its data does: the first
sample, when the data begins inside the window.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from alluse.analytics.results import NS_PER_S, RunStart, SeriesData, WarmupSpan, Window
from alluse.monitoring.series import COLLECTOR_SAMPLES_TOTAL
from alluse.monitoring.store import SeriesRows
from alluse.monitoring.store_writer import MINUTE_NS

COUNTER = COLLECTOR_SAMPLES_TOTAL
DATA_BEGINS = "the data begins (no collector sample count in the store)"


def counter_starts(rows: SeriesRows) -> list[RunStart]:
    """The starts the collector's running total shows, oldest first.

    A folded minute keeps only its min and max: a start in it (its min 0, or below the reading before)
    lies somewhere in the minute, and its max may be the previous process's, so the minute after it is
    judged by a 0 alone. A late raw sample inside a folded minute is covered by that minute."""
    folded = {m for m, *_ in rows.minutes}
    readings = sorted(
        [(m, m + MINUTE_NS - 1, lo, hi) for m, _, _, lo, hi in rows.minutes]
        + [(t, t, v, v) for t, v in rows.raw if t - t % MINUTE_NS not in folded]
    )
    starts: list[RunStart] = []
    previous: float | None = None
    for first_ns, last_ns, low, high in readings:
        if low == 0 or (previous is not None and low < previous):
            how = "the collector's first tick" if low == 0 else f"the collector's sample count fell to {low:g}"
            if last_ns > first_ns:
                how += ", within a folded minute"
            starts.append(RunStart(first_ns, last_ns, how))
            previous = None if last_ns > first_ns else high
        else:
            previous = high
    return starts


def find_run_starts(counter: SeriesRows | None, first_ns: int | None, requested_start_ns: int) -> list[RunStart]:
    """The collector's count decides where the store has it; else the data's first sample (`first_ns`) is a
    start when the data begins after the window's requested start (the store's first samples are in the window)."""
    if counter is not None and (counter.raw or counter.minutes):
        return counter_starts(counter)
    if first_ns is not None and first_ns > requested_start_ns:
        return [RunStart(first_ns, first_ns, DATA_BEGINS)]
    return []


def warmup_spans(starts: Sequence[RunStart], warmup_s: float, window: Window) -> list[WarmupSpan]:
    """[earliest, latest + warmup_s) for each start, cut to the window, oldest first; a restart within another's
    warm-up extends it (spans never overlap). None when warmup_s is 0."""
    if warmup_s <= 0:
        return []
    length = round(warmup_s * NS_PER_S)
    spans: list[WarmupSpan] = []
    for start in sorted(starts, key=lambda s: s.earliest_ns):
        lo, hi = max(start.earliest_ns, window.start_ns), min(start.latest_ns + length, window.end_ns)
        if lo >= hi:
            continue
        if spans and lo <= spans[-1].end_ns:
            spans[-1].end_ns = max(spans[-1].end_ns, hi)
        else:
            spans.append(WarmupSpan(lo, hi, start.evidence))
    return spans


def without_warmup(series: Sequence[SeriesData], spans: Sequence[WarmupSpan]) -> list[SeriesData]:
    """The series with their samples inside the spans made gaps (NaN, which every part skips); the series
    given are not changed (the statistics use them whole). `spans` as `warmup_spans` returns them."""
    if not spans:
        return list(series)
    bounds = np.array([(s.start_ns, s.end_ns) for s in spans], dtype=np.int64).ravel()  # ascending
    out = []
    for s in series:
        inside = np.searchsorted(bounds, s.ts_ns, side="right") % 2 == 1  # past a start, not past its end
        out.append(SeriesData(s.name, s.ts_ns, np.where(inside, np.nan, s.values), s.rebuilt) if inside.any() else s)
    return out
