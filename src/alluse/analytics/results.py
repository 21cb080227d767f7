"""What an analysis produces: plain dataclasses, one definition each.

The JSON report is these objects serialised by pydantic (`report.REPORT_SCHEMA`), so the documented
schema and the code cannot drift apart. Times are epoch nanoseconds (wall clock, as the metrics store
keeps them); values are in the series' own unit (seconds, bytes, ratios, per second).
Anything a part could not do is a `Skipped` naming the part, the series and the reason, never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

NS_PER_S = 1_000_000_000
NS_PER_HOUR = 3600 * NS_PER_S


@dataclass(slots=True, frozen=True)
class Window:
    """[start_ns, end_ns): the span a report covers."""

    start_ns: int
    end_ns: int


@dataclass(slots=True, eq=False)
class SeriesData:
    """One series over the window: sample times (int64 ns, ascending) and values (float64).

    Non-finite values are gaps (a sample that says "no reading"); every part ignores them."""

    name: str
    ts_ns: np.ndarray
    values: np.ndarray
    rebuilt: int = 0  # how many of them stand in for samples the store had folded into 1-minute aggregates


@dataclass(slots=True, eq=False)
class Grid:
    """Series aligned on common bins: `values[i, j]` is the mean of series j's samples in bin i
    ([times_ns[i], times_ns[i] + step_ns)), NaN where it has none."""

    names: list[str]
    times_ns: np.ndarray
    step_ns: int
    values: np.ndarray


@dataclass(slots=True)
class TooShort:
    """A part's data against what the part needs: it is skipped, never extrapolated from less."""

    had_s: float  # the span of its data (a trend: first to last finite sample; a forecast: its history bins)
    needs_s: float
    had_points: int  # finite samples (trends) or history bins (forecasts)
    needs_points: int


@dataclass(slots=True)
class Skipped:
    part: str  # "stats" | "trends" | "anomalies" | "forecasts" | "dashboard" | "alerts"
    series: str | None  # None: the whole part
    reason: str
    too_short: TooShort | None = None  # set when the data was too short for the part (the reason says so)


@dataclass(slots=True, frozen=True)
class RunStart:
    """Where a run (a process writing the store) began: somewhere in [earliest_ns, latest_ns], the same time
    for a raw sample, a minute for one the store has folded into an aggregate."""

    earliest_ns: int
    latest_ns: int
    evidence: str  # how it is known (analytics/warmup.py)


@dataclass(slots=True)
class WarmupSpan:
    """[start_ns, end_ns): a run's start-up, left out of trends, anomalies and forecasts (not statistics)."""

    start_ns: int
    end_ns: int
    evidence: str


@dataclass(slots=True)
class SeriesStats:
    series: str
    count: int  # finite samples in the window
    mean: float
    std: float  # population standard deviation (ddof=0)
    min: float
    p50: float
    p95: float
    p99: float
    max: float
    first_ns: int
    last_ns: int


@dataclass(slots=True)
class Trend:
    """Least-squares line value = intercept + slope_per_hour * hours since t0_ns."""

    series: str
    n: int
    n_effective: float  # n discounted for autocorrelation (see trends.py): what the p-value rests on
    t0_ns: int
    slope_per_hour: float
    intercept: float
    r2: float
    p_value: float | None  # None: a constant series, or fewer than 3 effective samples (no fit to judge)
    significant: bool  # p_value < alpha
    direction: str  # "rising" | "falling" | "flat" (flat = not significant)
    relative_change: float | None  # slope * span_hours / |mean|; None when the mean is 0
    higher_is_worse: bool | None  # None: the series has no better or worse direction
    worsening: bool | None  # significant and moving the bad way; None when higher_is_worse is None


@dataclass(slots=True)
class Standout:
    """A series' contribution to an anomalous window: its value and robust z-score there."""

    series: str
    value: float
    robust_z: float


@dataclass(slots=True)
class AnomalyWindow:
    start_ns: int
    end_ns: int
    score: float  # IsolationForest: -score_samples, higher = more anomalous (max over the window's bins)
    standouts: list[Standout]  # the series furthest from their median there, largest |robust_z| first


