"""Is a series drifting over the window, and is the drift real? A least-squares line with its p-value."""

from __future__ import annotations

import numpy as np
from scipy import stats

from alluse.analytics import catalog
from alluse.analytics.results import NS_PER_HOUR, SeriesData, Skipped, Trend


def fit_trend(s: SeriesData, *, alpha: float, min_points: int) -> Trend | Skipped:
    """Regress value on hours since the first finite sample, using the real timestamps so irregular
    sampling and gaps do not bend the slope. A slope only counts (direction, worsening) when p < alpha."""
    finite = np.isfinite(s.values)
    v = np.asarray(s.values, dtype=np.float64)[finite]
    ts = np.asarray(s.ts_ns, dtype=np.int64)[finite]
    if v.size < min_points:
        return Skipped("trends", s.name, f"{v.size} finite samples, a trend needs at least {min_points}")
    t0 = int(ts[0])
    hours = (ts - t0) / NS_PER_HOUR
    span_hours = float(hours[-1] - hours[0])
    if span_hours == 0.0:
        return Skipped("trends", s.name, f"all {v.size} finite samples share one timestamp, no slope to fit")
    mean = float(v.mean())
    higher_is_worse = catalog.higher_is_worse(s.name)

    if np.ptp(v) == 0.0:  # a flat line fits exactly; linregress would divide by zero
        slope, intercept, r2, p_value = 0.0, float(v[0]), 0.0, None
    else:
        fit = stats.linregress(hours, v)
        slope, intercept, r2 = float(fit.slope), float(fit.intercept), float(fit.rvalue**2)
        p_value = float(fit.pvalue) if np.isfinite(fit.pvalue) else None

    significant = p_value is not None and p_value < alpha
    direction = ("rising" if slope > 0 else "falling") if significant else "flat"
    worsening = None if higher_is_worse is None else significant and (slope > 0) == higher_is_worse
    return Trend(
        series=s.name,
        n=int(v.size),
        t0_ns=t0,
        slope_per_hour=slope,
        intercept=intercept,
        r2=r2,
        p_value=p_value,
        significant=significant,
        direction=direction,
        relative_change=slope * span_hours / abs(mean) if mean != 0 else None,
        higher_is_worse=higher_is_worse,
        worsening=worsening,
    )
