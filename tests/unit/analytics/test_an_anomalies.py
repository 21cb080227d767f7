"""Anomalies: injected multivariate spikes are found, white noise is quiet, nasty grids are handled."""

import numpy as np
import pytest

from alluse.analytics.anomalies import find_anomalies
from alluse.analytics.results import NS_PER_S, Anomalies, Grid, Skipped

T0 = 1_700_000_000 * NS_PER_S
STEP = 60 * NS_PER_S
DEFAULTS = dict(contamination=0.1, robust_threshold=5.0, seed=0, min_rows=20)


def _grid(values: np.ndarray) -> Grid:
    rows, cols = values.shape
    times = T0 + np.arange(rows, dtype=np.int64) * STEP
    return Grid([f"s{j}" for j in range(cols)], times, STEP, values)


def _run(values: np.ndarray, **overrides) -> Anomalies | Skipped:
    return find_anomalies(_grid(values), **{**DEFAULTS, **overrides})


def _injected(seed: int = 7, rows: int = 1000, cols: int = 20):
    """Gaussian noise with per-series means/scales; 5% of rows get 2-4 series pushed 6-10 sigma."""
    rng = np.random.default_rng(seed)
    means, scales = rng.uniform(-100, 100, cols), rng.uniform(0.01, 50, cols)
    values = means + scales * rng.normal(size=(rows, cols))
    spikes = {}
    for i in rng.choice(rows, size=rows // 20, replace=False):
        js = rng.choice(cols, size=rng.integers(2, 5), replace=False)
        values[i, js] += rng.choice([-1, 1], js.size) * rng.uniform(6, 10, js.size) * scales[js]
        spikes[int(i)] = {f"s{j}" for j in js}
    return values, spikes


@pytest.fixture(scope="module")
def injected():
    values, spikes = _injected()
    return _run(values), spikes


def test_injected_spikes_are_recalled(injected) -> None:
    result, spikes = injected
    assert isinstance(result, Anomalies)
    covered = np.zeros(1000, dtype=bool)
    for w in result.windows:
        covered[(w.start_ns - T0) // STEP : (w.end_ns - T0) // STEP] = True
    recall = covered[list(spikes)].mean()
    assert recall >= 0.9


def test_windows_are_merged_sorted_and_explained(injected) -> None:
    result, spikes = injected
    assert result.step_s == 60.0 and result.series_used == [f"s{j}" for j in range(20)]
    scores = [w.score for w in result.windows]
    assert scores == sorted(scores, reverse=True)
    flagged_bins = sum((w.end_ns - w.start_ns) // STEP for w in result.windows)
    assert flagged_bins == pytest.approx(100, abs=2)  # contamination 0.1 of 1000 rows
    starts = sorted((w.start_ns, w.end_ns) for w in result.windows)
    assert all(prev_end < start for (_, prev_end), (start, _) in zip(starts, starts[1:], strict=False))
    top = result.windows[0]
    assert 1 <= len(top.standouts) <= 3
    zs = [abs(s.robust_z) for s in top.standouts]
    assert zs == sorted(zs, reverse=True)
    injected_here = set().union(
        *(spikes.get(i, set()) for i in range((top.start_ns - T0) // STEP, (top.end_ns - T0) // STEP))
    )
    assert {s.series for s in top.standouts} & injected_here


def test_injected_outliers_are_largest_first_and_capped(injected) -> None:
    result, spikes = injected
    assert 0 < len(result.outliers) <= 100
    zs = [abs(o.robust_z) for o in result.outliers]
    assert zs == sorted(zs, reverse=True) and zs[-1] > 5.0
    for o in result.outliers[:20]:
        assert o.series in spikes[(o.ts_ns - T0) // STEP]
    capped = _run(_injected()[0], max_outliers=5)
    assert [o.ts_ns for o in capped.outliers] == [o.ts_ns for o in result.outliers[:5]]


def test_same_seed_same_report() -> None:
    values, _ = _injected(rows=300, cols=5)
    a, b = _run(values), _run(values)
    assert [(w.start_ns, w.score) for w in a.windows] == [(w.start_ns, w.score) for w in b.windows]


def test_white_noise_has_no_outliers_and_one_spike_is_exactly_one() -> None:
    rng = np.random.default_rng(11)
    noise = rng.normal(5.0, 2.0, size=(1440, 1))
    assert _run(noise).outliers == []
    noise[700, 0] = 5.0 + 20 * 2.0
    (only,) = _run(noise).outliers
    assert (only.series, only.ts_ns, only.value) == ("s0", T0 + 700 * STEP, 45.0)
    assert only.robust_z == pytest.approx(20, rel=0.1)


def test_zero_mad_falls_back_to_mean_absolute_deviation() -> None:
    ratio = np.zeros((1000, 1))
    ratio[[100, 500, 900], 0] = 0.5  # an error ratio: 0 almost always, a few bursts
    result = _run(ratio)
    assert isinstance(result, Anomalies)
    # scale = 1.2533 * mean |x - 0| = 1.2533 * 1.5 / 1000
    assert [o.ts_ns for o in result.outliers] == [T0 + i * STEP for i in (100, 500, 900)]
    assert result.outliers[0].robust_z == pytest.approx(0.5 / (1.2533 * 1.5e-3))


def test_floating_point_noise_is_not_an_outlier_and_a_real_step_still_is() -> None:
    """A histogram percentile that reads 0.000955 and, once, its floating-point neighbour scored z 3e15."""
    p99 = np.full((1000, 2), 0.000955)
    p99[400, 0] = np.nextafter(0.000955, 1.0)
    p99[400, 1] = 0.002  # a real change in the other series
    result = _run(p99)
    assert isinstance(result, Anomalies)
    assert [o.series for o in result.outliers] == ["s1"]
    assert result.outliers[0].robust_z == pytest.approx((0.002 - 0.000955) / (1.2533 * (0.002 - 0.000955) / 1000))


def test_constant_and_empty_series_are_left_out() -> None:
    rng = np.random.default_rng(2)
    values = np.column_stack([rng.normal(size=200), np.full(200, 3.0), np.full(200, np.nan), rng.normal(size=200)])
    values[5, 1] = np.inf  # a non-finite reading does not make a constant series vary
    result = _run(values)
    assert isinstance(result, Anomalies) and result.series_used == ["s0", "s3"]
    assert all(s.series in {"s0", "s3"} for w in result.windows for s in w.standouts)


def test_nan_gaps_and_a_series_appearing_mid_window() -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(size=(600, 4))
    values[::5, 0] = np.nan  # regular gaps
    values[:300, 1] = np.nan  # appears half way through
    values[:, 2] = np.nan
    values[400:420, 2] = rng.normal(size=20)  # present only briefly
    result = _run(values)
    assert isinstance(result, Anomalies) and result.series_used == ["s0", "s1", "s2", "s3"]
    assert result.outliers == []
    # absence is not an anomaly: the flagged bins are spread, not the 300 bins before s1 appears
    flagged = sum((w.end_ns - w.start_ns) // STEP for w in result.windows)
    assert flagged <= 70
    assert all(np.isfinite(s.value) and np.isfinite(s.robust_z) for w in result.windows for s in w.standouts)


def test_rows_without_any_data_are_not_fitted_nor_flagged() -> None:
    values = np.random.default_rng(4).normal(size=(400, 3))
    values[100:300] = np.nan
    result = _run(values)
    assert isinstance(result, Anomalies)
    assert all(not (T0 + 100 * STEP <= w.start_ns < T0 + 300 * STEP) for w in result.windows)


def test_too_few_rows_is_skipped_with_numbers() -> None:
    values = np.full((100, 2), np.nan)
    values[:15] = np.random.default_rng(5).normal(size=(15, 2))
    out = _run(values)
    assert isinstance(out, Skipped) and (out.part, out.series) == ("anomalies", None)
    assert "15" in out.reason and "20" in out.reason


def test_nothing_varies_is_skipped() -> None:
    out = _run(np.column_stack([np.full(50, 1.0), np.full(50, np.nan)]))
    assert isinstance(out, Skipped) and out.series is None and "2" in out.reason
    empty = _run(np.empty((0, 0)))
    assert isinstance(empty, Skipped)


def test_outlier_counts_are_complete_when_the_list_is_capped() -> None:
    values = np.random.default_rng(12).normal(size=(500, 2))
    values[::10, 0] += 50.0  # 50 spikes in s0, none in s1
    capped = _run(values, max_outliers=5)
    assert isinstance(capped, Anomalies)
    assert len(capped.outliers) == 5 and capped.outlier_counts == {"s0": 50}
    full = _run(values, max_outliers=1000)
    assert len(full.outliers) == 50 and full.outlier_counts == capped.outlier_counts
