"""Alert rules: the built-in set, merging it with the config, and the start-up check against real series.

The rule types themselves are `config.AlertRuleConfig` and, for what is coming rather than what is,
`config.PredictiveRuleConfig` and `config.AnomalyRuleConfig` (validated where the config is read, so a bad
comparison or a negative duration names its key). Whether a rule's metric exists can only be
known once the collector has its sources, so `validate_rules` runs at start and refuses to run
with a rule that could never fire.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from difflib import get_close_matches
from typing import TypeVar

from alluse.common.config_base import ConfigError
from alluse.monitoring import series as s
from alluse.monitoring.config import (
    PREDICTIVE_COMPARISONS,
    AlertRuleConfig,
    AlertsConfig,
    AnomalyRuleConfig,
    PredictiveRuleConfig,
)

GiB = 1024**3
FEED_FLOOR_PER_S = 1000.0  # accepted quotes per wall second in session; a real IB login's lines give less: override

COMPARATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


class AlertRuleError(ConfigError):
    """A rule that cannot work (unknown metric, unknown name to disable, duplicate name)."""


def default_rules() -> list[AlertRuleConfig]:
    """The built-in rules: the seed's six (trading error rate, trading latency, market-data throughput and
    latency, memory, CPU) and four of our own. Durations are wall seconds; clear thresholds sit a margin inside
    the firing threshold so that a value hovering at the line does not flap."""
    return [
        AlertRuleConfig(
            name="trading_error_rate",
            metric=s.TRADING_ERROR_RATIO,
            comparison=">",
            threshold=0.01,
            for_s=10,
            clear_threshold=0.005,
            severity="critical",
            description="more than 1% of the orders sent in the window were rejected",
        ),
        AlertRuleConfig(
            name="order_latency_p99",
            metric=s.ORDER_LATENCY_P99,
            comparison=">",
            threshold=0.025,
            for_s=30,
            clear_threshold=0.020,
            severity="warning",
            description="order latency (submit to venue acknowledgement) p99 above 25 ms",
        ),
        AlertRuleConfig(
            name="feed_stalled",
            metric=s.QUOTES_ACCEPTED_RATE,
            comparison="<",
            threshold=FEED_FLOOR_PER_S,
            for_s=10,
            severity="critical",
            market_hours_only=True,
            description=f"market-data feed stalled or under {FEED_FLOOR_PER_S:,.0f} quotes/s while the market is open",
        ),
        AlertRuleConfig(
            name="feed_latency_p99",
            metric=s.FEED_LATENCY_P99,
            comparison=">",
            threshold=0.001,
            for_s=30,
            clear_threshold=0.0008,
            severity="warning",
            description="market-data latency p99 above 1 ms",
        ),
        AlertRuleConfig(
            name="broker_disconnected",
            metric=s.BROKER_CONNECTED,
            comparison="==",
            threshold=0,
            for_s=5,
            severity="critical",
            description="broker connection down",
        ),
        AlertRuleConfig(
            name="memory_high",
            metric=s.PROCESS_RSS_BYTES,
            comparison=">",
            threshold=8 * GiB,
            for_s=60,
            clear_threshold=6 * GiB,
            severity="warning",
            description="process memory (RSS) above 8 GiB",
        ),
        AlertRuleConfig(
            name="cpu_high",
            metric=s.PROCESS_CPU_PERCENT,
            comparison=">",
            threshold=90,
            for_s=60,
            clear_threshold=70,
            severity="critical",
            description="process CPU above 90% of a core for a minute",
        ),
        AlertRuleConfig(
            name="stale_quotes_high",
            metric=s.STALE_QUOTE_RATIO,
            comparison=">",
            threshold=0.2,
            for_s=30,
            clear_threshold=0.1,
            severity="warning",
            description="more than 20% of quote reads are stale",
        ),
        AlertRuleConfig(
            name="daily_loss_near_limit",
            metric=s.DAILY_LOSS_LIMIT_USED_RATIO,
            comparison=">",
            threshold=0.8,
            for_s=0,
            clear_threshold=0.7,
            severity="critical",
            description="daily loss above 80% of its limit",
        ),
        AlertRuleConfig(
            name="metrics_store_failing",
            metric=s.METRICS_STORE_HEALTHY,
            comparison="==",
            threshold=0,
            for_s=5,
            severity="warning",
            description="the metrics store cannot write (locked, full or not a database): samples are dropped",
        ),
    ]


def default_predictive_rules(rules: Iterable[AlertRuleConfig]) -> list[PredictiveRuleConfig]:
    """The built-in predictions, of the threshold rules in force (`rules`), so that overriding `memory_high`
    moves its prediction too: RSS forecast past memory_high's threshold within 30 minutes, by a line through
    the last 30 minutes once they span 10 (the first seconds' growth is start-up, not a trend)."""
    memory = next((r for r in rules if r.name == "memory_high"), None)
    if memory is None or memory.comparison not in PREDICTIVE_COMPARISONS:
        return []
    return [
        PredictiveRuleConfig(
            name="memory_high_predicted",
            metric=memory.metric,
            comparison=memory.comparison,
            threshold=memory.threshold,
            horizon_s=1800,
            window_s=1800,
            min_span_s=600,
            min_points=60,
            for_s=120,
            severity="warning",
            description=f"process memory (RSS) forecast past memory_high's {memory.threshold / GiB:g} GiB in 30 min",
        )
    ]


def default_anomaly_rules() -> list[AnomalyRuleConfig]:
    """The built-in streaming anomaly rules: the order path's own latency, its typical order (p90, over the
    collector's window), far above its median of the last 30 minutes for 15 s. Read off histogram buckets a
    factor 2 to 2.5 apart, the p90 sits at a few values with almost no spread between: the scale is at least
    half the median, so firing takes a p90 over 5 times its median. (Not the p99: over a minute of a few
    orders a second that is the minute's slowest order, and one pause in a clean run held it 8 times up.)"""
    return [
        AnomalyRuleConfig(
            name="order_submit_latency_anomaly",
            metric=s.ORDER_SUBMIT_P90,
            side="high",
            z_threshold=8,
            min_relative_scale=0.5,
            window_s=1800,
            min_points=30,
            for_s=15,
            severity="warning",
            description="the order path's own latency (p90) over 5 times its median of the last 30 min",
        )
    ]


_Rule = TypeVar("_Rule", bound=AlertRuleConfig | PredictiveRuleConfig | AnomalyRuleConfig)


def _merged(builtin: list[_Rule], own: list[_Rule], disabled: list[str]) -> list[_Rule]:
    """Built-ins minus the disabled, each replaced in place by a configured rule of its name; then the others."""
    mine = {r.name: r for r in own}
    merged = [mine.pop(r.name, r) for r in builtin if r.name not in disabled]
    return merged + list(mine.values())


def rules_from_config(cfg: AlertsConfig) -> list[AlertRuleConfig]:
    """Built-ins (unless turned off) minus `disabled_rules`, then the configured rules, which replace
    a built-in of the same name in place. `disabled_rules` may name any built-in, predictive and anomaly ones too."""
    builtin = default_rules() if cfg.default_rules else []
    builtin_names = {r.name for r in builtin}
    if cfg.default_rules:
        builtin_names |= {r.name for r in default_predictive_rules(builtin)} | {r.name for r in default_anomaly_rules()}
    for name in cfg.disabled_rules:
        if name not in builtin_names:
            known = ", ".join(sorted(builtin_names)) or "none: default_rules = false"
            raise AlertRuleError(f"alerts.disabled_rules: {name!r} is not a built-in rule (built-ins: {known})")
    return _merged(builtin, cfg.rules, cfg.disabled_rules)


def predictive_rules_from_config(cfg: AlertsConfig, rules: Iterable[AlertRuleConfig]) -> list[PredictiveRuleConfig]:
    """As `rules_from_config`, for `predictive`; `rules` are the threshold rules in force, which built-ins follow."""
    builtin = default_predictive_rules(rules) if cfg.default_rules else []
    return _merged(builtin, cfg.predictive, cfg.disabled_rules)


def anomaly_rules_from_config(cfg: AlertsConfig) -> list[AnomalyRuleConfig]:
    """As `rules_from_config`, for `anomaly`."""
    return _merged(default_anomaly_rules() if cfg.default_rules else [], cfg.anomaly, cfg.disabled_rules)


def run_rules(cfg: AlertsConfig, store: bool) -> list[AlertRuleConfig]:
    """The threshold rules a run evaluates (and exports): without a metrics store its rule has nothing to watch."""
    rules = rules_from_config(cfg)
    return rules if store else [r for r in rules if r.metric != s.METRICS_STORE_HEALTHY]


def validate_rules(
    rules: Iterable[AlertRuleConfig | PredictiveRuleConfig | AnomalyRuleConfig], known_series: set[str]
) -> None:
    """Refuse rules with duplicate names or a metric the collector does not produce, naming each (for a
    predictive or anomaly rule, the series it watches: the one it derives exists once it runs)."""
    problems: list[str] = []
    seen: set[str] = set()
    for r in rules:
        if r.name in seen:
            problems.append(f"alert rule {r.name!r}: name used twice")
        seen.add(r.name)
        if r.metric not in known_series:
            hint = get_close_matches(r.metric, known_series, n=1)
            problems.append(
                f"alert rule {r.name!r}: metric {r.metric!r} is not a known series"
                + (f" (did you mean {hint[0]!r}?)" if hint else "")
            )
    if problems:
        raise AlertRuleError("invalid alert rules:\n" + "\n".join(f"  {p}" for p in problems))
