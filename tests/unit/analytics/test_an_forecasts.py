"""forecasts: known answers on synthetic series (season, trend, coverage) and every nasty input."""

from __future__ import annotations

import numpy as np
import pytest

from alluse.analytics import forecasts
from alluse.analytics.forecasts import forecast, season_period
from alluse.analytics.results import NS_PER_S, Forecast, Skipped

T0 = 1_700_000_000 * NS_PER_S  # an epoch-sized start, so int64 arithmetic is exercised
STEP_S = 60


def _times(n: int, step_s: int = STEP_S) -> np.ndarray:
    return T0 + np.arange(n, dtype=np.int64) * step_s * NS_PER_S


def _run(values, *, name: str = "x", step_s: int = STEP_S, **kw) -> Forecast | Skipped:
    values = np.asarray(values, dtype=np.float64)
    args = {"horizon_s": 1800.0, "history_points": 720, "min_points": 20, "min_history_s": 0.0} | kw
    return forecast(name, _times(len(values), step_s), values, step_ns=step_s * NS_PER_S, **args)


def _sine(n: int, rng: np.random.Generator, period: int = 60) -> np.ndarray:
    t = np.arange(n)
    return 20 + 5 * np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi)) + rng.normal(0, 1, n)


# --- known answers -------------------------------------------------------------------------------


def test_seasonal_series_gets_seasonal_ets_and_calibrated_intervals():
    inside95 = inside80 = total = 0
    for origin in range(8):  # 8 rolling origins x 30 steps, each with its own noise
        y = _sine(510, np.random.default_rng(100 + origin))
        f = _run(y[:480])
        assert isinstance(f, Forecast)
        assert f.model == "ETS(A,Ad,A)[60]"
        assert f.candidates[f.model] < min(f.candidates.values()) + 1e-12
        actual = y[480:]
        inside95 += np.count_nonzero((actual >= f.lo95) & (actual <= f.hi95))
        inside80 += np.count_nonzero((actual >= f.lo80) & (actual <= f.hi80))
        total += len(actual)
    # measured 0.946 and 0.771; bounds on both sides, so bands too wide to be useful fail as well
    assert 0.90 <= inside95 / total <= 0.99
    assert 0.70 <= inside80 / total <= 0.90


def test_linear_trend_is_continued():
    rng = np.random.default_rng(7)
    n, sd = 600, 0.2
    t = np.arange(n)
    f = _run(10 + 0.5 * t + rng.normal(0, sd, n))
    assert isinstance(f, Forecast)
    true_end = 10 + 0.5 * (n - 1 + 30)
    assert abs(f.mean[-1] - true_end) < 4 * sd
    assert np.all(np.diff(f.mean) > 0.4)  # keeps rising at ~0.5 per step, not flattening
    assert f.holdout_coverage95 >= 0.8


@pytest.mark.parametrize("kind", ["random walk", "seasonal", "trend", "white noise"])
def test_intervals_are_nested(kind):
    rng = np.random.default_rng(3)
    n = 300
    y = {
        "random walk": np.cumsum(rng.normal(0, 1, n)),
        "seasonal": _sine(n, rng, period=30),
        "trend": 0.1 * np.arange(n) + rng.normal(0, 1, n),
        "white noise": rng.normal(5, 1, n),
    }[kind]
    f = _run(y)
    assert isinstance(f, Forecast)
    lo95, lo80, mean, hi80, hi95 = map(np.asarray, (f.lo95, f.lo80, f.mean, f.hi80, f.hi95))
    assert np.all(lo95 < lo80) and np.all(lo80 < mean) and np.all(mean < hi80) and np.all(hi80 < hi95)


def test_result_fields_follow_the_request():
    rng = np.random.default_rng(11)
    y = np.cumsum(rng.normal(0, 1, 900))
    f = _run(y, history_points=720)
    assert isinstance(f, Forecast)
    assert f.history_points == 720 and f.notes == []
    assert f.step_s == 60.0 and f.horizon_s == 1800.0 and f.requested_horizon_s == 1800.0
    assert f.holdout_points == 30 == len(f.mean) == len(f.lo95) == len(f.hi80)
    last = int(_times(900)[-1])
    assert f.ts_ns == [last + k * STEP_S * NS_PER_S for k in range(1, 31)]
    assert f.criterion == "lowest mean absolute error on the last 30 held-out points"
    assert len(f.candidates) == 2 and f.model in f.candidates
    assert f.holdout_mae == f.candidates[f.model] == min(f.candidates.values())
    assert f.holdout_relative_mae == pytest.approx(f.holdout_mae / np.mean(np.abs(y[-30:])))
    assert 0.0 <= f.holdout_coverage95 <= 1.0


def test_season_period_known_answers():
    rng = np.random.default_rng(5)
    t = np.arange(450)
    spikes = np.where(t % 45 < 5, 4.0, 0.0) + rng.normal(0, 1, 450)  # a non-sine shape repeats too
    assert season_period(_sine(450, rng)) == 60
    assert season_period(spikes) == 45
    assert season_period(rng.normal(0, 1, 450)) is None
    assert season_period(0.01 * t + rng.normal(0, 1, 450)) is None  # a trend is not a season
    assert season_period(_sine(100, rng, period=60)) is None  # fewer than 2 full cycles


