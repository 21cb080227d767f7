"""The cluster's alert rules (cluster/rules.py) held to Prometheus' own tool: the rules file `alluse cluster up`
writes is accepted by `promtool check rules`, and `promtool test rules` proves `process_down` fires once a
process has not answered a scrape for its `for`, not before, `agent_silent` as soon as an agent is, and
`feed_stalled` once an agent's quotes are 30 s old for 10 s, in session only (the market closed: never)."""

from __future__ import annotations

import json
import subprocess

from alluse.cluster.rules import CLUSTER_RULES, cluster_rules, prometheus_rules_file
from alluse.monitoring.config import AlertsConfig, MonitoringConfig

TEST = """
rule_files: [rules.yml]
evaluation_interval: 1s
tests:
  - interval: 1s
    input_series:
      - series: 'up{job="agent", instance="127.0.0.1:9201"}'
        values: '1 1 0 0 0 0 0 0 0 0 0 0'
      - series: 'alluse_cluster_agents_silent{job="agent", instance="127.0.0.1:9202"}'
        values: '0 0 0 1 1 1 1 1 1 1 1 1'
      - series: 'alluse_quote_age_seconds{job="agent", instance="127.0.0.1:9203"}'
        values: '0+5x30'
      - series: 'alluse_market_open{job="agent", instance="127.0.0.1:9203"}'
        values: '1x30'
      - series: 'alluse_quote_age_seconds{job="agent", instance="127.0.0.1:9204"}'
        values: '0+5x30'
      - series: 'alluse_market_open{job="agent", instance="127.0.0.1:9204"}'
        values: '0x30'
    alert_rule_test:
      - eval_time: 6s
        alertname: process_down
        exp_alerts: []
      - eval_time: 8s
        alertname: process_down
        exp_alerts:
          - exp_labels: {severity: critical, job: agent, instance: "127.0.0.1:9201"}
            exp_annotations:
              summary: "a cluster process does not answer Prometheus' scrape (127.0.0.1:9201)"
      - eval_time: 2s
        alertname: agent_silent
        exp_alerts: []
      - eval_time: 16s
        alertname: feed_stalled
        exp_alerts: []
      - eval_time: 17s
        alertname: feed_stalled
        exp_alerts:
          - exp_labels: {severity: critical, job: agent, instance: "127.0.0.1:9203"}
            exp_annotations:
              summary: "no quote from the gateway for 30 s while the market is open"
              description: "alluse_quote_age_seconds > 30 for 10s while the market is open"
"""


def test_the_cluster_rules_file_passes_promtool_and_its_rules_fire_when_they_should(tmp_path, promtool):
    text = prometheus_rules_file(AlertsConfig(), MonitoringConfig())
    (tmp_path / "rules.yml").write_text(text)
    checked = subprocess.run([promtool, "check", "rules", str(tmp_path / "rules.yml")], capture_output=True,
                             text=True, timeout=60)  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    rules = {r["alert"]: r for r in json.loads(text.split("\n", 2)[2])["groups"][0]["rules"]}
    assert {"agent_silent", "process_down", "trading_error_rate"} <= set(rules)
    assert "metrics_store_failing" not in rules  # a cluster process keeps no metrics store
    silent = rules["agent_silent"]
    fires_at = 3 + int(silent.get("for", "0s").rstrip("s") or 0)
    test = TEST + f"""      - eval_time: {fires_at}s
        alertname: agent_silent
        exp_alerts:
          - exp_labels: {{severity: critical, job: agent, instance: "127.0.0.1:9202"}}
            exp_annotations:
              summary: "{CLUSTER_RULES[0].description}"
              description: "alluse_cluster_agents_silent > 0 for 0s"
"""
    (tmp_path / "test.yml").write_text(test)
    tested = subprocess.run([promtool, "test", "rules", str(tmp_path / "test.yml")], capture_output=True, text=True,
                            timeout=60, cwd=tmp_path)  # fmt: skip
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_a_disabled_cluster_rule_is_left_out():
    names = [r.name for r in cluster_rules(AlertsConfig(disabled_rules=["agent_silent"]))]
    assert "agent_silent" not in names and names
