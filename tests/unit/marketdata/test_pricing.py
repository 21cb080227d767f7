import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alluse.marketdata.pricing import (
    SIGMA_MAX,
    SIGMA_MIN,
    bs_price,
    greeks,
    implied_vol,
)


def test_textbook_values():
    # Hull's classic example: S=K=100, T=1, r=5%, sigma=20%.
    assert bs_price(100, 100, 1, 0.05, 0.2, True) == pytest.approx(10.4506, abs=1e-4)
    assert bs_price(100, 100, 1, 0.05, 0.2, False) == pytest.approx(5.5735, abs=1e-4)


def test_put_call_parity_on_arrays():
    rng = np.random.default_rng(7)
    n = 1000
    S = rng.uniform(10, 500, n)
    K = S * np.exp(rng.uniform(-0.7, 0.7, n))
    T = rng.uniform(0.001, 3, n)
    r = rng.uniform(0, 0.1, n)
    sigma = rng.uniform(0.05, 2, n)
    call = bs_price(S, K, T, r, sigma, True)
    put = bs_price(S, K, T, r, sigma, False)
    np.testing.assert_allclose(call - put, S - K * np.exp(-r * T), atol=1e-9 * S.max())


def test_scalar_in_scalar_out_and_broadcasting():
    assert isinstance(bs_price(100, 100, 1, 0.05, 0.2, True), float)
    out = bs_price(100.0, np.array([90.0, 100.0, 110.0]), 0.5, 0.03, 0.25, np.array([True, False, True]))
    assert out.shape == (3,)
    assert out[0] == pytest.approx(bs_price(100, 90, 0.5, 0.03, 0.25, True))
    assert out[1] == pytest.approx(bs_price(100, 100, 0.5, 0.03, 0.25, False))


def test_price_edge_cases():
    # At/after expiry: exercise value; zero vol: discounted forward intrinsic.
    assert bs_price(110, 100, 0.0, 0.05, 0.2, True) == pytest.approx(10.0)
    assert bs_price(90, 100, -0.1, 0.05, 0.2, False) == pytest.approx(10.0)
    assert bs_price(110, 100, 1.0, 0.05, 0.0, True) == pytest.approx(110 - 100 * math.exp(-0.05))
    # Bad elements are NaN, the good ones untouched.
    out = bs_price(np.array([100.0, -1.0, 100.0, np.nan]), np.array([100.0, 100.0, 0.0, 100.0]), 1, 0.05, 0.2, True)
    assert out[0] == pytest.approx(10.4506, abs=1e-4)
    assert np.isnan(out[1:]).all()
    assert np.isnan(bs_price(100, 100, 1, 0.05, -0.2, True))


def test_atm_delta_and_put_call_delta_relation():
    gc = greeks(100, 100, 1, 0.05, 0.2, True)
    gp = greeks(100, 100, 1, 0.05, 0.2, False)
    assert 0.5 < gc.delta < 0.64
    assert gp.delta == pytest.approx(gc.delta - 1.0, abs=1e-12)
    assert gp.gamma == pytest.approx(gc.gamma)
    assert gp.vega == pytest.approx(gc.vega)
    assert gc.theta_per_day == pytest.approx(gc.theta / 365)


@pytest.mark.parametrize("is_call", [True, False])
@pytest.mark.parametrize("K", [80.0, 100.0, 125.0])
def test_greeks_match_finite_differences(is_call, K):
    S, T, r, sigma = 100.0, 0.4, 0.03, 0.35
    g = greeks(S, K, T, r, sigma, is_call)
    h = 1e-3

    def p(s=S, t=T, v=sigma):
        return bs_price(s, K, t, r, v, is_call)

    assert g.delta == pytest.approx((p(s=S + h) - p(s=S - h)) / (2 * h), rel=1e-6, abs=1e-8)
    assert g.gamma == pytest.approx((p(s=S + h) - 2 * p() + p(s=S - h)) / h**2, rel=1e-4, abs=1e-7)
    e = 1e-5
    assert g.vega == pytest.approx((p(v=sigma + e) - p(v=sigma - e)) / (2 * e), rel=1e-6)
    # Theta is the derivative in calendar time: value falls as T shrinks.
    assert g.theta == pytest.approx(-(p(t=T + e) - p(t=T - e)) / (2 * e), rel=1e-6)


