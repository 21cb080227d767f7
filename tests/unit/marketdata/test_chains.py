from datetime import UTC, date, datetime
from decimal import Decimal

import numpy as np
import pytest

from alluse.common.clock import NS, TestClock, datetime_to_ns
from alluse.marketdata.cache import QuoteCache
from alluse.marketdata.chains import OptionChainService
from alluse.marketdata.pricing import DAY_NS, YEAR_NS, bs_price, greeks
from alluse.model import (
    Equity,
    InvalidInput,
    Option,
    Quote,
    Right,
    expiry_ns,
)
from alluse.model.registry import InstrumentRegistry

START = datetime_to_ns(datetime(2025, 1, 6, 14, tzinfo=UTC))  # Monday
EXPIRIES = [date(2025, 1, 10), date(2025, 1, 17), date(2025, 1, 24)]
STRIKES = [90, 92.5, 95, 97.5, 100, 102.5, 105, 107.5, 110]
SPOT = 100.0
SIGMA = 0.3
RATE = 0.04
TTL = 5 * NS


class Market:
    """A registry, a real cache and a clock, with quotes at Black-Scholes value (sigma 0.3)."""

    def __init__(self) -> None:
        self.clock = TestClock(START)
        self.registry = InstrumentRegistry([Equity("XYZ")])
        for expiry in EXPIRIES:
            for strike in STRIKES:
                for right in Right:
                    self.registry.add(Option("XYZ", expiry, Decimal(str(strike)), right))
        self.cache = QuoteCache(self.clock, TTL, 10_000, self.registry.is_option)
        self.chains = OptionChainService(self.registry, self.cache, self.clock, rate=RATE)

    def options(self, expiry: date | None = None) -> list[Option]:
        return [o for o in self.registry.options_for("XYZ") if expiry is None or o.expiry == expiry]

    def theo(self, option: Option, spot: float = SPOT) -> float:
        T = (expiry_ns(option) - self.clock.now_ns()) / YEAR_NS
        return float(bs_price(spot, float(option.strike), T, RATE, SIGMA, option.right is Right.CALL))

    def quote(self, instrument_id: str, bid: float, ask: float) -> None:
        now = self.clock.now_ns()
        self.cache.put(Quote(instrument_id, bid, ask, 10, 10, now, now))

    def quote_all(self, spot: float = SPOT, expiry: date | None = None) -> None:
        self.quote("XYZ", spot - 0.01, spot + 0.01)
        for option in self.options(expiry):
            value = self.theo(option, spot)
            self.quote(option.id, value, value)  # mid exactly at model value


@pytest.fixture
def market() -> Market:
    return Market()


def test_expiry_time_is_the_new_york_close_on_expiry_date_in_winter_and_summer_time():
    winter = Option("XYZ", date(2025, 1, 10), Decimal(100), Right.PUT)
    summer = Option("XYZ", date(2025, 7, 11), Decimal(100), Right.PUT)
    assert expiry_ns(winter) == datetime_to_ns(datetime(2025, 1, 10, 21, tzinfo=UTC))  # 16:00 EST
    assert expiry_ns(summer) == datetime_to_ns(datetime(2025, 7, 11, 20, tzinfo=UTC))  # 16:00 EDT


def test_snapshot_prices_the_whole_chain(market):
    market.quote_all()
    chain = market.chains.snapshot("XYZ")
    assert len(chain) == len(EXPIRIES) * len(STRIKES) * 2
    assert chain.spot == pytest.approx(SPOT)
    assert chain.ts_ns == START
    # Monday 14:00 UTC to Friday 21:00 UTC (16:00 New York) is 4 days and 7 hours.
    first = chain.expiries == np.datetime64("2025-01-10")
    np.testing.assert_allclose(chain.T[first], (4 + 7 / 24) / 365)
    np.testing.assert_allclose(chain.dte[first], 4 + 7 / 24)
    np.testing.assert_allclose(chain.strikes, [float(o.strike) for o in chain.options])
    np.testing.assert_array_equal(chain.is_call, [o.right is Right.CALL for o in chain.options])
    np.testing.assert_allclose(chain.mid, [market.theo(o) for o in chain.options])
    np.testing.assert_allclose(chain.iv, SIGMA, atol=1e-6)
    expected = greeks(SPOT, chain.strikes, chain.T, RATE, SIGMA, chain.is_call)
    for name in ("delta", "gamma", "vega", "theta"):
        np.testing.assert_allclose(getattr(chain, name), getattr(expected, name), rtol=1e-5, atol=1e-8)
    assert (chain.delta[chain.is_call] > 0).all() and (chain.delta[~chain.is_call] < 0).all()


