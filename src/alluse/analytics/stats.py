"""Summary statistics of one series over the window: the figures the grade and the tables quote."""

from __future__ import annotations

import numpy as np

from alluse.analytics.results import SeriesData, SeriesStats, Skipped


def series_stats(s: SeriesData) -> SeriesStats | Skipped:
    """Count, mean, spread and tail percentiles of the finite samples; gaps (NaN) are not readings,
    so they neither count nor drag the mean."""
    finite = np.isfinite(s.values)
    v = np.asarray(s.values, dtype=np.float64)[finite]
    if v.size == 0:
        return Skipped("stats", s.name, "no finite samples in the window")
    ts = np.asarray(s.ts_ns)[finite]
    p50, p95, p99 = np.percentile(v, [50, 95, 99])
    return SeriesStats(
        series=s.name,
        count=int(v.size),
        mean=float(v.mean()),
        std=float(v.std()),
        min=float(v.min()),
        p50=float(p50),
        p95=float(p95),
        p99=float(p99),
        max=float(v.max()),
        first_ns=int(ts[0]),
        last_ns=int(ts[-1]),
    )
