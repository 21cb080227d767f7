"""The alert rules as a Prometheus rules file: each series' PromQL, the refusal of a series without one, the
`alluse alerts --prometheus-rules` command, and promtool: `check rules` accepts the file, `test rules` proves
on fixture series (tests/fixtures/prometheus) that the rules fire when they should and not before."""

from __future__ import annotations

import json
import math
import re
import subprocess
from pathlib import Path
from string import Template

import pytest

from alluse.cli import main
from alluse.common.metrics import MetricKind, counter
from alluse.monitoring import prometheus_rules as pr
from alluse.monitoring import series as s
from alluse.monitoring.alert_rules import default_predictive_rules, default_rules, rules_from_config
from alluse.monitoring.collector import DERIVED_SERIES, Collector
from alluse.monitoring.config import ALERT_COMPARISONS, AlertRuleConfig, MonitoringConfig, PredictiveRuleConfig
from alluse.monitoring.prometheus_rules import (
    PrometheusRulesError,
    duration,
    number,
    promql,
    render,
    rules_document,
)
from alluse.monitoring.resources import ResourceSampler

FIXTURE = Path(__file__).parents[2] / "fixtures" / "prometheus" / "alert_rules_test.yml"
FAULT_S = 300  # when each of the fixture's faults starts, in seconds into its test
NS = 1_000_000_000
# the series computed from several counters whose values the fixture checks, by its field names
COMPUTED = {
    "stale_quote_ratio": s.STALE_QUOTE_RATIO,
    "cache_hit_ratio": s.CACHE_HIT_RATIO,
    "trading_error_ratio": s.TRADING_ERROR_RATIO,
    "fill_ratio": s.FILL_RATIO,
    "cpu_percent": s.PROCESS_CPU_PERCENT,
}


def rule(**kw) -> AlertRuleConfig:
    base = {"name": "r", "metric": "alluse_g", "comparison": ">", "threshold": 1.0, "for_s": 0.0}
    return AlertRuleConfig(**(base | kw))


def only_rule(r: AlertRuleConfig, mc: MonitoringConfig | None = None) -> dict:
    (group,) = rules_document([r], mc or MonitoringConfig())["groups"]
    (out,) = group["rules"]
    return out


def parse(text: str) -> dict:
    """The rules file's document: comment lines, then JSON."""
    return json.loads("".join(line for line in text.splitlines(keepends=True) if not line.startswith("#")))


# ---------------------------------------------------------------------------- translation


def test_every_default_rule_translates_with_its_duration_severity_and_threshold():
    mc = MonitoringConfig()
    rules = default_rules()
    (group,) = rules_document(rules, mc)["groups"]
    assert group["name"] == "alluse" and group["interval"] == duration(mc.interval_s)
    assert [g["alert"] for g in group["rules"]] == [r.name for r in rules]
    for r, out in zip(rules, group["rules"], strict=True):
        condition = f"{r.comparison} {number(r.threshold)}"
        assert condition in out["expr"] and out["expr"].count(condition) == 1, out
        assert out["for"] == duration(r.for_s) and out["labels"] == {"severity": r.severity}
        assert out["annotations"]["summary"] == r.description
        assert r.metric in out["annotations"]["description"]
        clear = out["annotations"].get("clear_threshold")
        assert clear == (None if r.clear_threshold is None else number(r.clear_threshold))
        assert (f"{s.MARKET_OPEN} == 1" in out["expr"]) == r.market_hours_only


def test_every_series_the_collector_computes_has_a_translation():
    for metric in (*DERIVED_SERIES, s.PROCESS_CPU_PERCENT):
        assert promql(metric, MonitoringConfig())


