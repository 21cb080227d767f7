import math
import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from alluse.app.config import ConfigError
from alluse.common.clock import NS
from alluse.common.metrics import MetricKind
from alluse.monitoring import series
from alluse.monitoring.alert_events import AlertEvent, AlertStatus
from alluse.monitoring.alert_history import AlertHistory, AlertHistoryError
from alluse.monitoring.alert_rules import (
    COMPARATORS,
    AlertRuleError,
    default_rules,
    rules_from_config,
    validate_rules,
)
from alluse.monitoring.alerts import AlertEngine
from alluse.monitoring.config import AlertRuleConfig, AlertsConfig

T0 = 1_700_000_000 * NS


def rule(**kw) -> AlertRuleConfig:
    base = {"name": "hot", "metric": "m", "comparison": ">", "threshold": 10.0, "for_s": 0.0, "severity": "warning"}
    return AlertRuleConfig(**(base | kw))


class Recorder:
    def __init__(self, name="rec"):
        self.name = name
        self.delivered = 0
        self.failures = 0
        self.events: list[AlertEvent] = []

    def notify(self, event):
        self.events.append(event)
        self.delivered += 1

    def close(self):
        pass


class Broken(Recorder):
    def notify(self, event):
        raise RuntimeError("boom")


def engine(*rules, notifiers=None, history=None, now_ns=lambda: T0):
    rec = Recorder()
    eng = AlertEngine(rules or [rule()], notifiers if notifiers is not None else [rec], history, now_ns=now_ns)
    return eng, rec


def at(s: float) -> int:
    return T0 + round(s * NS)


def status(eng, name="hot"):
    return next(st.status for st in eng.states() if st.rule.name == name)


# ---------------------------------------------------------------- state machine


def test_pending_becomes_firing_only_after_the_duration():
    eng, rec = engine(rule(for_s=5))
    assert eng.evaluate({"m": 11}, at(0)) == []
    assert status(eng) is AlertStatus.PENDING
    assert eng.evaluate({"m": 12}, at(4.999)) == []
    assert status(eng) is AlertStatus.PENDING and eng.firing() == []
    [event] = eng.evaluate({"m": 13}, at(5))
    assert event.state is AlertStatus.FIRING and event.value == 13 and event.threshold == 10
    assert event.ts_ns == event.started_ns == at(5)
    assert [s.rule.name for s in eng.firing()] == ["hot"]
    assert rec.events == [event]


def test_pending_that_lapses_goes_back_to_inactive_silently_and_restarts_the_wait():
    eng, rec = engine(rule(for_s=5))
    eng.evaluate({"m": 11}, at(0))
    eng.evaluate({"m": 9}, at(4))
    assert status(eng) is AlertStatus.INACTIVE
    eng.evaluate({"m": 11}, at(6))  # counting restarts here, not at 0
    assert eng.evaluate({"m": 11}, at(10)) == []
    assert [e.state for e in eng.evaluate({"m": 11}, at(11))] == [AlertStatus.FIRING]
    assert len(rec.events) == 1


def test_zero_duration_fires_on_the_first_bad_value():
    eng, _ = engine(rule(for_s=0))
    assert [e.state for e in eng.evaluate({"m": 10.5}, at(0))] == [AlertStatus.FIRING]


def test_resolution_then_inactive_then_a_new_episode():
    eng, rec = engine(rule(for_s=2))
    eng.evaluate({"m": 11}, at(0))
    eng.evaluate({"m": 11}, at(2))
    [resolved] = eng.evaluate({"m": 3}, at(7))
    assert resolved.state is AlertStatus.RESOLVED and resolved.value == 3
    assert resolved.started_ns == at(2) and resolved.ts_ns == at(7)
    assert status(eng) is AlertStatus.RESOLVED and eng.firing() == []
    eng.evaluate({"m": 3}, at(8))
    assert status(eng) is AlertStatus.INACTIVE
    eng.evaluate({"m": 11}, at(9))
    assert status(eng) is AlertStatus.PENDING
    eng.evaluate({"m": 11}, at(11))
    assert [e.state for e in rec.events] == [AlertStatus.FIRING, AlertStatus.RESOLVED, AlertStatus.FIRING]


