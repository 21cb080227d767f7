"""Trends: a known slope is recovered, noise is not called a trend, and polarity decides worsening."""

import warnings

import numpy as np
import pytest

from alluse.analytics.results import NS_PER_HOUR, NS_PER_S, SeriesData, Skipped, Trend
from alluse.analytics.trends import fit_trend

T0 = 1_700_000_000 * NS_PER_S
LATENCY = "alluse_order_ack_latency_seconds:p99"
THROUGHPUT = 'alluse_quotes_total:rate{outcome="accepted"}'
CASH = 'alluse_account_cash_usd{account="Gen-Acc"}'


def _series(name: str, hours: np.ndarray, values: np.ndarray) -> SeriesData:
    return SeriesData(name, T0 + (hours * NS_PER_HOUR).astype(np.int64), values)


def _line(name: str, slope: float, seed: int = 0, noise: float = 1.0, n: int = 600) -> SeriesData:
    rng = np.random.default_rng(seed)
    hours = np.sort(rng.uniform(0, 6, n))  # irregular sampling over 6 h
    hours[0] = 0.0
    return _series(name, hours, 3 + slope * hours + rng.normal(0, noise, n))


def _fit(s: SeriesData) -> Trend | Skipped:
    return fit_trend(s, alpha=0.05, min_points=10, min_span_s=0.0)  # the span guard: test_an_warmup.py


def test_known_slope_is_recovered_from_irregular_samples_with_gaps() -> None:
    s = _line("x", 2.5)
    s.values[::7] = np.nan
    t = _fit(s)
    assert isinstance(t, Trend)
    assert t.n == 600 - len(s.values[::7])
    assert t.slope_per_hour == pytest.approx(2.5, abs=0.1)
    assert t.intercept == pytest.approx(3.0, abs=0.3)
    assert t.p_value is not None and t.p_value < 1e-50
    assert t.r2 > 0.9
    assert t.significant and t.direction == "rising"
    assert t.t0_ns == int(s.ts_ns[1])  # first *finite* sample (index 0 is a gap)
    mean = float(np.nanmean(s.values))
    span_h = (s.ts_ns[-1] - s.ts_ns[1]) / NS_PER_HOUR
    assert t.relative_change == pytest.approx(t.slope_per_hour * span_h / mean)


def test_pure_noise_is_not_significant() -> None:
    t = _fit(_line("x", 0.0, seed=3))
    assert isinstance(t, Trend)
    assert not t.significant and t.direction == "flat" and t.p_value is not None and t.p_value >= 0.05


def test_falling_significant_trend() -> None:
    t = _fit(_line("x", -1.0))
    assert isinstance(t, Trend) and t.direction == "falling"


def test_latency_rising_is_worsening() -> None:
    t = _fit(_line(LATENCY, 2.0))
    assert isinstance(t, Trend) and t.higher_is_worse is True and t.worsening is True


def test_latency_falling_is_not_worsening() -> None:
    t = _fit(_line(LATENCY, -2.0))
    assert isinstance(t, Trend) and t.worsening is False


def test_throughput_falling_is_worsening() -> None:
    t = _fit(_line(THROUGHPUT, -2.0))
    assert isinstance(t, Trend) and t.higher_is_worse is False and t.worsening is True


def test_cash_rising_has_no_worsening() -> None:
    t = _fit(_line(CASH, 2.0))
    assert isinstance(t, Trend) and t.significant and t.higher_is_worse is None and t.worsening is None


def test_noisy_latency_is_not_worsening() -> None:
    t = _fit(_line(LATENCY, 0.0, seed=3))
    assert isinstance(t, Trend) and t.worsening is False


def test_constant_series_is_flat_without_warnings() -> None:
    s = _series(LATENCY, np.linspace(0, 2, 50), np.full(50, 0.004))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = _fit(s)
    assert isinstance(t, Trend)
    assert (t.slope_per_hour, t.r2, t.p_value, t.significant, t.direction) == (0.0, 0.0, None, False, "flat")
    assert t.intercept == 0.004 and t.relative_change == 0.0 and t.worsening is False


def test_zero_mean_has_no_relative_change() -> None:
    hours = np.linspace(0, 1, 20)
    t = _fit(_series("x", hours, np.where(np.arange(20) % 2 == 0, 1.0, -1.0)))
    assert isinstance(t, Trend) and t.relative_change is None


def test_too_few_finite_points_is_skipped_with_counts() -> None:
    values = np.full(30, np.nan)
    values[:9] = np.arange(9.0)
    out = _fit(_series("x", np.linspace(0, 1, 30), values))
    assert isinstance(out, Skipped) and (out.part, out.series) == ("trends", "x")
    assert "9" in out.reason and "10" in out.reason


def test_all_samples_at_one_timestamp_is_skipped() -> None:
    out = _fit(SeriesData("x", np.full(12, T0), np.arange(12.0)))
    assert isinstance(out, Skipped) and "12" in out.reason and "timestamp" in out.reason


def _ar1(n: int, phi: float, rng: np.random.Generator) -> np.ndarray:
    e = rng.normal(size=n)
    x = np.empty(n)
    x[0] = e[0]
    for i in range(1, n):
        x[i] = phi * x[i - 1] + e[i]
    return x


def _every_second(name: str, values: np.ndarray) -> SeriesData:
    return SeriesData(name, T0 + np.arange(values.size, dtype=np.int64) * NS_PER_S, values)


def test_autocorrelated_noise_is_not_called_a_trend() -> None:
    # plain OLS p-values called 60% of these trendless series significant at alpha 0.05
    found = [
        _fit(_every_second(LATENCY, 50 + _ar1(3600, 0.9, np.random.default_rng(seed)))).significant
        for seed in range(60)
    ]
    assert sum(found) / len(found) <= 0.12


def test_effective_samples_follow_the_autocorrelation() -> None:
    rng = np.random.default_rng(1)
    white = _fit(_every_second("x", rng.normal(size=5000)))
    sticky = _fit(_every_second("x", _ar1(5000, 0.9, rng)))
    assert isinstance(white, Trend) and isinstance(sticky, Trend)
    assert white.n_effective == pytest.approx(5000, rel=0.05)
    assert sticky.n_effective == pytest.approx(5000 * 0.1 / 1.9, rel=0.25)


def test_a_real_drift_under_autocorrelated_noise_is_still_found() -> None:
    n = 3600
    y = 50 + 4.0 * np.arange(n) / n + _ar1(n, 0.9, np.random.default_rng(2))  # +4 over the hour, sd ~2.3
    t = _fit(_every_second(LATENCY, y))
    assert isinstance(t, Trend) and t.significant and t.worsening
    assert t.slope_per_hour == pytest.approx(4.0, abs=2.0)


def test_a_random_walk_counts_as_few_independent_samples() -> None:
    t = _fit(_every_second("x", np.cumsum(np.random.default_rng(3).normal(size=2000))))
    assert isinstance(t, Trend) and t.n_effective < 20
    flat = _fit(_every_second("x", np.r_[np.zeros(10), 1.0, np.zeros(10)]))  # r1 < 0: n itself, never more
    assert isinstance(flat, Trend) and flat.n_effective == 21


def test_fewer_than_three_effective_samples_give_no_p_value() -> None:
    t = _fit(_every_second("x", np.sin(np.linspace(0, 3 * np.pi, 12))))  # one smooth swing: r1 near 1
    assert isinstance(t, Trend) and t.n_effective < 3
    assert (t.p_value, t.significant, t.direction) == (None, False, "flat")