@pytest.mark.parametrize(
    "metric,expected",
    [
        ('alluse_trading_state{account="A",state="halted"}', 'alluse_trading_state{account="A",state="halted"}'),
        ('alluse_quotes_total:rate{outcome="accepted"}', 'rate(alluse_quotes_total{outcome="accepted"}[30s])'),
        ("alluse_feed_latency_seconds:rate", "rate(alluse_feed_latency_seconds_count[30s])"),
        (
            'alluse_feed_latency_seconds:p90{venue="v"}',
            'histogram_quantile(0.9, sum by (job, instance, le) (rate(alluse_feed_latency_seconds_bucket{venue="v"}'
            "[30s]))) and on(job, instance) sum by (job, instance) "
            '(increase(alluse_feed_latency_seconds_count{venue="v"}[30s])) >= 9',
        ),
        (
            s.TRADING_ERROR_RATIO,
            'clamp_max(sum by (job, instance) (increase(alluse_orders_total{event="rejected"}[30s])) / '
            'sum by (job, instance) (increase(alluse_orders_total{event="submitted"}[30s])), 1) and on(job, instance) '
            'sum by (job, instance) (increase(alluse_orders_total{event="submitted"}[30s])) >= 7',
        ),
        (s.PROCESS_CPU_PERCENT, "100 * rate(alluse_process_cpu_seconds_total[30s])"),
        (s.PROCESS_RSS_BYTES, s.PROCESS_RSS_BYTES),
        (s.QUOTE_AGE_SECONDS, s.QUOTE_AGE_SECONDS),
    ],
)
def test_each_form_of_series_becomes_its_promql(metric, expected):
    assert promql(metric, MonitoringConfig(window_s=30, min_orders=7, min_observations=9)) == expected


def test_the_ratios_of_reads_and_orders_use_the_window_and_the_minimum():
    mc = MonitoringConfig(window_s=45, min_orders=3)
    stale = promql(s.STALE_QUOTE_RATIO, mc)
    # stale / reads where there were reads, else 0 (as the collector has it); a hit ratio only with reads
    assert stale.endswith(" == 0") and " or on(job, instance) " in stale and "[45s]" in stale
    assert promql(s.CACHE_HIT_RATIO, mc).endswith(" > 0)")
    fill = promql(s.FILL_RATIO, mc)
    assert fill.endswith(">= 3") and all(f'event="{e}"' in fill for e in ("filled", "rejected", "cancelled", "expired"))


@pytest.mark.parametrize("comparison", ALERT_COMPARISONS)
def test_each_comparison_is_the_same_in_promql(comparison):
    assert only_rule(rule(comparison=comparison, threshold=2.5))["expr"] == f"alluse_g {comparison} 2.5"


def test_a_composite_series_is_compared_as_a_whole():
    expr = only_rule(rule(metric=s.TRADING_ERROR_RATIO, threshold=0.05))["expr"]
    assert expr.startswith("(clamp_max(") and expr.endswith(") > 0.05")


def test_a_market_hours_rule_holds_only_while_the_market_is_open():
    out = only_rule(rule(metric=s.QUOTES_ACCEPTED_RATE, comparison="<", threshold=5, market_hours_only=True))
    assert out["expr"].endswith(f"< 5 and on(job, instance) {s.MARKET_OPEN} == 1")
    assert out["annotations"]["description"].endswith("while the market is open")


def test_durations_and_numbers_are_written_as_prometheus_reads_them():
    assert [duration(x) for x in (0, 10, 90, 2.5, 0.05)] == ["0s", "10s", "90s", "2500ms", "50ms"]
    for x in (0.02, 8 * 2**30, 1e-5, 1.5 * 2**30, -3.0, 1e300):
        assert float(number(x)) == x and not number(x).endswith(".0")


def test_a_description_is_not_read_as_a_template():
    out = only_rule(rule(description="p99 {{ too high }}"))
    assert out["annotations"]["summary"] == 'p99 {{ "{{" }} too high }}'


@pytest.mark.parametrize(
    "metric,why",
    [
        ("alluse_feed_latency_seconds:p42", "unknown suffix :p42"),
        ("alluse_process_rss_bytes:rate", ":rate needs a counter (_total) or a histogram (_seconds)"),
        ("alluse_orders_total:p99", ":p99 needs a histogram (_seconds)"),
        ("alluse_g{no_quotes=x}", "labels {no_quotes=x} are not"),
        ("9lives", "not a series as the collector spells it"),
        (s.TRADING_ERROR_RATIO + ":rate", "the collector computes it with no suffix and no labels"),
        (s.QUOTE_AGE_SECONDS + '{account="A"}', "the collector computes it with no suffix and no labels"),
    ],
)
def test_a_series_without_translation_is_refused_naming_rule_and_metric(metric, why):
    with pytest.raises(PrometheusRulesError) as err:
        rules_document([rule(name="good"), rule(name="mine", metric=metric)], MonitoringConfig())
    message = str(err.value)
    assert message.startswith(f"alert rule 'mine': metric {metric!r} has no Prometheus translation (")
    assert why in message and "\n" not in message