def test_snapshot_filters_by_expiry_and_right(market):
    market.quote_all()
    chain = market.chains.snapshot("XYZ", expiry=EXPIRIES[1], right=Right.PUT)
    assert len(chain) == len(STRIKES)
    assert all(o.expiry == EXPIRIES[1] and o.right is Right.PUT for o in chain.options)
    assert len(market.chains.snapshot("XYZ", expiry=date(2025, 2, 7))) == 0
    assert len(market.chains.snapshot("NOPE")) == 0


def test_snapshot_skips_missing_and_stale_option_quotes(market):
    market.quote_all()
    market.clock.advance(TTL + 1)
    market.quote_all(expiry=EXPIRIES[0])  # refresh only the first expiry (and the underlying)
    chain = market.chains.snapshot("XYZ")
    assert len(chain) == len(STRIKES) * 2
    assert {o.expiry for o in chain.options} == {EXPIRIES[0]}


def test_snapshot_empty_when_underlying_stale_or_missing(market):
    empty = market.chains.snapshot("XYZ")
    assert len(empty) == 0 and np.isnan(empty.spot)
    market.quote_all()
    market.clock.advance(TTL // 2)
    for option in market.options():  # options fresh, the underlying not
        market.quote(option.id, 1.0, 1.1)
    market.clock.advance(TTL // 2 + 2)
    chain = market.chains.snapshot("XYZ")
    assert len(chain) == 0 and np.isnan(chain.spot)


def test_expired_options_leave_the_chain(market):
    market.clock.advance_to(datetime_to_ns(datetime(2025, 1, 10, 21, tzinfo=UTC)))  # 16:00 New York
    market.quote_all(expiry=EXPIRIES[1])
    for option in market.options(EXPIRIES[0]):
        market.quote(option.id, 1.0, 1.1)
    chain = market.chains.snapshot("XYZ")
    assert {o.expiry for o in chain.options} == {EXPIRIES[1]}
    assert market.chains.greeks_for(market.options(EXPIRIES[0])[0]) is None


def test_unpriceable_option_has_nan_greeks_and_is_never_picked(market):
    market.quote_all()
    # A 110 put with spot 100 is worth at least ~10: quoted at 1.00 no vol reproduces it.
    bad = next(o for o in market.options(EXPIRIES[1]) if o.strike == 110 and o.right is Right.PUT)
    market.quote(bad.id, 1.0, 1.0)
    chain = market.chains.snapshot("XYZ")
    row = chain.options.index(bad)
    assert np.isnan(chain.iv[row]) and np.isnan(chain.delta[row]) and np.isnan(chain.gamma[row])
    assert np.isfinite(np.delete(chain.iv, row)).all()
    pick = market.chains.nearest_delta("XYZ", Right.PUT, 0.99, 5, 12)
    assert pick is not None and pick.option != bad
    assert market.chains.greeks_for(bad) is None


def expected_strike(market: Market, expiry: date, right: Right, target: float) -> Decimal:
    options = [o for o in market.options(expiry) if o.right is right]
    T = (expiry_ns(options[0]) - market.clock.now_ns()) / YEAR_NS
    deltas = greeks(SPOT, np.array([float(o.strike) for o in options]), T, RATE, SIGMA, right is Right.CALL).delta
    return options[int(np.argmin(np.abs(np.abs(deltas) - target)))].strike


@pytest.mark.parametrize(("right", "target"), [(Right.PUT, 0.30), (Right.PUT, 0.45), (Right.CALL, 0.25)])
def test_nearest_delta_picks_nearest_expiry_then_strike(market, right, target):
    market.quote_all()
    pick = market.chains.nearest_delta("XYZ", right, target, 5, 30)
    assert pick is not None
    assert pick.option.expiry == EXPIRIES[1]  # 4.29 DTE is outside [5, 30]
    assert pick.option.right is right
    assert pick.option.strike == expected_strike(market, EXPIRIES[1], right, target)
    assert pick.dte == pytest.approx(11 + 7 / 24)  # Monday 14:00 UTC to Friday week 21:00 UTC
    assert pick.iv == pytest.approx(SIGMA, abs=1e-6)
    assert pick.mid == pytest.approx(market.theo(pick.option))
    assert pick.bid == pick.ask == pytest.approx(pick.mid)
    assert (pick.delta < 0) == (right is Right.PUT)
    # With the window opened to 0 DTE, the Friday of this week is nearer.
    assert market.chains.nearest_delta("XYZ", right, target, 0, 30).option.expiry == EXPIRIES[0]


def test_nearest_delta_skips_an_expiry_without_fresh_quotes(market):
    market.quote_all(expiry=EXPIRIES[2])
    pick = market.chains.nearest_delta("XYZ", Right.PUT, 0.3, 0, 30)
    assert pick is not None and pick.option.expiry == EXPIRIES[2]


def test_nearest_delta_none_when_nothing_qualifies(market):
    assert market.chains.nearest_delta("XYZ", Right.PUT, 0.3, 0, 30) is None  # no quotes at all
    market.quote_all()
    assert market.chains.nearest_delta("XYZ", Right.PUT, 0.3, 20, 30) is None  # no expiry in window
    assert market.chains.nearest_delta("ABC", Right.PUT, 0.3, 0, 30) is None
    market.clock.advance(TTL + 1)  # everything stale
    assert market.chains.nearest_delta("XYZ", Right.PUT, 0.3, 0, 30) is None


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"target_delta": 0.0}, "target_delta"),
        ({"target_delta": -0.3}, "target_delta"),
        ({"target_delta": 1.5}, "target_delta"),
        ({"target_delta": float("nan")}, "target_delta"),
        ({"min_dte": -1.0}, "min_dte"),
        ({"max_dte": 2.0}, "max_dte"),  # below min_dte
        ({"max_dte": float("inf")}, "max_dte"),
        ({"right": "P"}, "right"),
    ],
)
def test_nearest_delta_rejects_bad_arguments(market, kwargs, field):
    args = {"right": Right.PUT, "target_delta": 0.3, "min_dte": 5.0, "max_dte": 30.0} | kwargs
    with pytest.raises(InvalidInput) as err:
        market.chains.nearest_delta("XYZ", **args)
    assert err.value.field == field


