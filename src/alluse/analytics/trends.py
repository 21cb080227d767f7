"""Is a series drifting over the window, and is the drift real? A least-squares line with its p-value.

Metrics sampled every second are far from independent (CPU, memory or a latency percentile now is
close to what it was a second ago), and an ordinary least-squares p-value that treats n such samples
as n independent ones is far too small: it finds trends in trendless noise (docs/performance.md says
how often). The p-value here uses the effective number of independent samples instead,
n_eff = n (1 - r1) / (1 + r1) with r1 the lag-1 autocorrelation of the residuals (Bretherton et al.
1999; Santer et al. 2000), which brings the share of such false trends back near alpha.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from alluse.analytics import catalog
from alluse.analytics.results import NS_PER_HOUR, NS_PER_S, SeriesData, Skipped, TooShort, Trend
from alluse.analytics.units import span_text


def effective_n(residuals: np.ndarray) -> float:
    """n (1 - r1) / (1 + r1) for positively autocorrelated residuals (r1 in sample order, so irregular
    sampling counts neighbours as neighbours); n itself when r1 <= 0 (never more than the samples)."""
    n = residuals.size
    r = residuals - residuals.mean()
    denom = float(np.dot(r, r))
    r1 = float(np.dot(r[:-1], r[1:])) / denom if denom > 0 else 0.0
    return float(n) if r1 <= 0 else n * (1 - r1) / (1 + r1)


def _p_value(slope: float, stderr: float, n: int, n_eff: float) -> float | None:
    """Two-sided p of the slope with its standard error widened to n_eff samples; None when fewer than
    3 independent samples remain (no residual degree of freedom to judge a line by)."""
    if n_eff < 3 or not np.isfinite(stderr):
        return None
    if stderr == 0:  # an exact line through varying values
        return 0.0
    t = slope / (stderr * np.sqrt((n - 2) / (n_eff - 2)))
    return float(2 * stats.t.sf(abs(t), n_eff - 2))


def fit_trend(s: SeriesData, *, alpha: float, min_points: int, min_span_s: float) -> Trend | Skipped:
    """Regress value on hours since the first finite sample, using the real timestamps so irregular
    sampling and gaps do not bend the slope. A slope only counts (direction, worsening) when p < alpha.
    Fewer than `min_points` finite samples, or fewer than `min_span_s` from first to last, is "too short":
    no line, rather than a slope per hour extrapolated from a minute."""
    finite = np.isfinite(s.values)
    v = np.asarray(s.values, dtype=np.float64)[finite]
    ts = np.asarray(s.ts_ns, dtype=np.int64)[finite]
    had_s = (int(ts[-1]) - int(ts[0])) / NS_PER_S if v.size else 0.0
    if v.size < min_points or had_s < min_span_s:
        return Skipped(
            "trends",
            s.name,
            f"{v.size} finite samples over {span_text(had_s)}: too short, a trend needs at least {min_points} "
            f"over {span_text(min_span_s)}",
            TooShort(had_s, min_span_s, int(v.size), min_points),
        )
    t0 = int(ts[0])
    hours = (ts - t0) / NS_PER_HOUR
    span_hours = float(hours[-1] - hours[0])
    if span_hours == 0.0:
        return Skipped("trends", s.name, f"all {v.size} finite samples share one timestamp, no slope to fit")
    mean = float(v.mean())
    higher_is_worse = catalog.higher_is_worse(s.name)

    if np.ptp(v) == 0.0:  # a flat line fits exactly; linregress would divide by zero
        slope, intercept, r2, p_value, n_eff = 0.0, float(v[0]), 0.0, None, float(v.size)
    else:
        fit = stats.linregress(hours, v)
        slope, intercept, r2 = float(fit.slope), float(fit.intercept), float(fit.rvalue**2)
        n_eff = effective_n(v - (intercept + slope * hours))
        p_value = _p_value(slope, float(fit.stderr), int(v.size), n_eff)

    significant = p_value is not None and p_value < alpha
    direction = ("rising" if slope > 0 else "falling") if significant else "flat"
    worsening = None if higher_is_worse is None else significant and (slope > 0) == higher_is_worse
    return Trend(
        series=s.name,
        n=int(v.size),
        n_effective=n_eff,
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
