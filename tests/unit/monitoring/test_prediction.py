"""The predictive rules' arithmetic (monitoring/prediction.py) and the window under it (monitoring/window.py)."""

import math

import numpy as np
import pytest
from scipy import stats

from alluse.common.clock import NS
from alluse.monitoring.config import PredictiveRuleConfig
from alluse.monitoring.prediction import Predictor, fit_line, t_quantile
from alluse.monitoring.window import TimeWindow

T0 = 1_700_000_000 * NS


def predictor(**kw) -> Predictor:
    base = {"name": "p", "metric": "m", "comparison": ">", "threshold": 100.0, "horizon_s": 60.0,
            "window_s": 120.0, "min_span_s": 30.0, "min_points": 10, "for_s": 0.0}  # fmt: skip
    return Predictor(PredictiveRuleConfig(**(base | kw)))


def test_t_quantile_follows_students_t():
    for df in range(3, 200):
        exact = stats.t.ppf(0.975, df)
        assert t_quantile(0.975, df) == pytest.approx(exact, rel=0.0013 if df < 5 else 0.00012)
    for p in (0.9, 0.95, 0.995):
        assert t_quantile(p, 60) == pytest.approx(stats.t.ppf(p, 60), rel=1e-6)
    with pytest.raises(ValueError, match="df=0"):
        t_quantile(0.975, 0)


def test_fit_line_recovers_a_line_and_where_it_crosses():
    rng = np.random.default_rng(3)
    level, slope = rng.uniform(-50, 50), rng.uniform(0.5, 2.0)  # the line's value at `now`, per second
    now = T0 + 600 * NS
    times = now - np.arange(300, -1, -3, dtype=np.int64) * NS
    values = level + slope * (times - now) / NS
    line = fit_line(times, values, now)
    assert line is not None
    assert line.level == pytest.approx(level, abs=1e-9) and line.slope == pytest.approx(slope, rel=1e-12)
    assert line.sd == pytest.approx(0, abs=1e-9) and line.points == len(times)
    assert line.at(40.0) == pytest.approx(level + 40 * slope)
    assert line.crossing_s(level + 25 * slope) == pytest.approx(25)
    assert line.crossing_s(level - 10 * slope) == pytest.approx(-10)  # passed before now
    assert fit_line(times[:2], values[:2], now) is None  # no residual degree of freedom left


def test_the_interval_covers_held_out_observations_at_its_confidence():
    """Lines with independent noise, fitted on a window and checked on the value `horizon` later that the
    fit never saw: the 95 % interval holds it about 95 times in 100."""
    rng = np.random.default_rng(11)
    trials, n, horizon_s = 1000, 40, 30.0
    hits = 0
    for _ in range(trials):
        level, slope, sd = rng.normal(0, 10), rng.normal(0, 1), rng.uniform(0.1, 5)
        x = -np.arange(n)[::-1].astype(float)  # seconds before now
        times = T0 + (x * NS).astype(np.int64)
        line = fit_line(times, level + slope * x + rng.normal(0, sd, n), T0)
        assert line is not None
        held_out = level + slope * horizon_s + rng.normal(0, sd)
        lo, hi = line.interval(horizon_s)
        hits += lo <= held_out <= hi
    assert 0.93 <= hits / trials <= 0.97  # 3 binomial standard deviations either side of 0.95


def test_no_forecast_before_min_points_and_min_span():
    p = predictor(min_points=10, min_span_s=30.0)
    first = None
    for i in range(40):  # one sample every 5 s: 10 points after 45 s, the span 30 s after 30 s
        if p.observe(T0 + i * 5 * NS, 1.0 + i) is not None and first is None:
            first = i
    assert first == 9
    q = predictor(min_points=5, min_span_s=30.0)  # the span is the later condition here: 30 s after 6 samples
    got = [q.observe(T0 + i * 5 * NS, float(i)) for i in range(8)]
    assert [g is not None for g in got] == [False] * 6 + [True] * 2


def test_a_forecast_reads_the_line_at_the_horizon_and_marks_the_crossing():
    p = predictor(threshold=100.0, horizon_s=60.0, window_s=120.0)
    forecast = None
    for i in range(100):  # 1 a second from 0: the line reaches 100 at t = 100 s
        forecast = p.observe(T0 + i * NS, float(i))
    assert forecast is not None
    now = T0 + 99 * NS
    assert forecast.value == pytest.approx(99 + 60) and forecast.at_ns == now + 60 * NS
    assert forecast.lo == pytest.approx(forecast.value) and forecast.hi == pytest.approx(forecast.value)  # exact
    assert forecast.crossing_ns == pytest.approx(T0 + 100 * NS, abs=1000)
    assert forecast.points == 100 and forecast.span_s == 99
    note = forecast.note()
    assert note.startswith("predicted: m 159 at ") and "95% interval 159 to 159" in note
    assert "crossing 100 expected at" in note and "(in 0.0 min)" in note
    falling = predictor(comparison="<", threshold=-1000.0)  # heads up, its bad side is down: no crossing
    for i in range(20):
        f = falling.observe(T0 + i * 5 * NS, float(i))
    assert f is not None and f.crossing_ns is None and "heads away from -1000" in f.note()


def test_the_window_forgets_what_is_older_than_it():
    p = predictor(window_s=120.0, min_points=10, min_span_s=30.0)
    for i in range(300):  # a ramp for 300 s, then flat at 7: once the window holds only the flat part, so does the line
        p.observe(T0 + i * NS, float(i))
    forecast = None
    for i in range(300, 421):
        forecast = p.observe(T0 + i * NS, 7.0)
    assert forecast is not None
    assert forecast.value == pytest.approx(7.0) and forecast.crossing_ns is None
    assert forecast.points == 120 and forecast.span_s == 119


def test_a_sample_not_newer_than_the_last_or_not_finite_is_refused():
    p = predictor(min_points=5, min_span_s=0.0)
    for i in range(6):
        assert (p.observe(T0 + i * NS, float(i)) is None) == (i < 4)
    assert p.observe(T0 + 5 * NS, 1e9) is None and p.observe(T0 + NS, 1e9) is None  # the clock stepped back
    assert p.observe(T0 + 6 * NS, math.nan) is None
    f = p.observe(T0 + 7 * NS, 7.0)
    assert f is not None and f.points == 7 and f.value == pytest.approx(7 + 60)  # nothing refused got in


def test_time_window_keeps_exactly_its_span_however_long_it_runs():
    w = TimeWindow(50.0, capacity=4)
    for i in range(10_000):
        assert w.add(T0 + i * NS, float(i))
        assert len(w) == min(i + 1, 50)
    assert list(w.times_ns) == [T0 + i * NS for i in range(9_950, 10_000)]
    assert list(w.values) == [float(i) for i in range(9_950, 10_000)]
    assert w.span_s == 49.0
    assert len(w._t) <= 4 * 50  # it moved its samples to the front rather than growing without bound
    w.trim(T0 + 10_020 * NS)
    assert list(w.values) == [float(i) for i in range(9_971, 10_000)]
    with pytest.raises(ValueError, match="span_s=0"):
        TimeWindow(0)
