"""The monitoring sections: `[monitoring]` (collector, metrics store, Prometheus endpoint) and `[alerts]`
(rules and notifiers). Wall-clock time: they watch the process."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator

from alluse.common.config_base import FiniteFloat, NonNegFloat, PositiveFloat, Section, off_is_none, one_of

ALERT_COMPARISONS = (">", ">=", "<", "<=", "==", "!=")
ALERT_SEVERITIES = ("info", "warning", "critical")


class AlertRuleConfig(Section):
    """One alert rule: `metric comparison threshold` held for `for_s` wall seconds fires it.

    `metric` is a series as the collector names it (`name:suffix{labels}`, see common.metrics.Sample);
    whether it exists is checked at start against the collector's series, not here. With
    `clear_threshold` a firing alert resolves only once the value is past it on the good side
    (hysteresis), so a value hovering at the threshold cannot flap.
    """

    name: Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.-]+$")]
    metric: Annotated[str, Field(min_length=1, pattern=r"^\S+$")]
    comparison: str
    threshold: FiniteFloat
    for_s: NonNegFloat = 0.0
    severity: str = "warning"
    clear_threshold: FiniteFloat | None = None
    description: str = ""

    @field_validator("comparison")
    @classmethod
    def _check_comparison(cls, v: str) -> str:
        return one_of(v, ALERT_COMPARISONS, sep=" ")

    @field_validator("severity")
    @classmethod
    def _check_severity(cls, v: str) -> str:
        return one_of(v, ALERT_SEVERITIES)

    @model_validator(mode="after")
    def _check_clear(self) -> AlertRuleConfig:
        c, t = self.clear_threshold, self.threshold
        if c is None:
            return self
        if self.comparison in ("==", "!="):
            raise ValueError(f"clear_threshold {c}: not allowed with comparison {self.comparison!r}")
        if self.comparison in (">", ">=") and c > t:
            raise ValueError(f"clear_threshold {c} is above threshold {t}: it must lie on the good side (<=)")
        if self.comparison in ("<", "<=") and c < t:
            raise ValueError(f"clear_threshold {c} is below threshold {t}: it must lie on the good side (>=)")
        return self


class AlertsConfig(Section):
    """Alert rules and where notifications go. The built-in rules apply unless `default_rules = false`;
    a rule in `rules` with a built-in rule's name replaces it, `disabled_rules` drops built-ins by name.
    Optional settings take "off" (TOML has no null)."""

    default_rules: bool = True
    disabled_rules: list[str] = Field(default_factory=list)
    rules: list[AlertRuleConfig] = Field(default_factory=list)
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

    @field_validator("rules")
    @classmethod
    def _unique_names(cls, rules: list[AlertRuleConfig]) -> list[AlertRuleConfig]:
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
    # the trading error ratio is over the orders sent in the last `error_window_s`, and only once at least
    # `error_min_orders` were: fewer is "insufficient data" (no value), never a healthy 0 %
    error_window_s: Annotated[float, Field(ge=1, le=3600)] = 60.0
    error_min_orders: Annotated[int, Field(ge=1)] = 10
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
