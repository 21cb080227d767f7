"""The executive grade: measured figures against configured targets, by a rubric stated here and in
every report (`Grade.rubric`), so a reader can recompute it by hand from the checks shown beside it.

Rubric:
- each target is a check on one statistic of one series over the window (e.g. p95 of the per-second
  order-acknowledgement p99): met = 1, missed by at most `tolerance` x the limit = 0.5 ("near"),
  missed by more = 0; a series with no data in the window is "no data" and does not count;
- a component's score is 100 x the mean of its scored checks: healthy >= 90, degraded >= 60, else unhealthy;
- the overall score is the mean of the component scores (each component weighs the same);
- a critical alert that fired in the window caps the overall score at 79 (at best a C: a run that paged
  someone is not an A or B, whatever its averages); an unhealthy component caps it at 69 (at best a D: one
  part failing is not hidden by the others' averages); a critical check missed caps it at 59 (an F);
  `Grade.caps` says which held the grade down, worst first;
- letter: A >= 90, B >= 80, C >= 70, D >= 60, else F; "n/a" when no check has data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from alluse.analytics.config import TargetConfig
from alluse.analytics.results import Check, ComponentHealth, Grade, SeriesStats
from alluse.monitoring import series as s

CRITICAL_CAP = 79.0  # a critical alert fired: C at best
UNHEALTHY_CAP = 69.0  # a component unhealthy: D at best
CRITICAL_CHECK_CAP = 59.0  # a critical check missed: F
LETTERS = ((90.0, "A"), (80.0, "B"), (70.0, "C"), (60.0, "D"))
HEALTH = ((90.0, "healthy"), (60.0, "degraded"))

RUBRIC = (
    "each check: met 1, missed by <= tolerance x limit 0.5, else 0 (no data: not counted); "
    "component = 100 x mean of its checks (healthy >= 90, degraded >= 60); overall = mean of components; "
    f"a critical alert in the window caps it at {CRITICAL_CAP:g}, an unhealthy component at {UNHEALTHY_CAP:g}, "
    f"a missed critical check at {CRITICAL_CHECK_CAP:g}; A >= 90, B >= 80, C >= 70, D >= 60, else F"
)


def _t(component: str, name: str, series: str, stat: str, *, critical: bool = False, **limit: float) -> TargetConfig:
    return TargetConfig(component=component, name=name, series=series, statistic=stat, critical=critical, **limit)


# What an operator of this system would accept on the 2-core reference machine (README: benchmarks).
DEFAULT_TARGETS: tuple[TargetConfig, ...] = (
    _t("trading", "order ack latency p99", s.ORDER_LATENCY_P99, "p95", at_most=0.005),  # a real venue's only
    _t("trading", "order submit path p99", s.ORDER_SUBMIT_P99, "p95", at_most=0.005),  # our own part, any venue
    _t("trading", "order error ratio", s.TRADING_ERROR_RATIO, "mean", at_most=0.02, critical=True),
    _t("market data", "feed latency p99", s.FEED_LATENCY_P99, "p95", at_most=0.002),
    _t("market data", "quote age", s.QUOTE_AGE_SECONDS, "max", at_most=5.0),
    _t("market data", "quote cache hit ratio", s.CACHE_HIT_RATIO, "mean", at_least=0.9),
    _t("resources", "process CPU", s.PROCESS_CPU_PERCENT, "p95", at_most=80.0),
    _t("resources", "event loop lag", s.EVENT_LOOP_LAG_SECONDS, "p99", at_most=0.1),
    _t("resources", "process memory", s.PROCESS_RSS_BYTES, "max", at_most=2.0 * 2**30),
    _t("monitoring", "metrics store healthy", s.METRICS_STORE_HEALTHY, "min", at_least=1.0),
    _t("broker", "broker connected", s.BROKER_CONNECTED, "mean", at_least=0.99, critical=True),
)


def score_check(target: TargetConfig, stats: SeriesStats | None) -> Check:
    at_most = target.at_most is not None
    limit = target.at_most if at_most else target.at_least
    assert limit is not None  # TargetConfig holds exactly one
    measured = None if stats is None else float(getattr(stats, target.statistic))
    if measured is None:
        score, status = None, "no data"
    else:
        miss = measured - limit if at_most else limit - measured  # > 0: on the wrong side
        if miss <= 0:
            score, status = 1.0, "met"
        elif miss <= target.tolerance * abs(limit):
            score, status = 0.5, "near"
        else:
            score, status = 0.0, "missed"
    return Check(
        component=target.component,
        name=target.name,
        series=target.series,
        statistic=target.statistic,
        comparison="at_most" if at_most else "at_least",
        target=limit,
        tolerance=target.tolerance,
        measured=measured,
        score=score,
        status=status,
    )


def score_text(score: float, decimals: int = 0) -> str:
    """A score rounded *down* for display: 89.6 is a B (or a degraded component) and must not read as 90
    beside it, which rounding to nearest would show."""
    factor = 10**decimals
    return f"{math.floor(score * factor) / factor:.{decimals}f}"


def band(score: float, bands: tuple[tuple[float, str], ...], below: str) -> str:
    return next((label for floor, label in bands if score >= floor), below)


def grade(stats: Mapping[str, SeriesStats], targets: Sequence[TargetConfig], *, critical_alerts: int = 0) -> Grade:
    """The grade of a window from its statistics (series -> stats) and the critical alerts that fired in it."""
    components: dict[str, list[Check]] = {}
    for target in targets:
        components.setdefault(target.component, []).append(score_check(target, stats.get(target.series)))
    health = []
    for component, checks in components.items():
        scored = [c.score for c in checks if c.score is not None]
        if not scored:
            health.append(ComponentHealth(component, None, "no data", checks))
            continue
        value = 100.0 * sum(scored) / len(scored)
        health.append(ComponentHealth(component, value, band(value, HEALTH, "unhealthy"), checks))
    scores = [h.score for h in health if h.score is not None]
    if not scores:
        return Grade("n/a", None, RUBRIC, health, critical_alerts)
    caps = _caps(health, targets, critical_alerts)
    overall = min([sum(scores) / len(scores), *(cap for cap, _ in caps)])
    return Grade(band(overall, LETTERS, "F"), overall, RUBRIC, health, critical_alerts, [why for _, why in caps])


def _caps(
    health: Sequence[ComponentHealth], targets: Sequence[TargetConfig], critical_alerts: int
) -> list[tuple[float, str]]:
    """What holds the overall score down (cap, why), lowest cap first: a failure is never averaged away."""
    critical = {(t.component, t.name) for t in targets if t.critical}
    caps = [
        (CRITICAL_CHECK_CAP, f"critical check missed: {c.component} {c.name} (caps at {CRITICAL_CHECK_CAP:g}, F)")
        for h in health
        for c in h.checks
        if (c.component, c.name) in critical and c.status == "missed"
    ]
    caps += [
        (UNHEALTHY_CAP, f"{h.component} unhealthy at {score_text(h.score)}/100 (caps at {UNHEALTHY_CAP:g}, D)")
        for h in health
        if h.score is not None and h.status == "unhealthy"
    ]
    if critical_alerts > 0:
        caps.append((CRITICAL_CAP, f"{critical_alerts} critical alert(s) fired (caps at {CRITICAL_CAP:g}, C)"))
    return caps
