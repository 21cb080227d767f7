"""Forecasts of one grid column with prediction intervals, the model chosen on a held-out tail.

Two small candidate families (damped-trend ETS, seasonal when the history repeats, and ARIMA(1,d,1))
are each fitted on the history minus its last h bins and scored on those h bins; the winner is refit
on the whole history. The held-out error, its relative size and the 95% band's coverage there are
reported with the forecast, so a reader can see how far to trust it.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.signal import detrend, find_peaks
from statsmodels.tsa.arima.model import ARIMA
from statsmodels.tsa.exponential_smoothing.ets import ETSModel
from statsmodels.tsa.stattools import acf, adfuller
from threadpoolctl import threadpool_limits

from alluse.analytics.results import NS_PER_S, Forecast, Skipped, TooShort
from alluse.analytics.units import display, span_text

log = logging.getLogger("alluse.analytics")

PART = "forecasts"
SEASON_MIN_ACF = 0.3  # a repeat weaker than this is not worth a seasonal model
# A noisy autocorrelation has small bumps that pass the height test (lags 2..5 of a weak season,
# long lags of a random walk); a season's peak rises well above the dip before it.
SEASON_MIN_PROMINENCE = 0.1
SEASON_REFINE_LAGS = 2  # how far from the autocorrelation peak the season length is looked for
ADF_ALPHA = 0.05  # ADF p-value below this: stationary around a line, ARIMA needs no differencing


@dataclass(slots=True, frozen=True)
class _Path:
    """A forecast h steps ahead: mean and the 80% and 95% prediction intervals."""

    mean: np.ndarray
    lo80: np.ndarray
    hi80: np.ndarray
    lo95: np.ndarray
    hi95: np.ndarray

    def finite(self) -> bool:
        return all(np.isfinite(a).all() for a in (self.mean, self.lo80, self.hi80, self.lo95, self.hi95))


# Fits a model to a history and forecasts h steps after it.
_Fitter = Callable[[np.ndarray, int], _Path]


def _floored(p: _Path) -> _Path:
    return _Path(*(np.maximum(a, 0.0) for a in (p.mean, p.lo80, p.hi80, p.lo95, p.hi95)))


def season_period(y: np.ndarray) -> int | None:
    """The season length of `y` in bins, or None: the strongest autocorrelation peak, refined.

    The series is detrended first: a trend makes the autocorrelation decay slowly and bumpily, which
    hides a real season and invents false ones. Only lags with at least 2 full cycles in `y` count.
    Noise moves a single broad peak by a bin or two (59 or 61 for a 60-bin sine with noise sd 1/5 of
    its amplitude, ~4 times in 10), and a season one bin off drifts out of phase and loses to ARIMA;
    the lag near the peak whose multiples correlate best is right 100 times in 100 on that series."""
    max_lag = len(y) // 2
    if max_lag < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a constant training part has no autocorrelation (NaN)
        ac = acf(detrend(y), nlags=max_lag + 1, fft=True)  # one lag more, so max_lag can be a local maximum
    peaks, _ = find_peaks(ac, height=SEASON_MIN_ACF, prominence=SEASON_MIN_PROMINENCE)
    peaks = peaks[(peaks >= 2) & (peaks <= max_lag)]
    if len(peaks) == 0:
        return None
    peak = int(peaks[np.argmax(ac[peaks])])
    near = np.arange(max(2, peak - SEASON_REFINE_LAGS), min(max_lag, peak + SEASON_REFINE_LAGS) + 1)
    cycles = np.arange(1, max(1, max_lag // int(near[-1])) + 1)
    return int(near[np.argmax(ac[np.outer(near, cycles)].mean(axis=1))])


def _ets(period: int | None) -> tuple[str, _Fitter]:
    """Damped additive-trend ETS, additive season of `period` when there is one.

    A seasonal model starts from the heuristic initial state (Hyndman & Athanasopoulos, 2.6) instead of
    estimating its p seasonal starting values by numerical optimisation: much faster, for a slightly
    larger held-out error (docs/performance.md)."""
    if period is None:
        name, extra = "ETS(A,Ad,N)", {}
    else:
        name = f"ETS(A,Ad,A)[{period}]"
        extra = {"seasonal": "add", "seasonal_periods": period, "initialization_method": "heuristic"}

    def fit(y: np.ndarray, h: int) -> _Path:
        # statsmodels 0.15's ETS prediction fails on a bare ndarray; a RangeIndex Series works.
        model = ETSModel(pd.Series(y), error="add", trend="add", damped_trend=True, **extra)
        pred = model.fit(disp=False).get_prediction(start=len(y), end=len(y) + h - 1)
        f80, f95 = pred.summary_frame(alpha=0.2), pred.summary_frame(alpha=0.05)
        return _Path(
            f95["mean"].to_numpy(),
            f80["pi_lower"].to_numpy(),
            f80["pi_upper"].to_numpy(),
            f95["pi_lower"].to_numpy(),
            f95["pi_upper"].to_numpy(),
        )

    return name, fit


def _arima(d: int) -> tuple[str, _Fitter]:
    """ARIMA(1,d,1) with a linear trend (d = 0) or a drift (d = 1).

    Without them a steadily growing series (memory, a backlog) would be forecast to stop growing just
    when the forecast matters; a series with no trend gets a slope near 0. Parameter standard errors
    are not computed (cov_type="none"): the prediction intervals do not use them and the numerical
    Hessian they need costs as much as the fit."""
    name = "ARIMA(1,0,1) with trend" if d == 0 else "ARIMA(1,1,1) with drift"

    def fit(y: np.ndarray, h: int) -> _Path:
        model = ARIMA(y, order=(1, d, 1), trend="ct" if d == 0 else "t")
        fc = model.fit(cov_type="none").get_forecast(h)
        ci80, ci95 = fc.conf_int(alpha=0.2), fc.conf_int(alpha=0.05)
        return _Path(np.asarray(fc.predicted_mean), ci80[:, 0], ci80[:, 1], ci95[:, 0], ci95[:, 1])

    return name, fit


def differencing(y: np.ndarray) -> int:
    """0 when the ADF test rejects a unit root in favour of stationarity around a line, else 1.

    Testing against a line (regression="ct"), not a constant mean: a trend plus noise is then not
    differenced, which would leave a non-invertible MA part (theta = -1) that the fit creeps towards
    slowly (docs/performance.md) for the same forecast.
    A history too short for the test is differenced: that assumes less (no fixed mean to return to)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pvalue = adfuller(y, regression="ct", result_object=True).pvalue
    except ValueError as exc:  # "sample size is too short to use selected regression component"
        log.debug("ADF test not possible on %d points: %s", len(y), exc)
        return 1
    return 0 if pvalue < ADF_ALPHA else 1


