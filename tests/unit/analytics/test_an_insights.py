"""Insights quote the figures they rest on and pick the right ones."""

from alluse.analytics.config import TargetConfig
from alluse.analytics.insights import forecast_breaches, insights, regression, worst_anomaly
from alluse.analytics.results import NS_PER_S, Anomalies, AnomalyWindow, Forecast, Outlier, Standout, Trend

LAT = "alluse_order_ack_latency_seconds:p99"
T0 = 1_800_000_000 * NS_PER_S


def trend(series, slope, rel, worsening=True):
    return Trend(series, 100, 100.0, T0, slope, 1.0, 0.8, 1e-6, True, "rising" if slope > 0 else "falling", rel,
                 True, worsening)  # fmt: skip


def fc(series, mean, hi95, lo95=None, step_s=60.0):
    n = len(mean)
    ts = [T0 + (i + 1) * int(step_s * NS_PER_S) for i in range(n)]
    lo95 = lo95 or [m - 1 for m in mean]
    return Forecast(series, "ETS(A,Ad,N)", "c", {"ETS(A,Ad,N)": 0.1}, step_s, n * step_s, n * step_s, 100, [],
                    ts, mean, mean, mean, lo95, hi95, 30, 0.0001, 0.1, 0.95)  # fmt: skip


def test_the_largest_worsening_trend_is_the_regression():
    found = regression([trend(LAT, 0.0001, 0.3), trend("alluse_event_loop_lag_seconds", 0.001, 0.9),
                        trend("alluse_process_cpu_percent", 5, 3.0, worsening=False)])  # fmt: skip
    assert found.series == "alluse_event_loop_lag_seconds"
    assert "rising 1 ms per hour" in found.text and "+90%" in found.text
    assert regression([trend(LAT, 1, 1.0, worsening=False)]) is None


def test_the_worst_anomaly_names_its_window_and_standouts():
    a = Anomalies(60.0, 0.1, 5.0, [LAT], [AnomalyWindow(T0, T0 + 60 * NS_PER_S, 0.72, [Standout(LAT, 0.004, 12.5)])],
                  [], {})  # fmt: skip
    found = worst_anomaly(a)
    assert found.series == LAT and "score 0.72" in found.text and "4 ms" in found.text and "+12.5" in found.text
    only_outlier = Anomalies(60.0, 0.1, 5.0, [LAT], [], [Outlier(LAT, T0, 0.009, 7.0)], {LAT: 1})
    assert worst_anomaly(only_outlier).kind == "outlier"
    assert worst_anomaly(None) is None


def test_a_forecast_crossing_a_target_is_reported_with_when():
    target = TargetConfig(component="trading", name="ack p99", series=LAT, statistic="p95", at_most=0.005)
    crossing = fc(LAT, [0.003, 0.004, 0.006, 0.007], [0.004, 0.005, 0.007, 0.008])
    (found,) = forecast_breaches([crossing], [target])
    assert "is forecast to cross" in found.text and "in about 3 min" in found.text and "5 ms" in found.text
    band_only = fc(LAT, [0.003, 0.004], [0.0045, 0.0051])
    (found,) = forecast_breaches([band_only], [target])
    assert "may cross (95% band)" in found.text and "in about 2 min" in found.text
    assert forecast_breaches([fc(LAT, [0.001], [0.002])], [target]) == []
    hit = "alluse_quote_cache_hit_ratio"
    floor = TargetConfig(component="md", name="hits", series=hit, statistic="mean", at_least=0.9)
    (found,) = forecast_breaches([fc(hit, [0.95, 0.85], [1.0, 1.0], lo95=[0.9, 0.8])], [floor])
    assert "is forecast to cross" in found.text and "90 %" in found.text


def test_nothing_to_say_is_said_plainly():
    assert [i.kind for i in insights([], None, [], [])] == ["none"]


def test_a_quiet_window_is_not_called_an_anomaly():
    quiet = Anomalies(60.0, 0.1, 5.0, [LAT], [AnomalyWindow(T0, T0 + 60 * NS_PER_S, 0.61, [Standout(LAT, 0.002, 1.8)])],
                      [], {})  # fmt: skip
    found = worst_anomaly(quiet)
    assert found.kind == "anomaly" and found.text.startswith("most unusual window")
    assert "no series beyond robust z 5 there (the forest flags 10% of bins in any data)" in found.text
    assert "worst anomaly" not in found.text