def test_a_series_only_the_collector_computes_is_refused(monkeypatch):
    monkeypatch.setattr(pr, "DERIVED_SERIES", (*DERIVED_SERIES, "alluse_new_ratio"))
    with pytest.raises(PrometheusRulesError, match="the collector computes it and /metrics does not export it"):
        rules_document([rule(metric="alluse_new_ratio")], MonitoringConfig())


def test_the_series_the_rules_read_are_spelled_as_the_components_export_them(tmp_path):
    """The CPU counter and the collector's exported gauges: the names the translation assumes exist."""
    cpu = [m for m in ResourceSampler(tmp_path).metrics() if m.name == s.PROCESS_CPU_SECONDS]
    assert [m.kind for m in cpu] == [MetricKind.COUNTER]

    class Quotes:
        def metrics(self):
            yield counter("alluse_quotes_total", "quotes", 5, outcome="accepted")

    c = Collector([Quotes()], loss_limit_used=lambda: 0.5)
    c.collect_once(NS)
    c.collect_once(2 * NS)
    c.loop_lag_s = 0.0  # as the first tick on a loop sets it
    exported = {m.series for m in (*c.derived_readings(), *c.metrics()) if m.kind is MetricKind.GAUGE}
    assert pr.EXPORTED_GAUGES <= exported


# ---------------------------------------------------------------------------- the command


CONFIG = """
[monitoring]
window_s = 20
min_orders = 4

[alerts]
disabled_rules = ["cpu_high", "memory_high_predicted"]

[[alerts.rules]]
name = "slow_feed_p90"
metric = 'alluse_feed_latency_seconds:p90{venue="paper"}'
comparison = ">="
threshold = 0.002
for_s = 2.5
clear_threshold = 0.0015
description = "feed p90 {{ high }}"

[[alerts.rules]]
name = "not_halted"
metric = 'alluse_trading_state{account="Gen-Acc",state="halted"}'
comparison = "!="
threshold = 0
severity = "info"

[[alerts.rules]]
name = "few_fills"
metric = "alluse_fill_ratio"
comparison = "<"
threshold = 0.5
for_s = 60

[[alerts.rules]]
name = "cache_misses"
metric = "alluse_quote_cache_hit_ratio"
comparison = "<="
threshold = 0.9
"""