def test_greeks_nan_at_expiry_or_without_vol():
    for g in (greeks(100, 100, 0.0, 0.05, 0.2, True), greeks(100, 100, 1.0, 0.05, 0.0, True)):
        assert all(np.isnan(x) for x in g)


@settings(max_examples=300, deadline=None)
@given(
    S=st.floats(5, 2000),
    moneyness=st.floats(-0.6, 0.6),
    T=st.floats(1 / 365, 3),
    r=st.floats(0, 0.1),
    sigma=st.floats(0.02, 3.0),
    is_call=st.booleans(),
)
def test_iv_round_trips(S, moneyness, T, r, sigma, is_call):
    K = S * math.exp(moneyness)
    price = bs_price(S, K, T, r, sigma, is_call)
    iv = implied_vol(price, S, K, T, r, is_call)
    assert SIGMA_MIN <= iv <= SIGMA_MAX
    assert bs_price(S, K, T, r, iv, is_call) == pytest.approx(price, abs=1e-6)
    if greeks(S, K, T, r, sigma, is_call).vega > 0.01:  # where price pins the vol down, it is the vol
        assert iv == pytest.approx(sigma, abs=1e-6)


def test_iv_nan_where_no_vol_reproduces_the_price():
    S, K, T, r = 120.0, 100.0, 0.5, 0.05
    lower = S - K * math.exp(-r * T)  # a call is never worth less than this
    assert np.isnan(implied_vol(lower - 0.5, S, K, T, r, True))
    assert np.isnan(implied_vol(19.0, S, K, T, r, True))  # below intrinsic 20
    assert np.isnan(implied_vol(S + 1.0, S, K, T, r, True))  # above the upper bound (spot)
    assert np.isnan(implied_vol(bs_price(S, K, T, r, SIGMA_MAX, True) + 0.01, S, K, T, r, True))
    assert np.isnan(implied_vol(5.0, 100, 100, 0.0, r, True))  # expired
    assert np.isnan(implied_vol(5.0, 100, 100, -1.0, r, True))
    assert np.isnan(implied_vol(np.nan, 100, 100, 1.0, r, True))
    assert np.isnan(implied_vol(5.0, -100, 100, 1.0, r, True))
    assert np.isnan(implied_vol(5.0, 100, 0, 1.0, r, True))


def test_vectorised_iv_equals_scalar_iv_and_keeps_shape():
    rng = np.random.default_rng(11)
    n = 200
    S = rng.uniform(50, 400, n)
    K = S * np.exp(rng.uniform(-0.3, 0.3, n))
    T = rng.uniform(2 / 365, 1, n)
    sigma = rng.uniform(0.1, 1.2, n)
    call = rng.random(n) < 0.5
    price = np.round(bs_price(S, K, T, 0.04, sigma, call), 2)  # quoted prices are on cents
    price[::17] = 0.0  # below any model price for most: NaN, and must not disturb the others
    iv = implied_vol(price, S, K, T, 0.04, call)
    scalar = np.array([implied_vol(price[i], S[i], K[i], T[i], 0.04, call[i]) for i in range(n)])
    np.testing.assert_allclose(iv, scalar, rtol=1e-9, equal_nan=True)
    assert np.isfinite(iv).sum() > n // 2
    grid = implied_vol(
        price.reshape(10, 20), S.reshape(10, 20), K.reshape(10, 20), T.reshape(10, 20), 0.04, call.reshape(10, 20)
    )
    assert grid.shape == (10, 20)
    np.testing.assert_allclose(grid.ravel(), iv, equal_nan=True)