@dataclass(slots=True)
class Outlier:
    """One bin of one series beyond the robust threshold: |value - median| / (1.4826 * MAD)."""

    series: str
    ts_ns: int
    value: float
    robust_z: float


@dataclass(slots=True)
class Anomalies:
    step_s: float  # grid bin width
    contamination: float
    robust_threshold: float
    series_used: list[str]  # series with any variation in the window
    windows: list[AnomalyWindow]  # most anomalous first
    outliers: list[Outlier]  # largest |robust_z| first, at most the report's cap (see outlier_counts)
    outlier_counts: dict[str, int]  # series -> all its bins beyond the threshold (series with none left out)


@dataclass(slots=True)
class Forecast:
    series: str
    model: str  # the chosen candidate, e.g. "ETS(A,Ad,N)" or "ARIMA(1,1,1)"
    criterion: str  # how it was chosen, stated
    candidates: dict[str, float]  # candidate -> its held-out error (the criterion's figure)
    step_s: float
    horizon_s: float  # what was forecast
    requested_horizon_s: float
    history_points: int
    notes: list[str]  # why the horizon or history differ from the request (empty: they do not)
    ts_ns: list[int]
    mean: list[float]
    lo80: list[float]
    hi80: list[float]
    lo95: list[float]
    hi95: list[float]
    holdout_points: int  # the tail held out to measure trust
    holdout_mae: float  # mean absolute error of the chosen model on the held-out tail
    holdout_relative_mae: float | None  # MAE / the tail's mean |value| (not a MAPE: no per-point division); None when 0
    holdout_coverage95: float  # share of held-out actuals inside the 95% band


@dataclass(slots=True)
class AlertRecord:
    ts_ns: int
    rule: str
    severity: str
    state: str  # "firing" | "resolved"
    metric: str
    value: float
    threshold: float
    description: str


@dataclass(slots=True)
class Check:
    """One rubric input: a measured figure against its configured target."""

    component: str
    name: str
    series: str
    statistic: str  # a SeriesStats field, e.g. "p99"
    comparison: str  # "at_most" | "at_least"
    target: float
    tolerance: float  # a miss by at most this fraction of the target scores half
    measured: float | None  # None: the series has no data in the window
    score: float | None  # 1 met, 0.5 near, 0 missed, None no data
    status: str  # "met" | "near" | "missed" | "no data"


@dataclass(slots=True)
class ComponentHealth:
    component: str
    score: float | None  # mean of its checks' scores x 100; None when none has data
    status: str  # "healthy" (>= 90) | "degraded" (>= 60) | "unhealthy" | "no data"
    checks: list[Check]


@dataclass(slots=True)
class Grade:
    letter: str  # A..F, or "n/a" when no check has data
    score: float | None  # 0..100
    rubric: str  # the rule, stated
    components: list[ComponentHealth]
    critical_alerts: int  # critical alerts that fired in the window (each caps the grade, see rubric)
    caps: list[str] = field(default_factory=list)  # what held the grade down, worst first ("" none)


@dataclass(slots=True)
class Insight:
    kind: str  # "regression" | "anomaly" | "forecast_breach" | "outlier"
    series: str | None
    text: str


@dataclass(slots=True)
class Report:
    schema_version: int
    generated_ns: int
    window: Window
    sample_count: int
    # of sample_count, those rebuilt from 1-minute aggregates (raw samples older than the store's retention):
    # count, mean, min and max stay exact; spread, percentiles and trends use the minute's shape, not its samples
    rebuilt_sample_count: int
    series_count: int
    stats: list[SeriesStats]
    trends: list[Trend]
    anomalies: Anomalies | None
    forecasts: list[Forecast]
    alerts: list[AlertRecord]
    grade: Grade
    insights: list[Insight]
    skipped: list[Skipped] = field(default_factory=list)
    warmup_s: float = 0.0  # the configured warm-up after each run start (analytics.warmup_s)
    warmups: list[WarmupSpan] = field(default_factory=list)  # the spans it left out, oldest first
