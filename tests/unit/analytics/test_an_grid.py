"""Grid: the step is a nice width no finer than the sampling, and bins hold the mean of their samples."""

import numpy as np

from alluse.analytics.grid import NICE_STEPS_S, align, choose_step_ns
from alluse.analytics.results import NS_PER_S, SeriesData, Window

T0 = 1_700_000_000 * NS_PER_S


def _every(period_s: float, duration_s: float, name: str = "x") -> SeriesData:
    ts = T0 + (np.arange(0, duration_s, period_s) * NS_PER_S).astype(np.int64)
    return SeriesData(name, ts, np.arange(ts.size, dtype=float))


def test_nice_steps_are_ascending_and_end_at_a_day() -> None:
    assert list(NICE_STEPS_S) == sorted(NICE_STEPS_S) and NICE_STEPS_S[0] == 1 and NICE_STEPS_S[-1] == 86400


def test_a_day_of_1s_samples_is_binned_by_the_minute() -> None:
    day = Window(T0, T0 + 86400 * NS_PER_S)
    assert choose_step_ns([_every(1, 86400)], day, max_rows=1440) == 60 * NS_PER_S


def test_a_minute_of_1s_samples_keeps_1s_bins() -> None:
    minute = Window(T0, T0 + 60 * NS_PER_S)
    assert choose_step_ns([_every(1, 60)], minute, max_rows=1440) == NS_PER_S


def test_a_collector_that_ticks_a_little_late_keeps_1s_bins() -> None:
    minute = Window(T0, T0 + 61 * NS_PER_S)
    assert choose_step_ns([_every(1.0003, 60)], minute, max_rows=1440) == NS_PER_S
    assert choose_step_ns([_every(1.1, 60)], minute, max_rows=1440) == 2 * NS_PER_S  # not jitter: slower


def test_step_is_never_finer_than_the_sampling() -> None:
    minute = Window(T0, T0 + 600 * NS_PER_S)
    # samples every 7 s: the next nice step at or above 7 s is 10 s
    assert choose_step_ns([_every(7, 600)], minute, max_rows=1440) == 10 * NS_PER_S


def test_step_ignores_nan_gaps_when_measuring_the_sampling() -> None:
    s = _every(1, 60)
    s.values[1::2] = np.nan  # finite every 2 s
    assert choose_step_ns([s], Window(T0, T0 + 60 * NS_PER_S), max_rows=1440) == 2 * NS_PER_S


def test_step_falls_back_to_the_largest_when_nothing_fits() -> None:
    year = Window(T0, T0 + 365 * 86400 * NS_PER_S)
    assert choose_step_ns([_every(1, 10)], year, max_rows=10) == 86400 * NS_PER_S


def test_step_with_no_samples_is_the_finest_that_fits() -> None:
    empty = SeriesData("x", np.empty(0, dtype=np.int64), np.empty(0))
    assert choose_step_ns([empty], Window(T0, T0 + 3600 * NS_PER_S), max_rows=60) == 60 * NS_PER_S


def test_align_means_per_bin_nan_where_empty_and_ignores_outside_samples() -> None:
    s = 1 * NS_PER_S
    window = Window(T0, T0 + 25 * s)  # 10 s bins: 3 bins, the last one partial
    a = SeriesData(
        "a",
        np.array([T0 - s, T0, T0 + 4 * s, T0 + 9 * s, T0 + 24 * s, T0 + 25 * s]),
        np.array([100.0, 1.0, 2.0, np.nan, 7.0, 100.0]),
    )
    b = SeriesData("b", np.array([T0 + 12 * s, T0 + 13 * s]), np.array([np.inf, 5.0]))
    grid = align([a, b], window, 10 * s)
    assert grid.names == ["a", "b"]
    assert grid.step_ns == 10 * s
    np.testing.assert_array_equal(grid.times_ns, [T0, T0 + 10 * s, T0 + 20 * s])
    np.testing.assert_array_equal(grid.values, [[1.5, np.nan], [np.nan, 5.0], [7.0, np.nan]])


def test_align_a_day_of_1s_samples_matches_reshape_mean() -> None:
    rng = np.random.default_rng(1)
    ts = T0 + np.arange(86400, dtype=np.int64) * NS_PER_S
    series = [SeriesData(f"s{j}", ts, rng.normal(size=ts.size)) for j in range(3)]
    grid = align(series, Window(T0, T0 + 86400 * NS_PER_S), 60 * NS_PER_S)
    assert grid.values.shape == (1440, 3)
    expected = np.stack([s.values.reshape(1440, 60).mean(axis=1) for s in series], axis=1)
    np.testing.assert_allclose(grid.values, expected)
