"""The streaming anomaly score (monitoring/anomaly_stream.py): robust z against the window before each sample."""

import math

import numpy as np
import pytest
from scipy import stats

from alluse.common.clock import NS
from alluse.common.robust import MEAN_AD_TO_SIGMA
from alluse.monitoring.anomaly_stream import AnomalyDetector, robust_z
from alluse.monitoring.config import AnomalyRuleConfig

T0 = 1_700_000_000 * NS


def detector(**kw) -> AnomalyDetector:
    base = {"name": "a", "metric": "m", "side": "both", "z_threshold": 6.0, "window_s": 60.0, "min_points": 10}
    return AnomalyDetector(AnomalyRuleConfig(**(base | kw)))


def test_robust_z_is_distance_from_the_median_in_normal_scaled_mads():
    rng = np.random.default_rng(5)
    window = rng.normal(40, 3, 500)
    z, median, scale = robust_z(window, 55.0, 0.0)
    assert median == pytest.approx(np.median(window))
    assert scale == pytest.approx(stats.median_abs_deviation(window, scale="normal"), rel=1e-4)
    assert z == pytest.approx((55.0 - median) / scale)
    assert 3 * 0.8 < scale < 3 * 1.2  # the Gaussian's own standard deviation, roughly


def test_a_window_at_one_value_with_bursts_falls_back_to_the_mean_absolute_deviation():
    window = np.array([0.0] * 40 + [0.02, 0.05, 0.01])  # an error ratio: 0 mostly, so its MAD is 0
    z, median, scale = robust_z(window, 0.05, 0.5)  # a median of 0 has no floor
    assert median == 0 and scale == pytest.approx(MEAN_AD_TO_SIGMA * np.mean(np.abs(window)))
    assert z == pytest.approx(0.05 / scale)


def test_the_scale_is_never_below_its_share_of_the_median():
    assert robust_z(np.zeros(30), 0.3, 0.05) is None  # never varied, around 0: nothing to measure by
    z, median, scale = robust_z(np.full(30, 0.25), 0.3, 0.05)
    assert (median, scale) == (0.25, pytest.approx(0.05 * 0.25)) and z == pytest.approx(0.05 / scale)
    bucketed = np.array([0.000494, 0.000495, 0.000496, 0.000497] * 10)  # a p99 read off one histogram bucket
    raw, _, _ = robust_z(bucketed, 0.000970, 0.0)
    z, median, scale = robust_z(bucketed, 0.000970, 0.5)  # the next bucket up, not an outlier
    assert raw > 100 and scale == pytest.approx(0.5 * median) and z == pytest.approx((0.000970 - median) / scale)
    assert z < 2


def test_a_sample_is_judged_against_the_window_before_it_then_joins_it():
    rng = np.random.default_rng(8)
    d = detector(min_points=10, window_s=60.0)
    values = rng.normal(10, 1, 30)
    for i, v in enumerate(values):
        d.observe(T0 + i * NS, float(v))
    window = values[-60:]
    spike = d.observe(T0 + 30 * NS, 50.0)
    assert spike is not None
    assert spike.z == pytest.approx(robust_z(window, 50.0, d.cfg.min_relative_scale)[0])  # not diluted by itself
    assert spike.points == 30 and spike.span_s == 29
    after = d.observe(T0 + 31 * NS, 10.0)
    assert after is not None and after.points == 31  # the spike is in the window now
    assert after.median == pytest.approx(np.median(np.append(window, 50.0)))
    note = spike.note()
    assert note.startswith("anomaly: m = 50, robust z +") and f"median {spike.median:.4g}" in note


def test_no_score_before_min_points_nor_for_a_refused_sample():
    d = detector(min_points=10)
    got = [d.observe(T0 + i * NS, float(i % 3)) for i in range(12)]
    assert [g is not None for g in got] == [False] * 10 + [True] * 2  # 10 samples before the 11th
    assert d.observe(T0 + 11 * NS, 99.0) is None  # not newer than the last
    assert d.observe(T0 + 12 * NS, math.inf) is None


@pytest.mark.parametrize(("side", "sign"), [("high", 1), ("low", -1), ("both", 0)])
def test_the_score_is_signed_towards_the_bad_side(side, sign):
    rng = np.random.default_rng(2)
    d = detector(side=side)
    for i, v in enumerate(rng.normal(100, 5, 40)):
        d.observe(T0 + i * NS, float(v))
    dip = d.observe(T0 + 40 * NS, 40.0)
    assert dip is not None and dip.z < -6
    assert dip.value == (-dip.z if sign == 0 else sign * dip.z)
    assert d.rule.comparison == ">" and d.rule.threshold == 6.0
    assert d.rule.metric == 'm:anomaly_z{rule="a"}'