def test_resolved_straight_back_to_pending():
    eng, _ = engine(rule(for_s=1))
    eng.evaluate({"m": 11}, at(0))
    eng.evaluate({"m": 11}, at(1))
    eng.evaluate({"m": 0}, at(2))
    eng.evaluate({"m": 11}, at(3))
    assert status(eng) is AlertStatus.PENDING


def test_hysteresis_holds_firing_until_past_the_clear_threshold():
    eng, rec = engine(rule(threshold=10, clear_threshold=8))
    eng.evaluate({"m": 10.1}, at(0))
    for i, v in enumerate([9.9, 10.1, 9.0, 8.01, 10.5, 8.0001] * 20):
        assert eng.evaluate({"m": v}, at(1 + i)) == []  # hovering at the line: no flapping
    assert status(eng) is AlertStatus.FIRING
    [resolved] = eng.evaluate({"m": 8.0}, at(500))  # ">" is still bad at 8.0001, good at 8.0
    assert resolved.threshold == 8
    assert [e.state for e in rec.events] == [AlertStatus.FIRING, AlertStatus.RESOLVED]


def test_hysteresis_on_a_floor_rule():
    eng, _ = engine(rule(comparison="<", threshold=1, clear_threshold=5))
    eng.evaluate({"m": 0}, at(0))
    assert eng.evaluate({"m": 4.9}, at(1)) == []
    assert [e.state for e in eng.evaluate({"m": 5}, at(2))] == [AlertStatus.RESOLVED]


def test_for_duration_stops_refiring_around_the_threshold_without_clear_threshold():
    eng, rec = engine(rule(for_s=3))
    for i in range(200):
        eng.evaluate({"m": 10.5 if i % 2 else 9.5}, at(i))
    assert rec.events == []


def test_no_duplicate_notifications_over_many_evaluations(tmp_path):
    hist = AlertHistory(tmp_path / "alerts.db")
    eng, rec = engine(rule(for_s=1), history=hist)
    for i in range(1000):
        eng.evaluate({"m": 50 + i % 7}, at(i))
    for i in range(1000, 2000):
        eng.evaluate({"m": 1}, at(i))
    assert [e.state for e in rec.events] == [AlertStatus.FIRING, AlertStatus.RESOLVED]
    assert len(hist.history()) == 2


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, 20), st.one_of(st.none(), st.floats(0, 3))), min_size=1, max_size=60),
    st.sampled_from([0.0, 1.0, 2.5]),
)
def test_events_alternate_and_fire_only_after_the_condition_held(steps, for_s):
    eng, rec = engine(rule(for_s=for_s, clear_threshold=7))
    t, series_ = 0.0, []  # (ts, value or None)
    for dt, value in steps:
        t += dt
        eng.evaluate({} if value is None else {"m": value}, at(t))
        series_.append((at(t), value))
    states = [e.state for e in rec.events]
    assert states == [AlertStatus.FIRING, AlertStatus.RESOLVED] * (len(states) // 2) + [AlertStatus.FIRING] * (
        len(states) % 2
    )
    for e in rec.events:
        if e.state is AlertStatus.RESOLVED:
            assert e.value <= 7
            continue
        assert e.value > 10
        # walking back from the firing sample, the present values stay bad for at least for_s
        seen = [(ts, v) for ts, v in series_ if ts <= e.ts_ns and v is not None]
        start = e.ts_ns
        for ts, v in reversed(seen):
            if v <= 10:
                break
            start = ts
        assert e.ts_ns - start >= for_s * NS - 1


