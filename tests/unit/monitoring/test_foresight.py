"""Predictive and streaming-anomaly alerts end to end on held-out synthetic series, driven on virtual time:
a stand-in process read by the real collector, the detectors (monitoring/foresight.py) on its values, the
alert engine with its history and a JSON-lines notifier. Each detector only ever sees the samples up to now:
what it is judged on is what comes next."""

import json
import math

import numpy as np
import pytest

from alluse.app.config import ConfigError, load_config
from alluse.app.system import TradingSystem
from alluse.common.clock import NS, TestClock, datetime_to_ns
from alluse.common.metrics import LatencyHistogram, gauge, histogram
from alluse.monitoring import series
from alluse.monitoring.alert_events import AlertEvent, AlertStatus
from alluse.monitoring.alert_history import AlertHistory
from alluse.monitoring.alert_rules import (
    AlertRuleError,
    anomaly_rules_from_config,
    default_anomaly_rules,
    default_predictive_rules,
    default_rules,
    predictive_rules_from_config,
    rules_from_config,
    validate_rules,
)
from alluse.monitoring.alerts import AlertEngine
from alluse.monitoring.collector import Collector
from alluse.monitoring.config import AlertRuleConfig, AlertsConfig, MonitoringConfig
from alluse.monitoring.foresight import Foresight
from alluse.monitoring.notifiers import FileNotifier
from alluse.monitoring.service import Monitoring

T0 = 1_700_000_000 * NS
MEMORY = next(r for r in default_rules() if r.name == "memory_high")
PREDICTED = "memory_high_predicted"
ANOMALY = "order_submit_latency_anomaly"
ORDER_PATH = series.ORDER_SUBMIT_P90.partition(":")[0]  # the order manager's histogram
PAUSE_SHARE = 0.002  # orders caught by a pause (garbage collection, a slow disk): a clean run has them
COLLECTOR = MonitoringConfig()  # the collector's window for percentiles, as `alluse run` has it


def defaults(cfg: AlertsConfig | None = None) -> Foresight:
    cfg = cfg or AlertsConfig()
    return Foresight(predictive_rules_from_config(cfg, rules_from_config(cfg)), anomaly_rules_from_config(cfg))


