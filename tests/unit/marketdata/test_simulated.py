import math
from datetime import UTC, date, datetime
from decimal import Decimal

import numpy as np
import pytest
from pydantic import ValidationError

from alluse.common.clock import NS, TestClock, datetime_to_ns
from alluse.marketdata.cache import QuoteCache
from alluse.marketdata.chains import OptionChainService
from alluse.marketdata.config import MarketConfig
from alluse.marketdata.engine import DataEngine
from alluse.marketdata.simulated import SimulatedMarket, next_friday, strike_step
from alluse.model import (
    Equity,
    InvalidInput,
    Option,
    Right,
    expiry_ns,
    on_tick,
    to_money,
)
from alluse.model.registry import InstrumentRegistry

MONDAY = datetime_to_ns(datetime(2025, 1, 6, 14, tzinfo=UTC))
HOUR = 3600 * NS


def market_config(**config) -> MarketConfig:
    """A market stepping every minute; underlyings as ticker -> (spot, vol)."""
    if "underlyings" in config:
        config["underlyings"] = {t: {"spot": spot, "vol": vol} for t, (spot, vol) in config["underlyings"].items()}
    return MarketConfig(**{"step_interval_s": 60.0, **config})


def make(seed: int = 1, start: int = MONDAY, **config) -> tuple[SimulatedMarket, TestClock, InstrumentRegistry]:
    clock = TestClock(start)
    registry = InstrumentRegistry()
    return SimulatedMarket(market_config(**config), clock, registry, seed), clock, registry


def as_tuples(quotes):
    return [(q.instrument_id, q.bid, q.ask, q.bid_size, q.ask_size, q.ts_event) for q in quotes]


def test_registers_every_instrument_up_front():
    market, _, registry = make()
    assert {e.symbol for e in registry.equities()} == {"TSLA", "NVDA", "AAPL", "AMZN", "MSFT"}
    assert market.expiries == (date(2025, 1, 10), date(2025, 1, 17), date(2025, 1, 24))
    for ticker in ("TSLA", "MSFT", "AAPL"):
        options = registry.options_for(ticker)
        assert len(options) == 3 * 17 * 2
        strikes = sorted({o.strike for o in options})
        assert len(strikes) == 17
        assert set(np.diff([float(k) for k in strikes])) == {float(strike_step(market.spot(ticker)))}
        assert strikes[0] < Decimal(str(market.spot(ticker))) < strikes[-1]
    assert market.option_count == 510


def test_strike_step_and_fridays():
    assert strike_step(50) == 1 and strike_step(135) == Decimal("2.5") and strike_step(250) == 5
    assert next_friday(date(2025, 1, 6)) == date(2025, 1, 10)
    assert next_friday(date(2025, 1, 10)) == date(2025, 1, 17)  # strictly after
    assert next_friday(date(2025, 1, 11)) == date(2025, 1, 17)


def test_starting_on_a_friday_lists_from_next_friday():
    market, _, _ = make(start=datetime_to_ns(datetime(2025, 1, 10, 9, tzinfo=UTC)))
    assert market.expiries[0] == date(2025, 1, 17)


def test_same_seed_same_stream_other_seed_differs():
    streams = []
    for seed in (42, 42, 43):
        market, clock, _ = make(seed=seed, options_per_step_fraction=0.5)
        stream = []
        for _ in range(20):
            clock.advance(60 * NS)
            stream.extend(as_tuples(market.step()))
        streams.append(stream)
    assert streams[0] == streams[1]
    assert streams[0] != streams[2]


def test_quotes_valid_over_many_steps_and_accepted_by_the_engine():
    market, clock, registry = make(seed=3)
    cache = QuoteCache(clock, 10 * NS, 10_000, registry.is_option)
    engine = DataEngine(registry, cache, clock)
    total = 0
    for _ in range(150):  # 150 hours: crosses two Friday expiries
        clock.advance(HOUR)
        quotes = market.step()
        now = clock.now_ns()
        assert len(quotes) == 5 + market.option_count >= 5 + 510  # strikes are added as the spots move
        for q in quotes:
            instrument = registry.require(q.instrument_id)
            assert 0 < q.bid < q.ask, q
            for price in (q.bid, q.ask):
                assert abs(float(to_money(price)) - price) < 1e-9, q
                assert on_tick(instrument, to_money(price)), q
            assert q.ts_event == q.ts_recv == now
            if isinstance(instrument, Equity):
                assert 100 <= q.bid_size <= 2000 and q.bid_size % 100 == 0
                assert 100 <= q.ask_size <= 2000 and q.ask_size % 100 == 0
                assert round((q.ask - q.bid) * 100) in (1, 2)
            else:
                assert 1 <= q.bid_size <= 50 and 1 <= q.ask_size <= 50
                assert expiry_ns(instrument) > now
        engine.on_quotes(quotes)
        total += len(quotes)
    assert engine.rejected_total == 0 and engine.accepted == total
    assert market.quotes_emitted == total