def test_a_missing_value_neither_fires_nor_resets_a_wait():
    eng, rec = engine(rule(for_s=5), rule(name="other", metric="o"))
    eng.evaluate({"m": 11}, at(0))
    eng.evaluate({"m": 11}, at(3))
    assert status(eng) is AlertStatus.PENDING
    assert eng.insufficient_data == ["other"]  # blind, and said to be
    assert eng.evaluate({"m": math.nan}, at(5)) == []  # NaN counts as missing: not evidence either way...
    assert eng.evaluate({}, at(6)) == [] and status(eng) is AlertStatus.PENDING  # ...so no firing on it
    assert eng.insufficient_data == ["hot", "other"]
    assert {m.value for m in eng.metrics() if m.name == "alluse_alert_rules_insufficient_data"} == {2}
    [fired] = eng.evaluate({"m": 11}, at(7))  # held since 0: fires on the next value that holds
    assert fired.state is AlertStatus.FIRING and status(eng) is AlertStatus.FIRING
    for i in range(8, 100):
        assert eng.evaluate({}, at(i)) == []
    assert status(eng) is AlertStatus.FIRING  # no data is not a resolution
    other = next(s for s in eng.states() if s.rule.name == "other")
    assert other.status is AlertStatus.INACTIVE and other.value is None and other.since_ns is None
    assert len(rec.events) == 1


@pytest.mark.parametrize(
    ("comparison", "threshold", "bad", "good"),
    [
        (">", 10, 10.01, 10),
        (">=", 10, 10, 9.99),
        ("<", 10, 9.99, 10),
        ("<=", 10, 10, 10.01),
        ("==", 0, 0, 1),
        ("!=", 1, 0, 1),
    ],
)
def test_every_comparison(comparison, threshold, bad, good):
    eng, _ = engine(rule(comparison=comparison, threshold=threshold))
    assert eng.evaluate({"m": good}, at(0)) == []
    assert [e.state for e in eng.evaluate({"m": bad}, at(1))] == [AlertStatus.FIRING]
    assert eng.evaluate({"m": bad}, at(2)) == []
    assert [e.state for e in eng.evaluate({"m": good}, at(3))] == [AlertStatus.RESOLVED]
    assert set(COMPARATORS) == {">", ">=", "<", "<=", "==", "!="}


def test_evaluate_takes_the_injected_clock_when_not_given_a_time():
    now = [at(0)]
    eng = AlertEngine([rule(for_s=2)], [], None, now_ns=lambda: now[0])
    eng.evaluate({"m": 11})
    now[0] = at(2)
    [event] = eng.evaluate({"m": 11})
    assert event.ts_ns == at(2)


# ---------------------------------------------------------------- notifiers and history failing


def test_a_raising_notifier_is_counted_and_the_others_still_hear(caplog):
    good = Recorder("good")
    eng = AlertEngine([rule()], [Broken("bad"), good], None)
    eng.evaluate({"m": 11}, at(0))
    assert len(good.events) == 1
    m = {(x.name, x.labels): x.value for x in eng.metrics()}
    assert m[(series.ALERT_NOTIFIER_FAILURES_TOTAL, (("notifier", "bad"),))] == 1
    assert m[(series.ALERT_NOTIFICATIONS_TOTAL, (("notifier", "good"),))] == 1
    assert "notifier bad raised" in caplog.text


def test_a_failing_history_is_counted_and_notifications_still_go_out(tmp_path, caplog):
    hist = AlertHistory(tmp_path / "alerts.db")
    eng, rec = engine(rule(), history=hist)
    hist.close()  # every write now fails
    [event] = eng.evaluate({"m": 11}, at(0))
    assert rec.events == [event] and eng.history_failures == 1
    assert "could not record hot firing" in caplog.text


def test_engine_metrics_count_firing_per_severity():
    eng, _ = engine(rule(name="a", severity="critical"), rule(name="b", severity="critical"), rule(name="c"))
    eng.evaluate({"m": 11}, at(0))
    firing = {x.labels: x.value for x in eng.metrics() if x.name == series.ALERTS_FIRING}
    assert firing == {(("severity", "info"),): 0, (("severity", "warning"),): 1, (("severity", "critical"),): 2}
    kinds = {x.name: x.kind for x in eng.metrics()}
    assert kinds[series.ALERTS_FIRING] is MetricKind.GAUGE
    assert kinds[series.ALERT_HISTORY_FAILURES_TOTAL] is MetricKind.COUNTER


