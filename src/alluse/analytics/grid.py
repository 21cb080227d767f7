"""Put series sampled at their own times onto one grid of common bins.

Anomaly detection and forecasting compare series row by row, so each needs a value per bin; the bin
width is a round number a reader recognises (1 min, 5 min) and bounded so a 24 h window stays cheap.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from alluse.analytics.results import NS_PER_S, Grid, SeriesData, Window

# a collector ticking "every second" is a little late each time (1.0003 s): such a cadence still gets
# 1 s bins (an occasional bin holds two samples or none) rather than 2 s bins that halve the detail
JITTER = 0.05

NICE_STEPS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


def _natural_step_ns(series: Sequence[SeriesData]) -> float:
    """Median gap between consecutive finite samples, pooled over all series (0 when there is no gap)."""
    gaps = [np.diff(s.ts_ns[np.isfinite(s.values)]) for s in series]
    pooled = np.concatenate(gaps) if gaps else np.empty(0, dtype=np.int64)
    return float(np.median(pooled)) if pooled.size else 0.0


def choose_step_ns(series: Sequence[SeriesData], window: Window, max_rows: int) -> int:
    """The smallest nice step no finer than the sampling itself that keeps the grid within max_rows;
    a finer bin would only hold NaN between samples, a coarser one would throw detail away."""
    natural = _natural_step_ns(series)
    span = max(window.end_ns - window.start_ns, 0)
    for step_s in NICE_STEPS_S:
        step = step_s * NS_PER_S
        if step >= natural * (1 - JITTER) and -(-span // step) <= max_rows:
            return step
    return NICE_STEPS_S[-1] * NS_PER_S


def align(series: Sequence[SeriesData], window: Window, step_ns: int) -> Grid:
    """Mean of each series' finite samples per bin [start + i*step, start + (i+1)*step); NaN where a
    series has none. Samples outside the window are ignored."""
    span = max(window.end_ns - window.start_ns, 0)
    n_bins = -(-span // step_ns)
    values = np.full((n_bins, len(series)), np.nan)
    for j, s in enumerate(series):
        ts = np.asarray(s.ts_ns, dtype=np.int64)
        v = np.asarray(s.values, dtype=np.float64)
        keep = np.isfinite(v) & (ts >= window.start_ns) & (ts < window.end_ns)
        bins = (ts[keep] - window.start_ns) // step_ns
        counts = np.bincount(bins, minlength=n_bins)
        sums = np.bincount(bins, weights=v[keep], minlength=n_bins)
        has = counts > 0
        values[has, j] = sums[has] / counts[has]
    times = window.start_ns + np.arange(n_bins, dtype=np.int64) * step_ns
    return Grid(names=[s.name for s in series], times_ns=times, step_ns=step_ns, values=values)
