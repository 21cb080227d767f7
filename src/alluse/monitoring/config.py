"""The monitoring sections: `[monitoring]` (collector, metrics store, Prometheus endpoint) and `[alerts]`
(rules and notifiers). Wall-clock time: they watch the process."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import Field, field_validator, model_validator

from alluse.common.config_base import FiniteFloat, NonNegFloat, PositiveFloat, Section, off_is_none, one_of

ALERT_COMPARISONS = (">", ">=", "<", "<=", "==", "!=")
PREDICTIVE_COMPARISONS = (">", ">=", "<", "<=")  # a line heads past a threshold, it does not hit a value
ANOMALY_SIDES = ("high", "low", "both")  # which departures from the normal an anomaly rule flags
ALERT_SEVERITIES = ("info", "warning", "critical")

RuleName = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.-]+$")]
SeriesName = Annotated[str, Field(min_length=1, pattern=r"^\S+$")]


def check_clear(comparison: str, threshold: float, clear: float | None) -> None:
    """A clear threshold lies on the good side of the threshold (hysteresis), and only where there is a side."""
    if clear is None:
        return
    if comparison in ("==", "!="):
        raise ValueError(f"clear_threshold {clear}: not allowed with comparison {comparison!r}")
    if comparison in (">", ">=") and clear > threshold:
        raise ValueError(f"clear_threshold {clear} is above threshold {threshold}: it must lie on the good side (<=)")
    if comparison in ("<", "<=") and clear < threshold:
        raise ValueError(f"clear_threshold {clear} is below threshold {threshold}: it must lie on the good side (>=)")


class RuleSection(Section):
    """What every alert rule has: a name, the series it watches, how long its condition must hold, a severity."""

    name: RuleName
    metric: SeriesName
    for_s: NonNegFloat = 0.0
    severity: str = "warning"
    description: str = ""

    @field_validator("severity")
    @classmethod
    def _check_severity(cls, v: str) -> str:
        return one_of(v, ALERT_SEVERITIES)


class LineRuleSection(RuleSection):
    """A rule with a line, `comparison threshold`, and optionally a clear threshold on its good side."""

    COMPARISONS: ClassVar[tuple[str, ...]] = ALERT_COMPARISONS
    comparison: str
    threshold: FiniteFloat
    clear_threshold: FiniteFloat | None = None

    @field_validator("comparison")
    @classmethod
    def _check_comparison(cls, v: str) -> str:
        return one_of(v, cls.COMPARISONS, sep=" ")

    @model_validator(mode="after")
    def _check_clear(self) -> LineRuleSection:
        check_clear(self.comparison, self.threshold, self.clear_threshold)
        return self


class AlertRuleConfig(LineRuleSection):
    """One alert rule: `metric comparison threshold` held for `for_s` wall seconds fires it.

    `metric` is a series as the collector names it (`name:suffix{labels}`, see common.metrics.Sample);
    whether it exists is checked at start against the collector's series, not here. With
    `clear_threshold` a firing alert resolves only once the value is past it on the good side
    (hysteresis), so a value hovering at the threshold cannot flap. A `market_hours_only` rule is not
    evaluated while the market is closed (a feed that is silent at night is not stalled): those intervals
    count as no data, which neither fires nor resets its wait.
    """

    market_hours_only: bool = False


class PredictiveRuleConfig(LineRuleSection):
    """A predictive rule: fires when the straight line through `metric`'s samples of the last `window_s`,
    read `horizon_s` ahead, is past `threshold`, for `for_s` wall seconds (monitoring/prediction.py).

    Nothing is forecast from fewer than `min_points` samples or a window spanning less than `min_span_s`:
    a line through the first seconds of a run extrapolates start-up, not a trend. The alert's series is
    `<metric>:predicted{rule="<name>"}`, its events are marked "predicted" and carry the forecast's interval
    and the expected crossing time.
    """

    COMPARISONS = PREDICTIVE_COMPARISONS
    horizon_s: PositiveFloat = 1800.0
    window_s: PositiveFloat = 1800.0
    min_span_s: NonNegFloat = 600.0
    min_points: Annotated[int, Field(ge=5)] = 60  # 3 degrees of freedom at least for the interval
    for_s: NonNegFloat = 120.0

    @model_validator(mode="after")
    def _check_span(self) -> PredictiveRuleConfig:
        if self.min_span_s > self.window_s:
            raise ValueError(f"min_span_s {self.min_span_s:g} is longer than window_s {self.window_s:g}: never met")
        return self


class AnomalyRuleConfig(RuleSection):
    """A streaming anomaly rule: fires when `metric`'s newest value lies more than `z_threshold` robust
    z-scores from the median of its samples of the last `window_s` (on the `side` that is bad), for `for_s`
    wall seconds (monitoring/anomaly_stream.py). No score before the window holds `min_points` samples.
    The robust sd is taken as at least `min_relative_scale` x |median|: a series steadier than its own
    resolution (RSS to 0.1 %; a latency percentile read off histogram buckets a factor 2 apart, about 0.5)
    must not make an ordinary step look extreme; a departure under `z_threshold` x that share never fires.
    The alert's series is `<metric>:anomaly_z{rule="<name>"}`, its events are marked "anomaly" and carry the
    z-score and the window's median.
    """

    side: str = "both"
    z_threshold: PositiveFloat = 8.0
    min_relative_scale: Annotated[float, Field(gt=0, le=10)] = 0.05
    window_s: PositiveFloat = 1800.0
    min_points: Annotated[int, Field(ge=5)] = 30
    for_s: NonNegFloat = 10.0

    @field_validator("side")
    @classmethod
    def _check_side(cls, v: str) -> str:
        return one_of(v, ANOMALY_SIDES)


class AlertsConfig(Section):
    """Alert rules and where notifications go. The built-in rules apply unless `default_rules = false`;
    a rule in `rules` with a built-in rule's name replaces it, `disabled_rules` drops built-ins by name.
    The same holds for the predictive rules (`predictive`) and the streaming anomaly rules (`anomaly`), whose
    built-ins `default_rules` and `disabled_rules` cover too. Optional settings take "off" (TOML has no null)."""

    default_rules: bool = True
    disabled_rules: list[str] = Field(default_factory=list)
    rules: list[AlertRuleConfig] = Field(default_factory=list)
    predictive: list[PredictiveRuleConfig] = Field(default_factory=list)
    anomaly: list[AnomalyRuleConfig] = Field(default_factory=list)
    log: bool = True  # log each event at a level by severity
    file: str | None = "alerts.jsonl"  # JSON lines, relative to the data dir
    webhook_url: str | None = None  # HTTP(S) POST of a JSON body per event
    webhook_timeout_s: PositiveFloat = 2.0
    webhook_retries: Annotated[int, Field(ge=0, le=10)] = 3  # attempts after the first
    webhook_backoff_s: NonNegFloat = 0.5  # doubled after each failed attempt

    @field_validator("file", "webhook_url", mode="before")
    @classmethod
    def _off(cls, v: Any) -> Any:
        return off_is_none(v)

    @field_validator("webhook_url")
    @classmethod
    def _check_url(cls, v: str | None) -> str | None:
        if v is not None and not (v.startswith(("http://", "https://")) and len(v.split("/")[2]) > 0):
            raise ValueError("expected an http:// or https:// URL with a host")
        return v

    @field_validator("rules", "predictive", "anomaly")
    @classmethod
    def _unique_names(cls, rules: list[Any]) -> list[Any]:
        seen: set[str] = set()
        for r in rules:
            if r.name in seen:
                raise ValueError(f"rule name {r.name!r} appears twice")
            seen.add(r.name)
        return rules


class MonitoringConfig(Section):
    """The collector, its store and the Prometheus endpoint (wall-clock time: they watch the process)."""

    enabled: bool = True
    interval_s: Annotated[float, Field(ge=0.05, le=60)] = 1.0
    # rates of events (error and fill ratios, latency percentiles) are over the last `window_s`, and only once it
    # holds `min_orders` orders (`min_observations` latencies): fewer is "insufficient data" (no value), never 0 %
    window_s: Annotated[float, Field(ge=1, le=3600)] = 60.0
    min_orders: Annotated[int, Field(ge=1)] = 10
    min_observations: Annotated[int, Field(ge=1)] = 20
    metrics_port: Annotated[int, Field(ge=0, le=65535)] | None = None  # /metrics and /health; None = off
    metrics_host: str = "127.0.0.1"
    store: bool = True  # data/metrics.db
    retention_s: PositiveFloat = 6 * 3600.0  # raw samples; older ones are kept as 1-minute aggregates
    # most samples per store transaction; smaller bounds each transaction's time, 1 = a transaction per sample
    store_batch_max: Annotated[int, Field(ge=1)] = 10_000

    @field_validator("metrics_port", mode="before")
    @classmethod
    def _off(cls, v: Any) -> Any:
        return off_is_none(v)

    @model_validator(mode="after")
    def _window_holds_ticks(self) -> MonitoringConfig:
        if self.window_s < self.interval_s:
            raise ValueError(f"window_s {self.window_s}: must be at least interval_s ({self.interval_s})")
        return self
