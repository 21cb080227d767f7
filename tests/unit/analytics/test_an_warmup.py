"""Warm-up and "too short": where runs start, what is left out, and the guards on trends and forecasts."""

import numpy as np
import pytest

from alluse.analytics.anomalies import find_anomalies
from alluse.analytics.forecasts import forecast
from alluse.analytics.results import NS_PER_S, Grid, RunStart, SeriesData, Skipped, TooShort, Trend, WarmupSpan, Window
from alluse.analytics.trends import fit_trend
from alluse.analytics.warmup import DATA_BEGINS, counter_starts, find_run_starts, warmup_spans, without_warmup
from alluse.monitoring.store import SeriesRows
from alluse.monitoring.store_writer import MINUTE_NS

T0 = 1_700_000_040 * NS_PER_S  # a whole minute (1_700_000_040 = 28_333_334 x 60)
PER_TICK = 7.0  # samples one tick adds to the collector's running total


def _ticks(start_s: int, n: int, first_value: float = 0.0) -> list[tuple[int, float]]:
    """The collector's running total read every second from T0 + start_s, starting at first_value."""
    return [(T0 + (start_s + i) * NS_PER_S, first_value + i * PER_TICK) for i in range(n)]


# --- run starts -----------------------------------------------------------------------------------


def test_a_first_tick_and_a_restart_are_starts_a_pause_without_a_fall_is_not():
    rows = SeriesRows(
        raw=_ticks(0, 100)  # a process starts at T0
        + _ticks(120, 50, first_value=100 * PER_TICK)  # 20 s without samples, the count goes on: a stall
        + _ticks(172, 30),  # a restart 2 s after the last sample: reads 0 again
        minutes=[],
    )
    starts = counter_starts(rows)
    assert [(s.earliest_ns, s.latest_ns) for s in starts] == [(T0, T0), (T0 + 172 * NS_PER_S,) * 2]
    assert all("first tick" in s.evidence for s in starts)


def test_a_count_that_falls_without_reading_0_is_a_restart():
    rows = SeriesRows(raw=_ticks(0, 10, first_value=50.0) + _ticks(10, 10, first_value=3 * PER_TICK), minutes=[])
    (start,) = counter_starts(rows)  # the window began mid-run: its first reading is no start
    assert start.earliest_ns == T0 + 10 * NS_PER_S and "fell" in start.evidence


def test_a_start_inside_a_folded_minute_spans_the_minute_and_the_next_minute_is_not_a_false_one():
    old_max = 10_000.0
    minutes = [
        (T0, 60, 60 * 9_000.0, 9_000.0, 9_500.0),  # an old process
        (T0 + MINUTE_NS, 60, 0.0, 0.0, old_max),  # it stops and a new one starts within this minute: min 0
        (T0 + 2 * MINUTE_NS, 60, 0.0, 300.0, 720.0),  # the new one goes on: below the minute before's max
        (T0 + 3 * MINUTE_NS, 60, 0.0, 730.0, 1_100.0),
    ]
    late_raw = (T0 + MINUTE_NS + 5 * NS_PER_S, 1.0)  # a late raw sample inside a folded minute: the minute covers it
    starts = counter_starts(SeriesRows(raw=[late_raw, *_ticks(240, 5, first_value=1_200.0)], minutes=minutes))
    assert [(s.earliest_ns, s.latest_ns) for s in starts] == [(T0 + MINUTE_NS, T0 + 2 * MINUTE_NS - 1)]
    assert "folded minute" in starts[0].evidence


def test_without_the_collector_count_only_the_data_beginning_inside_the_window_is_a_start():
    first = T0 + 5 * NS_PER_S
    assert find_run_starts(None, first, T0) == [RunStart(first, first, DATA_BEGINS)]
    assert find_run_starts(None, T0, T0) == []  # the window cuts into a run: its first sample is no start
    assert find_run_starts(SeriesRows([], []), None, T0) == []
    counted = SeriesRows(raw=_ticks(0, 3, first_value=70.0), minutes=[])  # mid-run, and the count says so
    assert find_run_starts(counted, first, T0) == []


# --- spans and masking ----------------------------------------------------------------------------


def test_spans_are_cut_to_the_window_and_a_restart_in_a_warm_up_extends_it():
    window = Window(T0, T0 + 3600 * NS_PER_S)
    starts = [
        RunStart(T0 - 20 * NS_PER_S, T0 - 20 * NS_PER_S, "before the window"),  # 10 s of it reach in
        RunStart(T0 + 100 * NS_PER_S, T0 + 100 * NS_PER_S, "a"),
        RunStart(T0 + 110 * NS_PER_S, T0 + 110 * NS_PER_S, "b"),  # within a's warm-up
        RunStart(T0 - 60 * NS_PER_S, T0 - 60 * NS_PER_S, "long before"),  # its warm-up ended before the window
    ]
    spans = warmup_spans(starts, 30.0, window)
    assert spans == [
        WarmupSpan(T0, T0 + 10 * NS_PER_S, "before the window"),
        WarmupSpan(T0 + 100 * NS_PER_S, T0 + 140 * NS_PER_S, "a"),
    ]
    assert warmup_spans(starts, 0.0, window) == []