# --- nasty input -------------------------------------------------------------------------------


def test_constant_series_is_skipped():
    s = _run(np.full(200, 3.0), name="queue_depth")
    assert s == Skipped("forecasts", "queue_depth", "constant at 3 over the window: nothing to forecast")


def test_no_data_is_skipped():
    s = _run(np.r_[np.full(100, np.nan), np.full(100, np.inf)])
    assert isinstance(s, Skipped) and s.reason == "no data in the window"


def test_too_few_points_is_skipped():
    s = _run(np.random.default_rng(0).normal(0, 1, 40), min_points=30)
    assert isinstance(s, Skipped)
    assert (
        s.reason
        == "40 history bins of 60 s: holding out 13 to check the forecast leaves 27 to fit, at least 30 are needed"
    )
    s = _run([1.0, 2.0], min_points=1)  # no step can be held out at all
    assert isinstance(s, Skipped) and "holding out 0" in s.reason


def test_mostly_empty_history_is_skipped():
    y = np.random.default_rng(0).normal(0, 1, 300)
    y[np.arange(300) % 3 != 0] = np.nan  # 2 of every 3 bins empty
    s = _run(y)
    assert isinstance(s, Skipped)
    assert s.reason == "198 of the 298 history bins are empty (more than half): too sparse to forecast"


def test_gaps_are_filled_and_said():
    rng = np.random.default_rng(2)
    y = _sine(300, rng)
    clean = _run(y)
    y[[50, 51, 52, 200, 250]] = np.nan
    y[120] = np.inf
    f = _run(y)
    assert isinstance(f, Forecast) and isinstance(clean, Forecast)
    assert f.notes == ["300 bins of history with data (720 requested)", "6 empty bins filled by linear interpolation"]
    assert np.all(np.isfinite(f.mean))
    assert np.max(np.abs(np.subtract(f.mean, clean.mean))) < 1.0  # a few filled bins barely move it


def test_gap_at_the_start_of_the_kept_bins_counts():
    y = np.random.default_rng(4).normal(0, 1, 400)
    y[295:310] = np.nan  # the newest 100 bins start inside this gap
    f = _run(y, history_points=100)
    assert isinstance(f, Forecast)
    assert f.history_points == 100
    assert f.notes == ["10 empty bins filled by linear interpolation"]


def test_series_that_starts_and_stops_mid_window():
    rng = np.random.default_rng(9)
    y = np.full(1000, np.nan)
    y[600:990] = 50 + np.cumsum(rng.normal(0, 1, 390))
    f = _run(y)
    assert isinstance(f, Forecast)
    assert f.history_points == 390
    assert f.notes == ["390 bins of history with data (720 requested)"]
    assert f.ts_ns[0] == int(_times(1000)[989]) + STEP_S * NS_PER_S  # after the last bin with data


def test_long_horizon_is_shortened_with_a_note():
    y = np.random.default_rng(1).normal(0, 1, 60)
    f = _run(y, step_s=1, min_points=20)
    assert isinstance(f, Forecast)
    assert f.horizon_s == 20.0 and f.requested_horizon_s == 1800.0 and len(f.mean) == 20
    assert f.notes == [
        "60 bins of history with data (720 requested)",
        "horizon shortened from 1800 s to 20 s: 60 s of history, "
        "and a forecast further than a third of the history is not trusted",
    ]


def test_zero_tail_has_no_relative_error():
    rng = np.random.default_rng(6)
    f = _run(np.r_[rng.normal(0, 1, 200), np.zeros(100)])
    assert isinstance(f, Forecast)
    assert f.holdout_relative_mae is None and np.isfinite(f.holdout_mae)


class _Broken:
    def __init__(self, *args, **kwargs):
        raise ValueError("boom")


def test_a_failing_candidate_is_left_out(monkeypatch):
    monkeypatch.setattr(forecasts, "ARIMA", _Broken)
    f = _run(np.cumsum(np.random.default_rng(8).normal(0, 1, 200)))
    assert isinstance(f, Forecast)
    assert list(f.candidates) == [f.model] == ["ETS(A,Ad,N)"]


def test_every_candidate_failing_is_skipped(monkeypatch):
    monkeypatch.setattr(forecasts, "ARIMA", _Broken)
    monkeypatch.setattr(forecasts, "ETSModel", _Broken)
    s = _run(np.cumsum(np.random.default_rng(8).normal(0, 1, 200)))
    assert isinstance(s, Skipped)
    assert s.reason.startswith("every model failed: ETS(A,Ad,N): boom; ARIMA(1,")


def test_a_series_that_is_never_negative_gets_no_negative_band():
    rng = np.random.default_rng(11)
    y = np.abs(rng.normal(0.0005, 0.0004, 300))  # a latency near zero: additive bands would dip below 0
    f = _run(y)
    assert isinstance(f, Forecast)
    assert min(f.lo95) >= 0.0 and min(f.mean) >= 0.0
    assert "bands cut at 0: the series is never negative" in f.notes
    g = _run(y - 0.001)  # the same shape below zero: left alone
    assert isinstance(g, Forecast) and min(g.lo95) < 0 and "bands cut at 0" not in " ".join(g.notes)
