"""Predictive alerts: where a series is heading, by a straight line through its recent samples.

Per rule, each new sample of the series refits an ordinary least-squares line to the rule's window (the
last `window_s` of wall time) and reads it `horizon_s` ahead. The line's value there is the rule's series
(`<metric>:predicted{rule=...}`), so the alert fires when the forecast itself is past the threshold, as
Prometheus' `predict_linear` does. Firing on the interval's bad-side bound instead would call a flat series
near its line "predicted" for its noise alone, which is the ordinary rule's question, not a trend's. The
95 % prediction interval of the forecast (of a new observation there, Student's t on n - 2 degrees of
freedom) and the time the line crosses the threshold go into the alert's description.

The interval takes the residuals as independent. Monitoring series are autocorrelated, so it understates
the uncertainty: it says how tightly a line fits the window, not a calibrated probability. Nothing is
forecast (no value: the rule neither fires nor resets) from fewer than `min_points` samples or a window
spanning less than `min_span_s`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from alluse.common.clock import NS, ns_to_datetime
from alluse.monitoring.config import AlertRuleConfig, PredictiveRuleConfig
from alluse.monitoring.series import PREDICTED, of_rule
from alluse.monitoring.window import TimeWindow

CONFIDENCE = 0.95  # of the interval the notes report


def t_quantile(p: float, df: int) -> float:
    """Student's t quantile by its Cornish-Fisher expansion around the normal one (Abramowitz & Stegun 26.7.5,
    four terms): within 0.15 % of the exact value from 3 degrees of freedom at p = 0.975, 0.01 % from 5.
    The standard library has the normal distribution only, and scipy stays out of monitoring."""
    if df < 1:
        raise ValueError(f"df={df!r}: must be at least 1")
    z = NormalDist().inv_cdf(p)
    z2 = z * z
    g1 = z * (z2 + 1) / 4
    g2 = z * ((5 * z2 + 16) * z2 + 3) / 96
    g3 = z * (((3 * z2 + 19) * z2 + 17) * z2 - 15) / 384
    g4 = z * ((((79 * z2 + 776) * z2 + 1482) * z2 - 1920) * z2 - 945) / 92160
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


@dataclass(slots=True, frozen=True)
class Line:
    """y = level + slope * x, x in seconds from the fit's `now` (so `level` is the line now), with what its
    prediction interval needs: the residuals' standard deviation, the points, their mean x and spread."""

    level: float
    slope: float  # per second
    sd: float
    points: int
    x_mean: float
    sxx: float

    def at(self, x_s: float) -> float:
        return self.level + self.slope * x_s

    def interval(self, x_s: float, confidence: float = CONFIDENCE) -> tuple[float, float]:
        """Where a new observation at `x_s` falls with probability `confidence`, if the line and the
        independent residuals are right."""
        n = self.points
        se = self.sd * math.sqrt(1 + 1 / n + (x_s - self.x_mean) ** 2 / self.sxx)
        half = t_quantile((1 + confidence) / 2, n - 2) * se
        y = self.at(x_s)
        return y - half, y + half

    def crossing_s(self, threshold: float) -> float | None:
        """Seconds from now at which the line is at `threshold` (negative: it passed it before now); None if flat."""
        return None if self.slope == 0 else (threshold - self.level) / self.slope


def fit_line(times_ns: np.ndarray, values: np.ndarray, now_ns: int) -> Line | None:
    """Least squares through the samples, x in seconds from `now_ns`; None with fewer than 3 (no residual left)."""
    n = len(values)
    if n < 3:
        return None
    x = (times_ns - now_ns) / NS  # int64 difference first: epoch nanoseconds do not fit a double's 53 bits
    x_mean, y_mean = float(x.mean()), float(values.mean())
    dx = x - x_mean
    sxx = float(dx @ dx)
    if sxx == 0:
        return None
    slope = float(dx @ (values - y_mean)) / sxx
    residuals = values - y_mean - slope * dx
    sd = math.sqrt(float(residuals @ residuals) / (n - 2))
    return Line(y_mean - slope * x_mean, slope, sd, n, x_mean, sxx)


@dataclass(slots=True, frozen=True)
class Forecast:
    """One rule's forecast now: `value` (the line at `at_ns`, the rule's series) within [lo, hi], and when the
    line crosses the threshold if it heads that way (`crossing_ns`; before `now_ns` if it already has)."""

    metric: str
    now_ns: int
    at_ns: int
    value: float
    lo: float
    hi: float
    threshold: float
    crossing_ns: int | None
    points: int
    span_s: float

    def note(self) -> str:
        """What the alert's description leads with."""
        if self.crossing_ns is None:
            crossing = f"the line is level or heads away from {self.threshold:.4g}"
        elif self.crossing_ns <= self.now_ns:
            crossing = f"the line passed {self.threshold:.4g} at {_when(self.crossing_ns)}"
        else:
            minutes = (self.crossing_ns - self.now_ns) / NS / 60
            crossing = f"crossing {self.threshold:.4g} expected at {_when(self.crossing_ns)} (in {minutes:.1f} min)"
        return (
            f"predicted: {self.metric} {self.value:.4g} at {_when(self.at_ns)} "
            f"({CONFIDENCE:.0%} interval {self.lo:.4g} to {self.hi:.4g}; a line through {self.points} samples "
            f"over {self.span_s / 60:.1f} min); {crossing}"
        )


def _when(ts_ns: int) -> str:
    return ns_to_datetime(ts_ns).isoformat(timespec="seconds")


class Predictor:
    """One predictive rule: the window of its series and the alert rule over the forecast it derives."""

    def __init__(self, cfg: PredictiveRuleConfig) -> None:
        self.cfg = cfg
        self.metric = cfg.metric
        self.rule = AlertRuleConfig(
            name=cfg.name,
            metric=of_rule(cfg.metric, PREDICTED, cfg.name),
            comparison=cfg.comparison,
            threshold=cfg.threshold,
            for_s=cfg.for_s,
            severity=cfg.severity,
            clear_threshold=cfg.clear_threshold,
            description=cfg.description
            or f"{cfg.metric} forecast {cfg.comparison} {cfg.threshold:g} within {cfg.horizon_s / 60:g} min",
        )
        self.window = TimeWindow(cfg.window_s)
        self._horizon_s = cfg.horizon_s
        self._worse = 1 if cfg.comparison in (">", ">=") else -1  # the direction the bad side lies in

    def observe(self, now_ns: int, value: float) -> Forecast | None:
        """Take the series' newest sample; the forecast from the window ending at it, or None (too little data)."""
        w, cfg = self.window, self.cfg
        if not math.isfinite(value) or not w.add(now_ns, value):
            return None
        if len(w) < cfg.min_points or w.span_s < cfg.min_span_s:
            return None
        line = fit_line(w.times_ns, w.values, now_ns)
        if line is None:
            return None
        lo, hi = line.interval(self._horizon_s)
        crossing = line.crossing_s(cfg.threshold) if line.slope * self._worse > 0 else None
        return Forecast(
            metric=cfg.metric,
            now_ns=now_ns,
            at_ns=now_ns + round(self._horizon_s * NS),
            value=line.at(self._horizon_s),
            lo=lo,
            hi=hi,
            threshold=cfg.threshold,
            crossing_ns=None if crossing is None else now_ns + round(crossing * NS),
            points=len(w),
            span_s=w.span_s,
        )
