"""The alert rules of a cluster: the single process's, with `feed_stalled` judged by the quotes' age (an agent's
feed is the gateway's, at IB's rate), and failures no single process can see in itself. Each agent watches for
agents that stopped beating without leaving (evaluated by its own engine, recorded in PostgreSQL); Prometheus
watches for a process it cannot scrape (`up == 0`), the one rule that must live outside the processes it is
about."""

from __future__ import annotations

from typing import Any

from alluse.monitoring import series
from alluse.monitoring.alert_rules import predictive_rules_from_config, run_rules
from alluse.monitoring.config import AlertRuleConfig, AlertsConfig, MonitoringConfig
from alluse.monitoring.prometheus_rules import duration, render, rules_document

AGENTS_SILENT = "alluse_cluster_agents_silent"
PROCESS_DOWN_FOR_S = 5.0

FEED_SILENT_S = 30.0
# an agent's quotes come at the rate IB gives the gateway for its sleeves, far under the simulated market's
# 1,000 a second the single process's feed_stalled expects: in a cluster the feed is stalled when it is silent
FEED_STALLED = AlertRuleConfig(
    name="feed_stalled", metric=series.QUOTE_AGE_SECONDS, comparison=">", threshold=FEED_SILENT_S, for_s=10,
    severity="critical", market_hours_only=True,
    description=f"no quote from the gateway for {FEED_SILENT_S:g} s while the market is open",
)  # fmt: skip

CLUSTER_RULES = (
    AlertRuleConfig(name="agent_silent", metric=AGENTS_SILENT, comparison=">", threshold=0, severity="critical",
                    description="an agent stopped beating without leaving; the others took its accounts"),
)  # fmt: skip


def cluster_rules(alerts: AlertsConfig) -> list[AlertRuleConfig]:
    """The single process's rules (without the metrics store's: a cluster keeps none) and the cluster's, less
    those `[alerts] disabled_rules` names."""
    ours = {r.name for r in CLUSTER_RULES}
    theirs = alerts.model_copy(update={"disabled_rules": [n for n in alerts.disabled_rules if n not in ours]})
    own = {r.name for r in alerts.rules}  # a rule of the config's own replaces the cluster's version too
    rules = [FEED_STALLED if r.name == FEED_STALLED.name and r.name not in own else r
             for r in run_rules(theirs, store=False)]  # fmt: skip
    return [*rules, *(r for r in CLUSTER_RULES if r.name not in alerts.disabled_rules)]


def process_down(monitoring: MonitoringConfig) -> dict[str, Any]:
    """Prometheus' alerting rule for a process it cannot scrape: dead, stopped or cut off."""
    return {
        "alert": "process_down",
        "expr": "up == 0",
        "for": duration(max(PROCESS_DOWN_FOR_S, monitoring.interval_s)),
        "labels": {"severity": "critical"},
        "annotations": {"summary": "a cluster process does not answer Prometheus' scrape ({{ $labels.instance }})"},
    }


def prometheus_rules_file(alerts: AlertsConfig, monitoring: MonitoringConfig) -> str:
    """The rules file Prometheus evaluates for a cluster: the processes' own rules, then `process_down`."""
    rules = cluster_rules(alerts)
    document = rules_document(rules, monitoring, predictive_rules_from_config(alerts, rules))
    document["groups"][0]["rules"].append(process_down(monitoring))
    return render(document)