def test_the_command_prints_the_configs_rules_and_promtool_accepts_them(tmp_path, capsys, promtool):
    config = tmp_path / "alluse.toml"
    config.write_text(CONFIG)
    assert main(["alerts", "--prometheus-rules", "--config", str(config)]) == 0
    out, err = capsys.readouterr()
    assert "streaming anomaly rules run in alluse only, not exported: order_submit_latency_anomaly" in err
    from alluse.app.config import load_config

    loaded = load_config(config)
    rules = rules_from_config(loaded.alerts)
    assert out == render(rules_document(rules, loaded.monitoring))
    (group,) = parse(out)["groups"]
    assert [r["alert"] for r in group["rules"]] == [r.name for r in rules] and "cpu_high" not in out
    assert "[20s]" in out and ">= 4" in out and '"for": "2500ms"' in out
    rules_file = tmp_path / "alluse.rules.yml"
    rules_file.write_text(out)
    result = subprocess.run([promtool, "check", "rules", str(rules_file)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


def test_the_default_rules_need_no_config(capsys):
    assert main(["alerts", "--prometheus-rules"]) == 0
    rules = default_rules()
    assert parse(capsys.readouterr().out) == rules_document(rules, MonitoringConfig(), default_predictive_rules(rules))


def test_a_predictive_rule_is_predict_linear_over_its_window_from_its_minimum_points():
    (p,) = default_predictive_rules(default_rules())
    (out,) = rules_document([], MonitoringConfig(), [p])["groups"][0]["rules"]
    assert out["expr"] == (f"predict_linear({s.PROCESS_RSS_BYTES}[1800s], 1800) > {p.threshold:.0f} "
                           f"and count_over_time({s.PROCESS_RSS_BYTES}[1800s]) >= {p.min_points}")  # fmt: skip
    assert out["labels"] == {"severity": "warning", "kind": "predicted"} and out["for"] == "120s"
    computed = p.model_copy(update={"metric": s.TRADING_ERROR_RATIO, "threshold": 0.01})  # a subquery at the tick
    (out,) = rules_document([], MonitoringConfig(), [computed])["groups"][0]["rules"]
    assert out["expr"].startswith("predict_linear((clamp_max(") and ")[1800s:1s], 1800) > 0.01" in out["expr"]


PREDICTION_TEST = """
rule_files: [rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'alluse_process_rss_bytes{job="alluse", instance="a"}'
        values: '0+20x60'
    alert_rule_test:
      - {eval_time: 40m, alertname: rss_predicted, exp_alerts: []}
      - eval_time: 44m
        alertname: rss_predicted
        exp_alerts:
          - exp_labels: {severity: warning, kind: predicted, job: alluse, instance: a}
            exp_annotations: $annotations
"""


def test_promtool_proves_a_predicted_crossing_fires_before_the_series_crosses(tmp_path, promtool):
    """RSS climbs 20 a minute toward 1000, which it reaches at minute 50; the line 10 minutes ahead passes 1000
    after minute 40, so the alert (for 1 min) fires by minute 44, six minutes before the crossing."""
    rule = PredictiveRuleConfig(name="rss_predicted", metric=s.PROCESS_RSS_BYTES, comparison=">", threshold=1000,
                                horizon_s=600, window_s=600, min_span_s=300, min_points=5, for_s=60)  # fmt: skip
    document = rules_document([], MonitoringConfig(interval_s=60), [rule])
    (tmp_path / "rules.yml").write_text(render(document))
    annotations = json.dumps(document["groups"][0]["rules"][0]["annotations"])  # JSON is YAML
    (tmp_path / "test.yml").write_text(Template(PREDICTION_TEST).substitute(annotations=annotations))
    result = subprocess.run([promtool, "test", "rules", "test.yml"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "toml,message",
    [
        ('[[alerts.rules]]\nname = "x"\nmetric = "alluse_g:p42"\ncomparison = ">"\nthreshold = 1\n',
         "error: alert rule 'x': metric 'alluse_g:p42' has no Prometheus translation (unknown suffix :p42"),
        ('[alerts]\ndisabled_rules = ["nope"]\n', "error: alerts.disabled_rules: 'nope' is not a built-in rule"),
        ("[monitoring]\nwindow_s = 0\n", "error: invalid configuration: monitoring.window_s = 0: "),
        ("window_s = [", "error: config file "),
    ],
)  # fmt: skip
def test_a_bad_config_is_refused_as_every_command_refuses_it(tmp_path, capsys, toml, message):
    """Exit code 2 and the message naming the key or the rule on stderr (a config's own errors list each
    bad key on a line of its own, as for every command), nothing on stdout, no traceback."""
    config = tmp_path / "bad.toml"
    config.write_text(toml)
    assert main(["alerts", "--prometheus-rules", "--config", str(config)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(message) and err.count("\n") == message.count("\n") + 1, err


# ---------------------------------------------------------------------------- promtool test rules


def closed_ranges(promtool: str) -> bool:
    """Whether a range selector includes a sample at its start: Prometheus 2's do, 3's do not (left-open)."""
    version = subprocess.run([promtool, "--version"], capture_output=True, text=True, timeout=30).stdout
    found = re.search(r"version (\d+)\.", version)
    assert found is not None, version
    return int(found[1]) < 3


def fixture_fields(rules: list[AlertRuleConfig], mc: MonitoringConfig, closed: bool) -> dict[str, str]:
    """The template's fields from the rules: when each may fire, its severity, the values past its threshold.

    Premises the fixture's series are built on are asserted first, so a rule that changed shape fails here by
    name rather than as a puzzling promtool diff."""
    by_name = {r.name: r for r in rules}
    shapes = {
        "trading_error_rate": (s.TRADING_ERROR_RATIO, ">"),
        "order_latency_p99": ("alluse_order_ack_latency_seconds:p99", ">"),
        "feed_stalled": (s.QUOTES_ACCEPTED_RATE, "<"),
        "memory_high": (s.PROCESS_RSS_BYTES, ">"),
        "broker_disconnected": (s.BROKER_CONNECTED, "=="),
    }
    for name, shape in shapes.items():
        assert (by_name[name].metric, by_name[name].comparison) == shape, by_name[name]
    assert by_name["trading_error_rate"].threshold < 1  # every order rejected is past it
    assert by_name["broker_disconnected"].threshold == 0 and by_name["feed_stalled"].market_hours_only
    window = math.ceil(mc.window_s)
    # when each rule's expression first holds: at the fault, except the stalled feed's rate, which falls to 0 once
    # the window holds no quote: the last one came at the fault, so a window later (a second sooner when the
    # range does not include its start)
    onsets = {name: FAULT_S for name in shapes} | {"feed_stalled": FAULT_S + window - (0 if closed else 1)}
    fields: dict[str, str] = {}
    for name, onset in onsets.items():
        r = by_name[name]
        fires = math.ceil(onset + r.for_s)
        fields |= {f"{name}_before": f"{fires - 1}s", f"{name}_fires": f"{fires}s", f"{name}_severity": r.severity}
    latency, rss, feed = by_name["order_latency_p99"], by_name["memory_high"], by_name["feed_stalled"]
    quotes_per_s = 2 * feed.threshold * window  # one second of quotes in the window still reads twice the floor
    return fields | {
        "min_orders": str(mc.min_orders),
        "few_orders": str(mc.min_orders - 1),
        "min_observations": str(mc.min_observations),
        "few_observations": str(mc.min_observations - 1),
        # every observation in (fast, slow]: the p99 interpolates to about 4x the threshold
        "latency_fast_le": number(latency.threshold / 2),
        "latency_slow_le": number(latency.threshold * 4),
        "quotes_per_s": number(quotes_per_s),
        "quotes_at_stall": number(quotes_per_s * FAULT_S),
        "rss_ok": number(rss.threshold / 2),
        "rss_high": number(rss.threshold * 2),
    }


def run_fixture(promtool: str, tmp_path: Path, rules: list[AlertRuleConfig], mc: MonitoringConfig,
                expected: tuple[list[AlertRuleConfig], MonitoringConfig] | None = None) -> str:  # fmt: skip
    """promtool's verdict on the file generated from `rules`, with the fixture's times and values filled from
    `expected` (default: the same rules) and the annotations from the file. Returns its output, "" on success."""
    document = rules_document(rules, mc)
    fields = fixture_fields(*(expected or (rules, mc)), closed_ranges(promtool))
    fields |= {f"{r['alert']}_annotations": json.dumps(r["annotations"]) for r in document["groups"][0]["rules"]}
    fields |= {f"{name}_expr": json.dumps(promql(metric, mc)) for name, metric in COMPUTED.items()}
    (tmp_path / "alluse.rules.yml").write_text(render(document))
    (tmp_path / FIXTURE.name).write_text(Template(FIXTURE.read_text()).substitute(fields))
    result = subprocess.run([promtool, "test", "rules", FIXTURE.name], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120)  # fmt: skip
    return "" if result.returncode == 0 else result.stdout + result.stderr


def test_promtool_proves_the_rules_fire_after_their_for_and_not_before_and_the_computed_values(tmp_path, promtool):
    assert run_fixture(promtool, tmp_path, default_rules(), MonitoringConfig()) == ""


@pytest.mark.parametrize(
    "sabotage,mc,failing",
    [
        # every `for` a second short: each rule fires at its "before" evaluation
        (lambda r: r.model_copy(update={"for_s": max(0.0, r.for_s - 1)}), MonitoringConfig(),
         ["trading error rate, every order rejected", "order latency p99, slow acknowledgements",
          "feed stalled in session", "memory high", "broker disconnected"]),
        # no minimum counts: one order (one observation) short of them makes an error rate (a percentile)
        (lambda r: r, MonitoringConfig(min_orders=1, min_observations=1),
         ["trading error rate, fewer than min_orders", "order latency p99, fewer than min_observations"]),
        # not gated on the session: the closed market's silent feed fires
        (lambda r: r.model_copy(update={"market_hours_only": False}), MonitoringConfig(),
         ["feed silent while the market is closed"]),
    ],
)  # fmt: skip
def test_the_fixture_catches_rules_that_fire_too_soon(tmp_path, promtool, sabotage, mc, failing):
    """Not vacuous: rules that fire early, on too few events or out of session fail it, in those tests only."""
    rules = default_rules()
    output = run_fixture(promtool, tmp_path, [sabotage(r) for r in rules], mc, expected=(rules, MonitoringConfig()))
    names = re.findall(r"^  - name: (.+)$", FIXTURE.read_text(), re.MULTILINE)
    failed = [name for name in names if f"name: {name}," in output]
    assert failed == failing, output