class Process:
    """Stands in for the running system as the collector's source: the RSS gauge and the order path's histogram.
    `orders` observes n orders: lognormal latencies around `median_s` (x `slow`), a few caught by a pause."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.rss: float | None = None
        self.order_path = LatencyHistogram()

    def orders(self, n: int, median_s: float = 0.0002, slow: float = 1.0) -> None:
        latencies = self.rng.lognormal(math.log(median_s * slow), 0.5, n)
        paused = self.rng.random(n) < PAUSE_SHARE
        latencies[paused] = self.rng.uniform(0.005, 0.05, int(paused.sum()))
        for latency in latencies:
            self.order_path.observe(int(latency * NS))

    def metrics(self):
        if self.rss is not None:
            yield gauge(series.PROCESS_RSS_BYTES, "resident memory", self.rss)
        yield histogram(ORDER_PATH, "the order path's own latency", self.order_path)


class Run:
    """The collector on a stand-in process, the built-in memory rule and the detectors' rules on one engine,
    with alerts.db and alerts.jsonl in `tmp_path`."""

    def __init__(self, tmp_path, rng: np.random.Generator, interval_s: float = 1.0) -> None:
        self.process = Process(rng)
        self.foresight = defaults()
        self.history = AlertHistory(tmp_path / "alerts.db")
        self.file = tmp_path / "alerts.jsonl"
        rules = [MEMORY, *self.foresight.rules()]
        self.engine = AlertEngine(rules, [FileNotifier(self.file)], self.history, now_ns=lambda: T0)
        self.collector = Collector(
            [self.process], interval_s=interval_s, on_values=self._evaluate, window_s=COLLECTOR.window_s,
            min_orders=COLLECTOR.min_orders, min_observations=COLLECTOR.min_observations,
        )  # fmt: skip
        self.events: list[AlertEvent] = []

    def _evaluate(self, values: dict[str, float], now_ns: int) -> None:  # what Monitoring does with them
        derived, notes = self.foresight.derive(values, now_ns)
        self.events += self.engine.evaluate(derived, now_ns, notes)

    def tick(self, now_ns: int) -> None:
        self.collector.collect_once(now_ns)
        assert self.collector.hook_errors == 0

    def of(self, rule: str) -> list[AlertEvent]:
        return [e for e in self.events if e.rule == rule]

    def lines(self) -> list[dict]:
        return [json.loads(line) for line in self.file.read_text().splitlines()]


# ---------------------------------------------------------------- on held-out series


def test_a_planted_ramp_is_predicted_before_it_crosses_then_resolves(tmp_path):
    """RSS flat with noise for 45 min, then a leak heading past memory_high's threshold in 40 min; then the
    memory is released. The prediction fires before the value crosses, saying when it will, and comes true."""
    rng = np.random.default_rng(21)
    threshold = MEMORY.threshold
    flat, ramp, after = 2700, 2600, 1800  # seconds, one sample a second
    t = np.arange(flat + ramp + after)
    base = 0.3 * threshold
    rss = base + rng.normal(0, 0.005 * threshold, len(t))
    leak = (threshold - base) / 2400  # per second: crosses 2400 s into the ramp, before its end
    rss[flat : flat + ramp] += leak * np.arange(ramp)
    run = Run(tmp_path, rng)
    for i in t:
        run.process.rss = float(rss[i])
        run.tick(T0 + int(i) * NS)

    crossed_ns = T0 + int(np.argmax(rss > threshold)) * NS
    fired, resolved = run.of(PREDICTED)
    assert fired.state is AlertStatus.FIRING and resolved.state is AlertStatus.RESOLVED
    horizon_ns = 1800 * NS  # the built-in's horizon: what it claimed, within it
    assert T0 + flat * NS < fired.ts_ns < crossed_ns <= fired.ts_ns + horizon_ns
    assert resolved.ts_ns > T0 + (flat + ramp) * NS  # not before the memory was released
    assert [e.state for e in run.of("memory_high")] == [AlertStatus.FIRING, AlertStatus.RESOLVED]
    assert run.of("memory_high")[0].ts_ns > crossed_ns > fired.ts_ns

    assert fired.kind == "predicted" and fired.metric == f'{series.PROCESS_RSS_BYTES}:predicted{{rule="{PREDICTED}"}}'
    assert fired.value > threshold == fired.threshold  # the forecast at the horizon, past the line
    assert fired.description.startswith(f"predicted: {series.PROCESS_RSS_BYTES} ")
    assert "95% interval" in fired.description and "expected at" in fired.description
    assert fired.description.endswith(next(r for r in defaults().rules() if r.name == PREDICTED).description)
    assert "[warning, predicted]" in fired.summary()
    line = next(d for d in run.lines() if d["rule"] == PREDICTED and d["state"] == "firing")
    assert line["kind"] == "predicted" and line["description"] == fired.description
    assert run.history.history(rule=PREDICTED) == [resolved, fired]  # alerts.db keeps the marking and the note
    assert run.history.history(rule=PREDICTED)[1].kind == "predicted"


def test_a_planted_spike_is_flagged_and_resolves_after_it(tmp_path):
    """An hour of orders, 3 a second, then 40 s of orders 20 times slower, then normal again. The collector's
    p90 of the order path is over its window, so the spike shows once a tenth of the window is slow, and
    leaves it once less is."""
    rng = np.random.default_rng(4)
    spike = range(3600, 3640)
    run = Run(tmp_path, rng)
    for i in range(3600 + 40 + 300):
        run.process.orders(int(rng.poisson(3)), slow=20.0 if i in spike else 1.0)
        run.tick(T0 + i * NS)
    fired, resolved = run.of(ANOMALY)
    rule = next(r for r in default_anomaly_rules() if r.name == ANOMALY)
    assert T0 + (spike.start + rule.for_s) * NS <= fired.ts_ns < T0 + spike.stop * NS
    assert T0 + spike.stop * NS < resolved.ts_ns <= T0 + (spike.stop + COLLECTOR.window_s) * NS
    assert fired.kind == "anomaly" and fired.value > rule.z_threshold
    assert fired.description.startswith(f"anomaly: {series.ORDER_SUBMIT_P90} = ")
    assert "robust z +" in fired.description and "against the median" in fired.description
    assert [d["kind"] for d in run.lines()] == ["anomaly", "anomaly"]
    assert run.of(PREDICTED) == []


def test_clean_series_raise_nothing_over_a_simulated_day(tmp_path):
    """A day at a 10 s collector interval: RSS high (80 % of memory_high) with a 3-hour swing and noise, and
    orders 3 a second with their usual tail and pauses. The built-in rules stay silent."""
    rng = np.random.default_rng(99)
    interval_s, ticks = 10, 86_400 // 10
    run = Run(tmp_path, rng, interval_s=interval_s)
    for i in range(ticks):
        swing = 0.03 * math.sin(2 * math.pi * i * interval_s / 10_800)
        run.process.rss = MEMORY.threshold * (0.8 + swing + rng.normal(0, 0.01))
        run.process.orders(int(rng.poisson(3 * interval_s)))
        run.tick(T0 + i * interval_s * NS)
    assert run.events == []
    fed = {d.rule.name: len(d.window) for d in run.foresight.detectors}  # both judged all day, windows full
    assert fed == {PREDICTED: 1800 // interval_s, ANOMALY: 1800 // interval_s}


def test_too_little_data_derives_nothing_and_the_rules_wait():
    foresight = defaults()
    engine = AlertEngine(foresight.rules(), [], None)
    for i in range(25):  # fewer samples than either built-in needs
        values = {series.PROCESS_RSS_BYTES: 1e12 * (i + 1), series.ORDER_SUBMIT_P90: 10.0**i}
        derived, notes = foresight.derive(values, T0 + i * NS)
        assert derived == values and len(notes) == 0
        assert engine.evaluate(derived, T0 + i * NS, notes) == []
    assert {s.status for s in engine.states()} == {AlertStatus.INACTIVE}


# ---------------------------------------------------------------- configuration


def test_the_built_ins_follow_the_memory_rule_in_force_and_can_be_turned_off():
    names = {r.name for r in defaults().rules()}
    assert names == {PREDICTED, ANOMALY}
    [predicted] = default_predictive_rules(default_rules())
    assert (predicted.metric, predicted.comparison, predicted.threshold) == (MEMORY.metric, ">", MEMORY.threshold)
    moved = AlertsConfig(rules=[MEMORY.model_copy(update={"threshold": MEMORY.threshold / 2, "clear_threshold": None})])
    [follows] = predictive_rules_from_config(moved, rules_from_config(moved))
    assert follows.threshold == MEMORY.threshold / 2
    assert {r.name for r in defaults(AlertsConfig(disabled_rules=[PREDICTED])).rules()} == {ANOMALY}
    assert {r.name for r in defaults(AlertsConfig(disabled_rules=[ANOMALY, "memory_high"])).rules()} == set()
    assert defaults(AlertsConfig(default_rules=False)).rules() == []
    with pytest.raises(AlertRuleError, match=f"built-ins: .*{PREDICTED}.*{ANOMALY}"):
        rules_from_config(AlertsConfig(disabled_rules=["memory_hihg_predicted"]))


def test_configured_rules_replace_a_built_in_of_their_name_or_add_to_them():
    cfg = load_config(overrides={"alerts": {
        "predictive": [{"name": PREDICTED, "metric": series.PROCESS_RSS_BYTES, "comparison": ">",
                        "threshold": 1e9, "horizon_s": 600}],
        "anomaly": [{"name": "loop_lag_anomaly", "metric": series.EVENT_LOOP_LAG_SECONDS, "side": "high"}],
    }}).alerts  # fmt: skip
    rules = {r.name: r for r in defaults(cfg).rules()}
    assert set(rules) == {PREDICTED, ANOMALY, "loop_lag_anomaly"}
    assert rules[PREDICTED].threshold == 1e9 and "within 10 min" in rules[PREDICTED].description
    assert rules["loop_lag_anomaly"].metric == 'alluse_event_loop_lag_seconds:anomaly_z{rule="loop_lag_anomaly"}'


@pytest.mark.parametrize(
    ("section", "rule", "message"),
    [
        ("predictive", {"comparison": "=="}, "alerts.predictive.0.comparison = '==': Value error, expected one of"),
        ("predictive", {"min_span_s": 900, "window_s": 600}, "min_span_s 900 is longer than window_s 600"),
        ("predictive", {"min_points": 2}, "alerts.predictive.0.min_points = 2"),
        ("predictive", {"clear_threshold": 2e9}, "clear_threshold 2000000000.0 is above threshold"),
        ("anomaly", {"side": "up"}, "alerts.anomaly.0.side = 'up': Value error, expected one of high, low, both"),
        ("anomaly", {"z_threshold": 0}, "alerts.anomaly.0.z_threshold = 0"),
        ("anomaly", {"horizon_s": 60}, "alerts.anomaly.0.horizon_s = 60: unknown key"),
    ],
)
def test_a_bad_predictive_or_anomaly_rule_is_refused_naming_its_key(section, rule, message):
    base = {"name": "r", "metric": "m"} | ({"comparison": ">", "threshold": 1e9} if section == "predictive" else {})
    with pytest.raises(ConfigError) as err:
        load_config(overrides={"alerts": {section: [base | rule]}})
    assert message in str(err.value)
    assert len(str(err.value).splitlines()) == 1  # one line naming the key


def test_validate_rules_checks_the_watched_series_and_names_across_kinds():
    [predicted], [anomaly] = default_predictive_rules(default_rules()), default_anomaly_rules()
    validate_rules([MEMORY, predicted, anomaly], {MEMORY.metric, anomaly.metric})
    with pytest.raises(AlertRuleError, match="'order_submit_latency_anomaly': metric .* is not a known series"):
        validate_rules([MEMORY, predicted, anomaly], {MEMORY.metric})
    twin = AlertRuleConfig(name=PREDICTED, metric=MEMORY.metric, comparison=">", threshold=1.0)
    with pytest.raises(AlertRuleError, match="'memory_high_predicted': name used twice"):
        validate_rules([twin, predicted], {MEMORY.metric})


def test_monitoring_from_the_default_config_has_the_new_rules_and_feeds_them(tmp_path):
    cfg = load_config(overrides={"run": {"start": "2026-11-23T14:30:00+00:00"}})
    clock = TestClock(datetime_to_ns(cfg.run.start_datetime()))
    system = TradingSystem(cfg, clock, tmp_path)
    system.start()
    monitoring = Monitoring(
        MonitoringConfig(store=False), cfg.alerts, tmp_path, system.metric_sources(), health=dict,
        loss_limit_used=lambda: None,
    )  # fmt: skip
    try:
        kinds = {s.rule.name: AlertEvent(s.rule.name, "info", s.status, s.rule.metric, ">", 0, 0, 0, 0).kind
                 for s in monitoring.alerts.states()}  # fmt: skip
        assert kinds[PREDICTED] == "predicted" and kinds[ANOMALY] == "anomaly"
        assert kinds["memory_high"] == "threshold"
        produced = []
        for tick in range(5):  # the collector hands its values through the detectors to the engine
            clock.advance(3600 * NS)  # trading happens between ticks
            produced += [s.series for s in monitoring.collector.collect_once(T0 + tick * NS)]
        fed = {d.rule.name: len(d.window) for d in monitoring.foresight.detectors}
        assert fed == {PREDICTED: 5, ANOMALY: produced.count(series.ORDER_SUBMIT_P90)}
        assert monitoring.collector.hook_errors == 0
    finally:
        system.stop_trading()
        system.close()
        for n in monitoring.notifiers:
            n.close()
        monitoring.history.close()