def test_greeks_for_one_option(market):
    market.quote_all()
    option = next(o for o in market.options(EXPIRIES[1]) if o.strike == 95 and o.right is Right.PUT)
    iv, delta = market.chains.greeks_for(option)
    T = (expiry_ns(option) - START) / YEAR_NS
    assert iv == pytest.approx(SIGMA, abs=1e-6)
    assert delta == pytest.approx(greeks(SPOT, 95.0, T, RATE, SIGMA, False).delta, rel=1e-6)
    market.clock.advance(TTL + 1)
    assert market.chains.greeks_for(option) is None  # stale
    market.quote(option.id, 1.0, 1.1)
    assert market.chains.greeks_for(option) is None  # option fresh, underlying stale
    unquoted = Option("XYZ", date(2025, 3, 21), Decimal(100), Right.CALL)
    market.quote("XYZ", 99.99, 100.01)
    assert market.chains.greeks_for(unquoted) is None


def test_chain_sees_options_listed_after_first_snapshot(market):
    market.quote_all()
    before = len(market.chains.snapshot("XYZ"))
    late = market.registry.add(Option("XYZ", date(2025, 1, 31), Decimal(100), Right.CALL))
    market.quote(late.id, *(2 * [market.theo(late)]))
    chain = market.chains.snapshot("XYZ")
    assert len(chain) == before + 1 and late in chain.options
    assert chain.dte[chain.options.index(late)] == pytest.approx((expiry_ns(late) - START) / DAY_NS)


def test_rate_must_be_finite(market):
    with pytest.raises(InvalidInput) as err:
        OptionChainService(market.registry, market.cache, market.clock, rate=float("nan"))
    assert err.value.field == "rate"


def test_a_brokers_model_greeks_are_preferred_where_it_has_them_and_ours_serve_elsewhere(market):
    """IB sends model greeks with its quotes (brokers/ibkr): where it has them they decide; where it has none the
    greeks solved from the quotes do."""
    market.quote_all()
    ours = market.chains.nearest_delta("XYZ", Right.PUT, 0.30, 5, 30)
    assert ours is not None
    favourite = next(o for o in market.options(EXPIRIES[1]) if o.right is Right.PUT and o.strike == Decimal("90"))
    market.chains.broker_greeks = lambda i: (0.42, -0.30) if i == favourite.id else None
    pick = market.chains.nearest_delta("XYZ", Right.PUT, 0.30, 5, 30)
    assert pick is not None and pick.option == favourite and (pick.iv, pick.delta) == (0.42, -0.30)
    assert market.chains.greeks_for(favourite) == (0.42, -0.30)
    other = next(o for o in market.options(EXPIRIES[1]) if o.right is Right.PUT and o.strike == Decimal("100"))
    iv, _ = market.chains.greeks_for(other)
    assert iv == pytest.approx(SIGMA, abs=1e-6)  # not IB's: ours, from the quote