def test_masking_makes_warm_up_samples_gaps_and_leaves_the_rest_and_the_original_alone():
    ts = T0 + np.arange(200, dtype=np.int64) * NS_PER_S
    whole = SeriesData("x", ts, np.arange(200.0))
    untouched = SeriesData("y", ts[150:], np.ones(50))
    spans = [WarmupSpan(T0, T0 + 30 * NS_PER_S, "a"), WarmupSpan(T0 + 100 * NS_PER_S, T0 + 130 * NS_PER_S, "b")]
    masked, same = without_warmup([whole, untouched], spans)
    gone = np.flatnonzero(~np.isfinite(masked.values))
    assert gone.tolist() == [*range(30), *range(100, 130)]  # [start, end): the sample at the end is kept
    assert np.isfinite(whole.values).all() and same is untouched


# --- too short ------------------------------------------------------------------------------------


def _seconds(n: int, values: np.ndarray) -> SeriesData:
    return SeriesData("alluse_process_cpu_percent", T0 + np.arange(n, dtype=np.int64) * NS_PER_S, values)


def test_a_trend_over_less_than_its_span_is_too_short_not_a_slope_per_hour():
    rising = 10 + 0.5 * np.arange(60.0)  # a minute of a clear rise: 1,800 per hour if extrapolated
    out = fit_trend(_seconds(60, rising), alpha=0.05, min_points=10, min_span_s=180.0)
    assert isinstance(out, Skipped) and out.part == "trends"
    assert out.too_short == TooShort(had_s=59.0, needs_s=180.0, had_points=60, needs_points=10)
    assert "too short" in out.reason and "59 s" in out.reason and "3 min" in out.reason
    longer = fit_trend(_seconds(181, 10 + 0.5 * np.arange(181.0)), alpha=0.05, min_points=10, min_span_s=180.0)
    assert isinstance(longer, Trend) and longer.slope_per_hour == pytest.approx(1800.0)


def test_too_few_samples_over_a_long_span_are_too_short_as_well():
    values = np.full(600, np.nan)
    values[::100] = 1.0 + np.arange(6)
    out = fit_trend(_seconds(600, values), alpha=0.05, min_points=10, min_span_s=180.0)
    assert isinstance(out, Skipped) and out.too_short == TooShort(500.0, 180.0, 6, 10)


def _forecast(n: int, step_s: int, min_history_s: float):
    y = 20 + np.random.default_rng(0).normal(0, 1, n)
    times = T0 + np.arange(n, dtype=np.int64) * step_s * NS_PER_S
    return forecast(
        "x", times, y, step_ns=step_s * NS_PER_S, horizon_s=1800.0, history_points=720, min_points=20,
        min_history_s=min_history_s,
    )  # fmt: skip


def test_a_forecast_from_less_history_than_it_needs_is_too_short():
    out = _forecast(60, 1, min_history_s=600.0)  # a minute of 1 s bins: it used to forecast 20 s ahead
    assert isinstance(out, Skipped) and out.part == "forecasts"
    assert out.too_short == TooShort(had_s=60.0, needs_s=600.0, had_points=60, needs_points=600)
    assert "too short" in out.reason and "10 min" in out.reason
    assert not isinstance(_forecast(600, 1, min_history_s=600.0), Skipped)


def test_the_history_needed_is_the_data_available_not_the_newest_bins_a_forecast_keeps():
    out = _forecast(2000, 1, min_history_s=1000.0)  # 2,000 s of data; the forecast fits on its newest 720 bins
    assert not isinstance(out, Skipped) and out.history_points == 720


def test_anomaly_detection_over_fewer_bins_than_it_needs_is_too_short():
    rows = np.r_[np.full(30, np.nan), np.random.default_rng(0).normal(0, 1, 15)][:, None]  # a warm-up, then 15 s
    grid = Grid(["x"], T0 + np.arange(45, dtype=np.int64) * NS_PER_S, NS_PER_S, rows)
    out = find_anomalies(grid, contamination=0.1, robust_threshold=5.0, seed=0, min_rows=20)
    assert isinstance(out, Skipped) and out.too_short == TooShort(15.0, 20.0, 15, 20) and "too short" in out.reason
