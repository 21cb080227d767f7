"""A grade cannot hide a failure: an unhealthy component, a missed critical check or a critical alert caps the
overall score whatever the other components average, and says so, worst first."""

from alluse.analytics.grading import CRITICAL_CHECK_CAP, DEFAULT_TARGETS, UNHEALTHY_CAP, grade
from alluse.analytics.results import SeriesStats
from alluse.monitoring import series as s


def stats(name: str, value: float) -> SeriesStats:
    return SeriesStats(name, 100, value, 0.0, value, value, value, value, value, 0, 1)


def clean() -> dict[str, SeriesStats]:
    """Every default check met with room to spare."""
    values = {
        s.ORDER_LATENCY_P99: 0.001, s.ORDER_SUBMIT_P99: 0.0001, s.TRADING_ERROR_RATIO: 0.0, s.FEED_LATENCY_P99: 0.0005,
        s.QUOTE_AGE_SECONDS: 0.5, s.CACHE_HIT_RATIO: 0.99, s.PROCESS_CPU_PERCENT: 10.0,
        s.EVENT_LOOP_LAG_SECONDS: 0.001, s.PROCESS_RSS_BYTES: 2.0**28, s.METRICS_STORE_HEALTHY: 1.0,
        s.BROKER_CONNECTED: 1.0,
    }  # fmt: skip
    return {name: stats(name, v) for name, v in values.items()}


def test_a_clean_window_is_an_a_with_nothing_holding_it_down():
    g = grade(clean(), DEFAULT_TARGETS)
    assert g.letter == "A" and g.caps == []


def test_a_missed_critical_check_is_an_f_however_good_the_rest():
    window = clean()
    window[s.TRADING_ERROR_RATIO] = stats(s.TRADING_ERROR_RATIO, 0.25)  # a quarter of the orders rejected
    g = grade(window, DEFAULT_TARGETS)
    assert g.letter == "F" and g.score <= CRITICAL_CHECK_CAP
    assert g.caps[0].startswith("critical check missed: trading order error ratio")


def test_one_unhealthy_component_caps_the_grade_at_a_d():
    window = clean()
    window[s.FEED_LATENCY_P99] = stats(s.FEED_LATENCY_P99, 0.050)  # 25x the limit
    window[s.CACHE_HIT_RATIO] = stats(s.CACHE_HIT_RATIO, 0.10)
    g = grade(window, DEFAULT_TARGETS)
    averaged = sum(h.score for h in g.components if h.score is not None) / len(g.components)
    assert averaged > 80  # a plain mean would have said B
    assert g.letter == "D" and g.score == UNHEALTHY_CAP and "market data unhealthy" in g.caps[0]


def test_caps_are_listed_worst_first_with_a_critical_alert_last():
    window = clean()
    window[s.BROKER_CONNECTED] = stats(s.BROKER_CONNECTED, 0.5)
    window[s.FEED_LATENCY_P99] = stats(s.FEED_LATENCY_P99, 0.050)
    window[s.CACHE_HIT_RATIO] = stats(s.CACHE_HIT_RATIO, 0.10)
    g = grade(window, DEFAULT_TARGETS, critical_alerts=2)
    assert [c.split(" ")[0] for c in g.caps] == ["critical", "market", "broker", "2"]  # F, then D, D, then C