def test_option_prices_respect_no_arbitrage_bounds():
    market, clock, registry = make(seed=5)
    checked = listed = 0
    for _ in range(30):
        clock.advance(4 * HOUR)
        quotes = market.step()
        listed += market.option_count
        spots = {q.instrument_id: q.mid for q in quotes[:5]}
        for q in quotes[5:]:
            option = registry.require(q.instrument_id)
            S, K = spots[option.underlying], float(option.strike)
            intrinsic = max(S - K, 0.0) if option.right is Right.CALL else max(K - S, 0.0)
            spread = q.ask - q.bid
            assert q.ask >= intrinsic - 0.02, (q, S)  # the ask never offers free money
            assert q.mid >= intrinsic - spread - 0.02, (q, S)
            assert q.bid <= (S if option.right is Right.CALL else K), q
            checked += 1
    assert checked == listed >= 30 * 510


def test_option_spread_is_about_three_percent_and_on_ticks():
    market, clock, registry = make(seed=6)
    clock.advance(60 * NS)
    for q in market.step()[5:]:
        spread = q.ask - q.bid
        assert spread >= 0.01 - 1e-9
        if q.mid > 5.0:
            assert 0.02 * q.mid <= spread <= 0.03 * q.mid + 0.10, q


def test_expiries_roll_at_the_friday_new_york_close():
    market, clock, registry = make(seed=2)
    friday_close = datetime_to_ns(datetime(2025, 1, 10, 21, tzinfo=UTC))  # 16:00 EST
    clock.advance_to(friday_close - NS)
    before = {q.instrument_id for q in market.step()}
    assert any("250110" in i for i in before)
    clock.advance_to(friday_close)  # at expiry: no longer quoted
    after = market.step()
    ids = {q.instrument_id for q in after}
    assert market.expiries == (date(2025, 1, 17), date(2025, 1, 24), date(2025, 1, 31))
    assert not any("250110" in i for i in ids)
    new = [i for i in ids if "250131" in i]
    assert len(new) == 5 * 17 * 2 and all(i in registry for i in new)
    assert len(after) == 5 + market.option_count
    assert registry.get(next(iter(before - ids))) is not None  # expired contracts stay known
    # The new chain is centred on the spot of the day it was listed.
    tsla = sorted(float(registry.require(i).strike) for i in new if i.startswith("TSLA") and i[12] == "C")
    assert tsla[0] < market.spot("TSLA") < tsla[-1]


def test_long_jump_keeps_the_configured_number_of_live_expiries():
    market, clock, _ = make(seed=2, weekly_expiries=2)
    clock.advance(40 * 24 * HOUR)  # Feb 15 2025, a Saturday
    quotes = market.step()
    assert market.expiries == (date(2025, 2, 21), date(2025, 2, 28))
    assert len(quotes) == 5 + 5 * 2 * 17 * 2
    assert market.roll_expiries() == []  # nothing to roll


def test_put_skew_in_implied_vols():
    market, clock, registry = make(seed=9)
    cache = QuoteCache(clock, 10 * NS, 10_000, registry.is_option)
    clock.advance(60 * NS)
    for q in market.step():
        cache.put(q)
    chains = OptionChainService(registry, cache, clock, rate=0.04)
    for ticker, underlying in MarketConfig().underlyings.items():
        vol = underlying.vol
        chain = chains.snapshot(ticker, expiry=market.expiries[-1], right=Right.PUT)
        spot = market.spot(ticker)
        atm = int(np.argmin(np.abs(chain.strikes - spot)))
        otm = int(np.argmin(chain.strikes))
        assert chain.iv[atm] == pytest.approx(vol, rel=0.05)
        assert chain.iv[otm] > chain.iv[atm] * 1.02, ticker
        # Across OTM puts the vol falls with strike: the downside is richer. (Deep ITM puts
        # are left out: their American floor at intrinsic reads as extra European vol.)
        otm_puts = np.argsort(chain.strikes)[chain.strikes[np.argsort(chain.strikes)] < spot]
        assert len(otm_puts) >= 7
        assert (np.diff(chain.iv[otm_puts]) < 0).all(), ticker


def test_gbm_volatility_matches_config():
    vol = 0.5
    market, clock, _ = make(seed=11, underlyings={"XYZ": (100.0, vol)}, strikes_each_side=0, weekly_expiries=1)
    spots = []
    for _ in range(2000):
        clock.advance(24 * HOUR)
        market.step()
        spots.append(market.spot("XYZ"))
    returns = np.diff(np.log(spots))
    assert np.std(returns) == pytest.approx(vol * math.sqrt(1 / 365), rel=0.06)


def test_no_time_no_move():
    market, _, _ = make(seed=4)
    spots = [market.spot(t) for t in ("TSLA", "NVDA")]
    market.step()
    market.step()
    assert [market.spot(t) for t in ("TSLA", "NVDA")] == spots == [250.0, 135.0]


