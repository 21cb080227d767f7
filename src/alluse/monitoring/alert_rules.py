"""Alert rules: the built-in set, merging it with the config, and the start-up check against real series.

The rule type itself is `config.AlertRuleConfig` (validated where the config is read, so a bad
comparison or a negative duration names its key). Whether a rule's metric exists can only be
known once the collector has its sources, so `validate_rules` runs at start and refuses to run
with a rule that could never fire.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from difflib import get_close_matches

from alluse.common.config_base import ConfigError
from alluse.monitoring import series as s
from alluse.monitoring.config import AlertRuleConfig, AlertsConfig

GiB = 1024**3
FEED_FLOOR_PER_S = 1.0  # accepted quotes per wall second; override the `feed_stalled` rule to raise it

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
    """The built-in rules. Durations are wall seconds; clear thresholds sit a margin inside the
    firing threshold so that a value hovering at the line does not flap."""
    return [
        AlertRuleConfig(
            name="trading_error_rate",
            metric=s.TRADING_ERROR_RATIO,
            comparison=">",
            threshold=0.02,
            for_s=10,
            clear_threshold=0.01,
            severity="critical",
            description="more than 2% of orders end in an error",
        ),
        AlertRuleConfig(
            name="order_latency_p99",
            metric=s.ORDER_LATENCY_P99,
            comparison=">",
            threshold=0.020,
            for_s=30,
            clear_threshold=0.015,
            severity="warning",
            description="order latency (submit to venue acknowledgement) p99 above 20 ms",
        ),
        AlertRuleConfig(
            name="feed_stalled",
            metric=s.QUOTES_ACCEPTED_RATE,
            comparison="<",
            threshold=FEED_FLOOR_PER_S,
            for_s=10,
            severity="critical",
            description=f"market-data feed stalled or under {FEED_FLOOR_PER_S:g} quotes/s",
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
            threshold=2 * GiB,
            for_s=60,
            clear_threshold=1.5 * GiB,
            severity="warning",
            description="process memory (RSS) above 2 GiB",
        ),
        AlertRuleConfig(
            name="cpu_high",
            metric=s.PROCESS_CPU_PERCENT,
            comparison=">",
            threshold=90,
            for_s=60,
            clear_threshold=70,
            severity="warning",
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


def rules_from_config(cfg: AlertsConfig) -> list[AlertRuleConfig]:
    """Built-ins (unless turned off) minus `disabled_rules`, then the configured rules, which replace
    a built-in of the same name in place."""
    builtin = default_rules() if cfg.default_rules else []
    builtin_names = {r.name for r in builtin}
    for name in cfg.disabled_rules:
        if name not in builtin_names:
            known = ", ".join(sorted(builtin_names)) or "none: default_rules = false"
            raise AlertRuleError(f"alerts.disabled_rules: {name!r} is not a built-in rule (built-ins: {known})")
    own = {r.name: r for r in cfg.rules}
    merged = [own.pop(r.name, r) for r in builtin if r.name not in cfg.disabled_rules]
    return merged + list(own.values())


def validate_rules(rules: Iterable[AlertRuleConfig], known_series: set[str]) -> None:
    """Refuse rules with duplicate names or a metric the collector does not produce, naming each."""
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
