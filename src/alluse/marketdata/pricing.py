"""Black-Scholes prices, greeks and implied volatility, vectorised over whole option chains.

European exercise, continuous rate, no dividends: the model the simulated market quotes
with and the one the chain service inverts, so one maths module serves both sides. Every
function broadcasts numpy arrays and scalars. A bad element (non-positive spot or strike,
negative vol, NaN/inf) comes back as NaN instead of raising, so one bad quote never
poisons the rest of a chain; callers decide what a NaN means for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtr

from alluse.common.clock import NS

DAY_NS = 24 * 3600 * NS
YEAR_NS = 365 * DAY_NS  # ACT/365: T in years = ns / YEAR_NS
SIGMA_MIN = 1e-4
SIGMA_MAX = 5.0

_SIGMA_GRID = np.array([SIGMA_MIN, 0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, SIGMA_MAX])
_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)

FloatArray = NDArray[np.float64]


class Greeks(NamedTuple):
    """Vega per 1.00 of volatility (divide by 100 for per vol point); theta per year."""

    delta: FloatArray
    gamma: FloatArray
    vega: FloatArray
    theta: FloatArray

    @property
    def theta_per_day(self) -> FloatArray:
        """Calendar-day theta (theta / 365), the figure a trader reads off a screen."""
        return self.theta / 365.0


def _arrays(*args: ArrayLike) -> Sequence[np.ndarray]:
    return np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in args))


def _select(index: np.ndarray, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """Each array's elements at `index` (a mask or positions)."""
    return tuple(a[index] for a in arrays)


def _unwrap(x: np.ndarray) -> FloatArray:
    """0-d results become numpy scalars (which are floats), arrays stay arrays."""
    return x[()] if x.ndim == 0 else x


def _valid(S: np.ndarray, K: np.ndarray, T: np.ndarray, r: np.ndarray) -> np.ndarray:
    return np.isfinite(S) & np.isfinite(K) & np.isfinite(T) & np.isfinite(r) & (S > 0) & (K > 0)