def test_duplicate_rule_or_notifier_names_are_refused():
    with pytest.raises(ValueError, match="'hot' used twice"):
        AlertEngine([rule(), rule()], [])
    with pytest.raises(ValueError, match="notifier name 'rec' used twice"):
        AlertEngine([rule()], [Recorder(), Recorder()])
    eng = AlertEngine([rule()], [Recorder()])
    with pytest.raises(ValueError, match="notifier name 'rec' used twice"):
        eng.add_notifier(Recorder())  # nor later


# ---------------------------------------------------------------- rules and their validation


def test_unknown_metric_names_the_rule_and_the_metric():
    rules = [rule(name="lat", metric="alluse_order_latency_second:p99"), rule(name="ok", metric="m")]
    with pytest.raises(AlertRuleError) as exc:
        validate_rules(rules, {"m", series.ORDER_LATENCY_P99})
    msg = str(exc.value)
    assert "'lat'" in msg and "'alluse_order_latency_second:p99' is not a known series" in msg
    assert f"did you mean {series.ORDER_LATENCY_P99!r}" in msg and "'ok'" not in msg
    assert isinstance(exc.value, ConfigError)


def test_validate_rules_refuses_duplicate_names_and_passes_good_rules():
    with pytest.raises(AlertRuleError, match="'hot': name used twice"):
        validate_rules([rule(), rule()], {"m"})
    validate_rules([rule(), rule(name="b")], {"m"})


@pytest.mark.parametrize(
    ("override", "key", "text"),
    [
        ({"comparison": "=>"}, "comparison", "expected one of > >= < <= == !="),
        ({"for_s": -1}, "for_s", "greater than or equal to 0"),
        ({"severity": "fatal"}, "severity", "expected one of info, warning, critical"),
        ({"threshold": math.nan}, "threshold", "finite"),
        ({"metric": ""}, "metric", "at least 1"),
        ({"name": "has space"}, "name", "pattern"),
        ({"unknown": 1}, "unknown", "Extra inputs"),
    ],
)
def test_bad_rule_fields_name_the_key(override, key, text):
    with pytest.raises(ValidationError) as exc:
        AlertsConfig.model_validate(
            {"rules": [{"name": "r", "metric": "m", "comparison": ">", "threshold": 1} | override]}
        )
    [err] = exc.value.errors()
    assert err["loc"] == ("rules", 0, key) and text in err["msg"]


@pytest.mark.parametrize(
    ("comparison", "clear", "text"),
    [(">", 11, "above threshold 10"), ("<", 9, "below threshold 10"), ("==", 10, "not allowed")],
)
def test_clear_threshold_must_be_on_the_good_side(comparison, clear, text):
    with pytest.raises(ValidationError, match=text):
        rule(comparison=comparison, clear_threshold=clear)


def test_alerts_config_checks_names_urls_and_off():
    with pytest.raises(ValidationError, match="'a' appears twice"):
        AlertsConfig(rules=[rule(name="a"), rule(name="a")])
    with pytest.raises(ValidationError, match="webhook_url"):
        AlertsConfig(webhook_url="ftp://x")
    cfg = AlertsConfig.model_validate({"file": "off", "webhook_url": "off"})
    assert cfg.file is None and cfg.webhook_url is None


