"""Series statistics: known answers, gaps ignored, an empty series skipped."""

import numpy as np
import pytest

from alluse.analytics.results import SeriesData, SeriesStats, Skipped
from alluse.analytics.stats import series_stats


def test_stats_of_1_to_100_with_gaps() -> None:
    values = np.concatenate([[np.nan], np.arange(1.0, 101.0), [np.inf]])
    ts = np.arange(values.size, dtype=np.int64) * 1000
    st = series_stats(SeriesData("x", ts, values))
    assert isinstance(st, SeriesStats)
    assert st.count == 100
    assert st.mean == pytest.approx(50.5)
    assert st.std == pytest.approx(np.sqrt((100**2 - 1) / 12))  # population std of 1..100
    assert (st.min, st.max) == (1.0, 100.0)
    assert st.p50 == pytest.approx(50.5)
    assert st.p95 == pytest.approx(95.05)
    assert st.p99 == pytest.approx(99.01)
    assert (st.first_ns, st.last_ns) == (1000, 100_000)  # first and last *finite* samples


def test_constant_series_has_zero_spread() -> None:
    st = series_stats(SeriesData("x", np.arange(5, dtype=np.int64), np.full(5, 3.0)))
    assert isinstance(st, SeriesStats)
    assert (st.std, st.p50, st.p99) == (0.0, 3.0, 3.0)


def test_no_finite_samples_is_skipped() -> None:
    out = series_stats(SeriesData("x", np.arange(3, dtype=np.int64), np.full(3, np.nan)))
    assert out == Skipped("stats", "x", "no finite samples in the window")
    empty = series_stats(SeriesData("y", np.empty(0, dtype=np.int64), np.empty(0)))
    assert isinstance(empty, Skipped) and empty.series == "y"