def _price_and_vega(
    S: np.ndarray, K: np.ndarray, T: np.ndarray, r: np.ndarray, sigma: np.ndarray, call: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Core formula for T > 0 and sigma > 0 (other elements give garbage the callers mask out)."""
    sqrt_t = np.sqrt(T)
    vs = sigma * sqrt_t
    d1 = (np.log(S / K) + (r + 0.5 * sigma * sigma) * T) / vs
    d2 = d1 - vs
    k_df = K * np.exp(-r * T)
    # Each right uses its own tail (ndtr(-d)) rather than parity, so deep OTM puts keep precision.
    price = np.where(call, S * ndtr(d1) - k_df * ndtr(d2), k_df * ndtr(-d2) - S * ndtr(-d1))
    vega = S * np.exp(-0.5 * d1 * d1) * _INV_SQRT_2PI * sqrt_t
    return price, vega


def bs_price(
    S: ArrayLike, K: ArrayLike, T: ArrayLike, r: ArrayLike, sigma: ArrayLike, is_call: ArrayLike
) -> FloatArray:
    """Option value; at T <= 0 the exercise value, at sigma == 0 the discounted forward intrinsic."""
    S, K, T, r, sigma, call = _arrays(S, K, T, r, sigma, is_call)
    call = call.astype(bool)
    with np.errstate(all="ignore"):
        price, _ = _price_and_vega(S, K, T, r, sigma, call)
        k_df = K * np.exp(-r * np.maximum(T, 0.0))
        forward_intrinsic = np.maximum(np.where(call, S - k_df, k_df - S), 0.0)
        price = np.where((T > 0) & (sigma > 0), price, forward_intrinsic)
    ok = _valid(S, K, T, r) & (sigma >= 0) & np.isfinite(sigma)
    return _unwrap(np.where(ok, price, np.nan))


def greeks(S: ArrayLike, K: ArrayLike, T: ArrayLike, r: ArrayLike, sigma: ArrayLike, is_call: ArrayLike) -> Greeks:
    """NaN wherever T <= 0 or sigma is not positive: an expired or vol-less option has no useful greeks."""
    S, K, T, r, sigma, call = _arrays(S, K, T, r, sigma, is_call)
    call = call.astype(bool)
    ok = _valid(S, K, T, r) & (T > 0) & (sigma > 0) & np.isfinite(sigma)
    with np.errstate(all="ignore"):
        sqrt_t = np.sqrt(T)
        vs = sigma * sqrt_t
        d1 = (np.log(S / K) + (r + 0.5 * sigma * sigma) * T) / vs
        d2 = d1 - vs
        pdf = np.exp(-0.5 * d1 * d1) * _INV_SQRT_2PI
        k_df = K * np.exp(-r * T)
        n_d1 = ndtr(d1)
        delta = np.where(call, n_d1, n_d1 - 1.0)
        gamma = pdf / (S * vs)
        vega = S * pdf * sqrt_t
        decay = -S * pdf * sigma / (2.0 * sqrt_t)
        theta = np.where(call, decay - r * k_df * ndtr(d2), decay + r * k_df * ndtr(-d2))
    nan = np.nan
    return Greeks(
        _unwrap(np.where(ok, delta, nan)),
        _unwrap(np.where(ok, gamma, nan)),
        _unwrap(np.where(ok, vega, nan)),
        _unwrap(np.where(ok, theta, nan)),
    )


def implied_vol(
    price: ArrayLike, S: ArrayLike, K: ArrayLike, T: ArrayLike, r: ArrayLike, is_call: ArrayLike, max_iter: int = 100
) -> FloatArray:
    """The sigma in [SIGMA_MIN, SIGMA_MAX] whose price matches `price`, NaN where none does
    (price outside the model prices at the two bounds, T <= 0, bad inputs).

    Safeguarded Newton over the whole array at once, with no per-option Python loop. Each
    option is solved as its out-of-the-money twin (put-call parity, same sigma) and starts
    from a grid bracket [lo, hi] a factor of two wide (price is increasing in sigma). The
    step is Newton's on log(price), which crosses the convex tail of cheap OTM prices in
    far fewer steps than Newton on price; a step that leaves the bracket (or meets a
    vanishing vega) is replaced by bisection. Converged options leave the working set, so
    the last iterations, spent on a few stragglers, cost little.
    """
    price, S, K, T, r, call = _arrays(price, S, K, T, r, is_call)
    shape = price.shape
    out = np.full(price.size, np.nan)
    idx = np.flatnonzero(_valid(S, K, T, r) & np.isfinite(price) & (T > 0))
    price, S, K, T, r = (a.ravel()[idx] for a in (price, S, K, T, r))
    call = call.ravel()[idx].astype(bool)
    ptol = 1e-12 * (S + K)  # absolute: far below a cent, far above float noise in the formula
    with np.errstate(all="ignore"):
        # Solve every option as its out-of-the-money twin (same sigma, by put-call parity), so
        # the log-price step always works on a time value rather than a mostly-intrinsic price.
        forward_gap = S - K * np.exp(-r * T)
        itm = np.where(call, forward_gap > 0, forward_gap < 0)
        price = np.where(itm, price - np.where(call, forward_gap, -forward_gap), price)
        call = call ^ itm
        # Prices on a sigma grid from SIGMA_MIN to SIGMA_MAX: the ends say whether any sigma
        # reproduces the price, the rest bracket each root within a factor of two.
        grid, _ = _price_and_vega(S[:, None], K[:, None], T[:, None], r[:, None], _SIGMA_GRID, call[:, None])
        reachable = (price >= grid[:, 0] - ptol) & (price <= grid[:, -1] + ptol)
        idx, price, S, K, T, r, call, ptol, grid = _select(reachable, idx, price, S, K, T, r, call, ptol, grid)
        below = (grid < price[:, None]).sum(axis=1)
        lo = _SIGMA_GRID[np.clip(below - 1, 0, _SIGMA_GRID.size - 2)]
        hi = _SIGMA_GRID[np.clip(below, 1, _SIGMA_GRID.size - 1)]
        sigma = np.sqrt(lo * hi)
        for _ in range(max_iter):
            if not idx.size:
                break
            model, vega = _price_and_vega(S, K, T, r, sigma, call)
            diff = model - price
            done = (np.abs(diff) <= ptol) | (hi - lo <= 1e-15 * hi)
            if done.any():
                out[idx[done]] = sigma[done]
                keep = ~done
                idx, price, S, K, T, r, call, ptol, lo, hi, sigma, model, diff, vega = _select(
                    keep, idx, price, S, K, T, r, call, ptol, lo, hi, sigma, model, diff, vega
                )
            lo = np.where(diff < 0, sigma, lo)
            hi = np.where(diff > 0, sigma, hi)
            newton = sigma - np.log(model / price) * model / vega
            inside = (newton > lo) & (newton < hi)  # False for NaN/inf steps too
            sigma = np.where(inside, newton, 0.5 * (lo + hi))
    out[idx] = sigma  # non-empty only if max_iter ran out: the best estimate, inside the bracket
    return _unwrap(out.reshape(shape))