def test_default_rules_cover_the_issue_and_use_the_shared_series():
    rules = {r.name: r for r in default_rules()}
    by_metric = {r.metric: r for r in rules.values()}
    assert set(by_metric) == {
        series.TRADING_ERROR_RATIO,
        series.ORDER_LATENCY_P99,
        series.QUOTES_ACCEPTED_RATE,
        series.FEED_LATENCY_P99,
        series.BROKER_CONNECTED,
        series.PROCESS_RSS_BYTES,
        series.PROCESS_CPU_PERCENT,
        series.STALE_QUOTE_RATIO,
        series.DAILY_LOSS_LIMIT_USED_RATIO,
        series.METRICS_STORE_HEALTHY,
    }
    assert series.QUOTES_ACCEPTED_RATE == 'alluse_quotes_total:rate{outcome="accepted"}'
    assert series.ORDER_LATENCY_P99 == "alluse_order_ack_latency_seconds:p99"
    expect = {  # the seed's six, as the issue lists them, then ours
        series.TRADING_ERROR_RATIO: (">", 0.01, "critical"),
        series.ORDER_LATENCY_P99: (">", 0.025, "warning"),
        series.QUOTES_ACCEPTED_RATE: ("<", 1000.0, "critical"),
        series.FEED_LATENCY_P99: (">", 0.001, "warning"),
        series.PROCESS_RSS_BYTES: (">", 8 * 2**30, "warning"),
        series.PROCESS_CPU_PERCENT: (">", 90, "critical"),
        series.BROKER_CONNECTED: ("==", 0, "critical"),
        series.DAILY_LOSS_LIMIT_USED_RATIO: (">", 0.8, "critical"),
        series.METRICS_STORE_HEALTHY: ("==", 0, "warning"),
    }
    for metric, (cmp, threshold, severity) in expect.items():
        r = by_metric[metric]
        assert (r.comparison, r.threshold, r.severity) == (cmp, threshold, severity)
    assert [r.name for r in rules.values() if r.market_hours_only] == ["feed_stalled"]  # silent nights are no stall
    validate_rules(rules.values(), set(by_metric))


def test_default_rules_fire_on_a_stalled_feed_and_a_disconnected_broker():
    eng = AlertEngine(default_rules(), [], None)
    healthy = {series.QUOTES_ACCEPTED_RATE: 12_000.0, series.BROKER_CONNECTED: 1.0}
    eng.evaluate(healthy, at(0))
    fired = []
    for i in range(1, 12):
        fired += eng.evaluate({series.QUOTES_ACCEPTED_RATE: 0.0, series.BROKER_CONNECTED: 0.0}, at(i))
    assert sorted(e.rule for e in fired) == ["broker_disconnected", "feed_stalled"]
    assert all(e.severity == "critical" for e in fired)


def test_rules_from_config_overrides_disables_and_adds():
    custom = rule(name="feed_stalled", metric=series.QUOTES_ACCEPTED_RATE, comparison="<", threshold=500)
    extra = rule(name="mine")
    cfg = AlertsConfig(rules=[custom, extra], disabled_rules=["cpu_high"])
    names = [r.name for r in rules_from_config(cfg)]
    defaults = [r.name for r in default_rules()]
    assert names == [n for n in defaults if n != "cpu_high"] + ["mine"]
    assert next(r for r in rules_from_config(cfg) if r.name == "feed_stalled").threshold == 500
    assert [r.name for r in rules_from_config(AlertsConfig(default_rules=False, rules=[extra]))] == ["mine"]
    with pytest.raises(AlertRuleError, match="'cpu_hgih' is not a built-in rule"):
        rules_from_config(AlertsConfig(disabled_rules=["cpu_hgih"]))


# ---------------------------------------------------------------- history


def _event(rule_name, state, severity="warning", ts=0, value=1.0):
    return AlertEvent(rule_name, severity, state, "m", ">", value, 10.0, at(ts), at(0), "d")