def test_fraction_of_options_quoted_per_step():
    market, clock, _ = make(seed=8, options_per_step_fraction=0.2)
    counts = []
    for _ in range(20):
        clock.advance(60 * NS)
        quotes = market.step()
        assert sum(1 for q in quotes if len(q.instrument_id) <= 6) == 5  # every stock every step
        counts.append(len(quotes) - 5)
    assert 0.15 * 510 < np.mean(counts) < 0.25 * 510


def test_start_stop_on_the_clock():
    market, clock, _ = make(seed=1, step_interval_s=60)
    batches = []
    market.start(batches.append)
    with pytest.raises(RuntimeError):
        market.start(batches.append)
    clock.advance(10 * 60 * NS)
    assert len(batches) == 11  # t=0, 60 s, ..., 600 s
    assert [b[0].ts_event - MONDAY for b in batches] == [i * 60 * NS for i in range(11)]
    assert market.quotes_emitted == sum(map(len, batches)) == 11 * 515
    market.stop()
    clock.advance(10 * 60 * NS)
    assert len(batches) == 11
    market.start(batches.append)  # restartable
    clock.advance(0)
    assert len(batches) == 12


def test_spot_of_unknown_ticker():
    market, _, _ = make()
    with pytest.raises(InvalidInput) as err:
        market.spot("ZZZ")
    assert err.value.field == "ticker"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"underlyings": {}}, "underlyings"),
        ({"underlyings": {"bad ticker": {"spot": 10.0, "vol": 0.2}}}, "underlyings"),
        ({"underlyings": {"XYZ": {"spot": 0.0, "vol": 0.2}}}, "underlyings.XYZ.spot"),
        ({"underlyings": {"XYZ": {"spot": float("nan"), "vol": 0.2}}}, "underlyings.XYZ.spot"),
        ({"underlyings": {"XYZ": {"spot": 10.0, "vol": -0.2}}}, "underlyings.XYZ.vol"),
        ({"underlyings": {"XYZ": {"spot": 10.0}}}, "underlyings.XYZ.vol"),
        ({"drift": float("inf")}, "drift"),
        ({"rate": float("nan")}, "rate"),
        ({"step_interval_s": 0}, "step_interval_s"),
        ({"step_interval_s": "soon"}, "step_interval_s"),
        ({"weekly_expiries": 0}, "weekly_expiries"),
        ({"strikes_each_side": -1}, "strikes_each_side"),
        ({"skew": -0.1}, "skew"),
        ({"option_spread": 0.0}, "option_spread"),
        ({"vol_clip": (1.5, 2.0)}, ""),  # the pair together: the model's own check
        ({"options_per_step_fraction": 0.0}, "options_per_step_fraction"),
        ({"options_per_step_fraction": 1.5}, "options_per_step_fraction"),
    ],
)
def test_config_rejects_bad_values(kwargs, field):
    with pytest.raises(ValidationError) as err:
        MarketConfig(**kwargs)
    assert ".".join(map(str, err.value.errors()[0]["loc"])) == field


def test_low_priced_stock_never_lists_non_positive_strikes():
    market, clock, registry = make(underlyings={"PENY": (3.0, 0.8)})
    strikes = {o.strike for o in registry.options_for("PENY")}
    assert min(strikes) == 1 and len(strikes) == 2 + 1 + 8  # 1..11: only two fit below 3
    clock.advance(60 * NS)
    assert all(q.bid > 0 for q in market.step())


def test_registry_shared_with_existing_instruments():
    clock = TestClock(MONDAY)
    registry = InstrumentRegistry([Option("TSLA", date(2025, 1, 10), Decimal(250), Right.PUT)])
    SimulatedMarket(market_config(), clock, registry, seed=0)
    assert len(registry.options_for("TSLA")) == 3 * 17 * 2  # the known contract is reused, not duplicated


@pytest.mark.parametrize(
    "damage",
    [
        lambda st: st.pop("rng"),
        lambda st: st.update(spots=st["spots"][:-1]),
        lambda st: st.update(options=[*st["options"], "NOT AN OCC SYMBOL"]),
        lambda st: st.update(marks=[["TSLA", "a bid"]]),
        lambda st: st.update(expiries=["2025-13-40"]),
    ],
)
def test_a_saved_state_that_does_not_read_is_not_applied_at_all(damage):
    saved, clock, _ = make(seed=4)
    clock.advance(5 * HOUR)
    saved.step()
    state = saved.state()
    damage(state)
    market, clock2, registry = make(seed=4)
    before = (market.spot("TSLA"), market.option_count, len(registry))
    assert market.restore(state) is False
    assert (market.spot("TSLA"), market.option_count, len(registry)) == before  # nothing half-applied
    assert market.step()  # and it runs as a fresh market


def test_a_saved_state_restores_spots_marks_and_the_random_stream():
    first, clock, _ = make(seed=4)
    clock.advance(5 * HOUR)
    first.step()
    state = first.state()
    second, clock2, _ = make(seed=99, start=clock.now_ns())
    assert second.restore(state) is True
    assert second.spot("TSLA") == first.spot("TSLA")
    clock.advance(HOUR)
    clock2.advance(HOUR)
    assert as_tuples(second.step()) == as_tuples(first.step())  # the same stream from here on