def _try(name: str, fit: _Fitter, y: np.ndarray, h: int) -> _Path | str:
    """The fitted path, or why there is none: a failing candidate must not sink the others."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning & co.: the held-out error judges the fit
            path = fit(y, h)
    except Exception as exc:  # statsmodels raises many types (LinAlgError, ValueError, IndexError, ...)
        log.debug("forecast candidate %s failed: %r", name, exc)
        return f"{name}: {exc}"
    if not path.finite():
        log.debug("forecast candidate %s gave non-finite output", name)
        return f"{name}: non-finite forecast"
    return path


def _history(values: np.ndarray, history_points: int) -> tuple[np.ndarray, int, int, int] | None:
    """(filled history, how many of its bins were gaps, index of its first bin in `values`, bins from the first
    with data to the last, of which the history is the newest `history_points`) or None.

    Gaps are interpolated over the whole span with data before the newest bins are kept, so a gap
    at the start of the kept bins is filled from the bin before it rather than extrapolated."""
    finite = np.isfinite(values)
    idx = np.flatnonzero(finite)
    if len(idx) == 0:
        return None
    first, last = int(idx[0]), int(idx[-1]) + 1
    filled = np.interp(np.arange(first, last), idx, values[idx])
    start = max(first, last - history_points)
    return filled[start - first :], int(np.count_nonzero(~finite[start:last])), start, last - first


def _choose(y: np.ndarray, h: int) -> tuple[str, dict[str, float], _Path, _Path] | str:
    """(chosen model, candidate -> held-out MAE, its held-out path, its forecast) or why none.

    The model structure (season, differencing) is chosen on the training part only, so the held-out
    tail judges exactly the model that is then refit on the whole history."""
    train, tail = y[:-h], y[-h:]
    candidates = dict([_ets(season_period(train)), _arima(differencing(train))])
    held: dict[str, _Path] = {}
    errors: list[str] = []
    for cand, fit in candidates.items():
        result = _try(cand, fit, train, h)
        if isinstance(result, str):
            errors.append(result)
        else:
            held[cand] = result
    if not held:
        return "every model failed: " + "; ".join(errors)
    maes = {cand: float(np.mean(np.abs(path.mean - tail))) for cand, path in held.items()}
    model = min(maes, key=maes.__getitem__)
    final = _try(model, candidates[model], y, h)
    if isinstance(final, str):
        return f"refitting the chosen model on the whole history failed: {final}"
    return model, maes, held[model], final


def forecast(
    name: str,
    times_ns: np.ndarray,
    values: np.ndarray,
    *,
    step_ns: int,
    horizon_s: float,
    history_points: int,
    min_points: int,
    min_history_s: float,
) -> Forecast | Skipped:
    """Forecast one grid column (bin starts `times_ns`, bin means `values`, NaN = empty bin)
    `horizon_s` ahead, from its newest `history_points` bins. A history (first to last bin with data)
    shorter than `min_history_s` is "too short": nothing is extrapolated from it."""
    values = np.asarray(values, dtype=np.float64)
    step_s = step_ns / NS_PER_S
    hist = _history(values, history_points)
    if hist is None:
        return Skipped(PART, name, "no data in the window")
    y, gaps, start, available = hist
    n = len(y)
    if available * step_s < min_history_s:
        return Skipped(
            PART,
            name,
            f"{span_text(available * step_s)} of data ({available} bins of {step_s:g} s): too short, a forecast "
            f"needs {span_text(min_history_s)} of history",
            TooShort(available * step_s, min_history_s, available, math.ceil(round(min_history_s / step_s, 9))),
        )
    if 2 * gaps > n:
        return Skipped(PART, name, f"{gaps} of the {n} history bins are empty (more than half): too sparse to forecast")
    if np.ptp(y) == 0:
        return Skipped(PART, name, f"constant at {display(name, float(y[0]))} over the window: nothing to forecast")

    notes = []
    if n < history_points:
        notes.append(f"{n} bins of history with data ({history_points} requested)")
    if gaps:
        notes.append(f"{gaps} empty bins filled by linear interpolation")
    requested_h = math.ceil(round(horizon_s / step_s, 9))  # round: 0.3 / 0.1 must not become 4 steps
    h = min(requested_h, n // 3)
    if h < requested_h:
        notes.append(
            f"horizon shortened from {horizon_s:g} s to {h * step_s:g} s: {n * step_s:g} s of history, "
            "and a forecast further than a third of the history is not trusted"
        )
    if h < 1 or n - h < min_points:
        return Skipped(
            PART,
            name,
            f"{n} history bins of {step_s:g} s: holding out {h} to check the forecast leaves {n - h} to fit, "
            f"at least {min_points} are needed",
        )

    # OpenBLAS threads cost more than they save on a state-space model's tiny matrices, and on 2 busy
    # cores they spin: measured 20 forecasts of 720 points in 5-14 s with 2 threads, 2.6 s with 1.
    with threadpool_limits(limits=1, user_api="blas"):
        chosen = _choose(y, h)
    if isinstance(chosen, str):
        return Skipped(PART, name, chosen)
    model, maes, held, final = chosen
    # latency, CPU, a rate: the additive models' bands may dip below a floor that exists
    if np.min(y) >= 0 and np.min(final.lo95) < 0:
        final = _floored(final)
        notes.append("bands cut at 0: the series is never negative")
    tail = y[-h:]
    tail_scale = float(np.mean(np.abs(tail)))
    ts_last = int(times_ns[start + n - 1])
    return Forecast(
        series=name,
        model=model,
        criterion=f"lowest mean absolute error on the last {h} held-out points",
        candidates=maes,
        step_s=step_s,
        horizon_s=h * step_s,
        requested_horizon_s=horizon_s,
        history_points=n,
        notes=notes,
        ts_ns=[ts_last + int(step_ns) * k for k in range(1, h + 1)],
        mean=final.mean.tolist(),
        lo80=final.lo80.tolist(),
        hi80=final.hi80.tolist(),
        lo95=final.lo95.tolist(),
        hi95=final.hi95.tolist(),
        holdout_points=h,
        holdout_mae=maes[model],
        holdout_relative_mae=maes[model] / tail_scale if tail_scale > 0 else None,
        holdout_coverage95=float(np.mean((tail >= held.lo95) & (tail <= held.hi95))),
    )