def test_history_queries_filter_newest_first(tmp_path):
    hist = AlertHistory(tmp_path / "alerts.db")
    hist.record(_event("a", AlertStatus.FIRING, "critical", 1))
    hist.record(_event("b", AlertStatus.FIRING, "warning", 2))
    hist.record(_event("a", AlertStatus.RESOLVED, "critical", 3, value=math.inf))
    assert [(e.rule, e.ts_ns) for e in hist.history()] == [("a", at(3)), ("b", at(2)), ("a", at(1))]
    assert [e.rule for e in hist.history(state="firing")] == ["b", "a"]
    assert [e.state for e in hist.history(severity="critical")] == [AlertStatus.RESOLVED, AlertStatus.FIRING]
    assert [e.ts_ns for e in hist.history(rule="a", state="resolved")] == [at(3)]
    assert [e.ts_ns for e in hist.history(since_ns=at(2))] == [at(3), at(2)]
    assert len(hist.history(limit=1)) == 1
    assert hist.history()[0].value == math.inf
    assert hist.history()[1] == _event("b", AlertStatus.FIRING, "warning", 2)


@pytest.mark.parametrize(
    ("kw", "text"),
    [({"state": "pending"}, "state='pending'"), ({"severity": "bad"}, "severity='bad'"), ({"limit": 0}, "limit=0")],
)
def test_history_bad_filters_are_named(tmp_path, kw, text):
    with pytest.raises(ValueError, match=text):
        AlertHistory(tmp_path / "alerts.db").history(**kw)


def test_history_readonly_sees_a_writers_events_and_cannot_write(tmp_path):
    path = tmp_path / "alerts.db"
    writer = AlertHistory(path)
    writer.record(_event("a", AlertStatus.FIRING))
    reader = AlertHistory(path, readonly=True)
    assert [e.rule for e in reader.history()] == ["a"]
    writer.record(_event("b", AlertStatus.FIRING))
    assert len(reader.history()) == 2
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader.record(_event("c", AlertStatus.FIRING))


def test_history_refuses_a_foreign_file_and_a_missing_one(tmp_path):
    junk = tmp_path / "alerts.db"
    junk.write_bytes(b"not a database at all")
    with pytest.raises(AlertHistoryError, match="not a SQLite database"):
        AlertHistory(junk)
    assert junk.read_bytes() == b"not a database at all"
    with pytest.raises(AlertHistoryError, match="no such file"):
        AlertHistory(tmp_path / "none.db", readonly=True)


def test_an_episode_a_crashed_run_left_open_is_closed_at_the_next_start_with_the_reason(tmp_path):
    path = tmp_path / "alerts.db"
    eng, rec = engine(rule(), rule(name="done", metric="d"), history=AlertHistory(path))
    eng.evaluate({"m": 11, "d": 11}, at(0))
    eng.evaluate({"d": 0}, at(1))  # "done" resolves before the crash, "hot" stays open
    restarted = (rule(for_s=5.0), rule(name="done", metric="d"))
    eng2, rec2 = engine(*restarted, history=AlertHistory(path), now_ns=lambda: at(5))
    assert eng2.firing() == []  # nothing is carried over as firing
    [closed] = AlertHistory(path).history(limit=1)
    assert (closed.rule, closed.state, closed.ts_ns, closed.started_ns) == ("hot", AlertStatus.RESOLVED, at(5), at(0))
    assert closed.description.startswith("closed at start") and "ended without closing it" in closed.summary()
    assert eng2.evaluate({"m": 12, "d": 0}, at(10)) == []  # still hot: a new episode waits its `for` again
    [fired] = eng2.evaluate({"m": 12}, at(15))
    assert fired.state is AlertStatus.FIRING and fired.started_ns == at(15)
    assert [e.state for e in rec2.events] == [AlertStatus.RESOLVED, AlertStatus.FIRING]  # the closing was notified


def test_a_clean_stop_closes_what_is_firing(tmp_path):
    path = tmp_path / "alerts.db"
    eng, rec = engine(rule(), history=AlertHistory(path))
    eng.evaluate({"m": 11}, at(0))
    [closed] = eng.close_all("run stopped", at(3))
    assert closed.state is AlertStatus.RESOLVED and closed.description == "closed: run stopped"
    assert eng.firing() == [] and AlertHistory(path).open_episodes() == {}
    assert eng.close_all("run stopped", at(4)) == []  # nothing twice