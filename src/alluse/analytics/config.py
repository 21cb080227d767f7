"""The analytics section (`[analytics]`): the report `alluse report` and the end of every run write."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator, model_validator

from alluse.common.config_base import FiniteFloat, NonNegFloat, PositiveFloat, Section, one_of

TARGET_STATISTICS = ("mean", "min", "p50", "p95", "p99", "max")


class TargetConfig(Section):
    """One input of the report's grade: `statistic` of `series` over the window against a limit.

    Exactly one of `at_most` / `at_least`. A miss by at most `tolerance` x the limit scores half."""

    component: Annotated[str, Field(min_length=1, max_length=40)]
    name: Annotated[str, Field(min_length=1, max_length=80)]
    series: Annotated[str, Field(min_length=1, pattern=r"^\S+$")]
    statistic: str = "p95"
    at_most: FiniteFloat | None = None
    at_least: FiniteFloat | None = None
    tolerance: Annotated[float, Field(ge=0, le=10)] = 0.25
    critical: bool = False  # missed (not merely near): the overall grade is an F, whatever the averages

    @field_validator("statistic")
    @classmethod
    def _check_statistic(cls, v: str) -> str:
        return one_of(v, TARGET_STATISTICS)

    @model_validator(mode="after")
    def _one_limit(self) -> TargetConfig:
        if (self.at_most is None) == (self.at_least is None):
            raise ValueError(f"target {self.name!r}: give exactly one of at_most, at_least")
        return self


class AnalyticsConfig(Section):
    """`alluse report` and the report `alluse run` writes at its end (see analytics/)."""

    report_on_exit: bool = True  # `alluse run` writes a report over its own run
    report_dir: str = "report"  # relative to the data dir unless absolute
    max_grid_rows: Annotated[int, Field(ge=10, le=100_000)] = 1440  # aligned bins: 24 h -> 1-minute bins
    min_points: Annotated[int, Field(ge=3)] = 10  # fewest samples for a trend; anomalies and forecasts need 2x
    # seconds after each run start (the data's first, every restart) left out of trends, anomalies and forecasts:
    # rates need two ticks, caches and the first chains are cold, and the windowed series (percentiles, ratios)
    # carry start-up for a whole monitoring.window_s, so it is at least that long (checked where both are known)
    warmup_s: Annotated[float, Field(ge=0, le=3600)] = 60.0
    min_trend_span_s: NonNegFloat = 180.0  # shorter (after the warm-up): "too short", no slope per hour
    min_forecast_history_s: NonNegFloat = 600.0  # shorter history (after the warm-up): "too short", no forecast
    trend_alpha: Annotated[float, Field(gt=0, lt=1)] = 0.05  # a trend is significant when p < alpha
    contamination: Annotated[float, Field(gt=0, le=0.5)] = 0.1  # IsolationForest's expected anomaly share
    robust_threshold: Annotated[float, Field(gt=0)] = 5.0  # |value - median| / (1.4826 MAD) that is an outlier
    seed: int = 0  # IsolationForest's random state: the same data gives the same report
    forecast_horizon_s: PositiveFloat = 1800.0
    forecast_history_points: Annotated[int, Field(ge=20, le=100_000)] = 720  # newest bins a forecast fits on
    forecast_series: list[str] | None = None  # fnmatch patterns; None = the key series (analytics.catalog)
    targets: list[TargetConfig] | None = None  # None = the built-in targets (analytics.grading)
