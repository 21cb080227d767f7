"""A simulated market: stocks on geometric Brownian motion with weekly option chains on them.

It is the default feed for paper trading and the benchmarks, so it has to look like a
market to everything downstream: quotes on valid ticks, never crossed, never a zero bid,
option prices that respect intrinsic value, a put skew, spreads that widen with price,
and expiries that come and go as virtual time passes. All randomness comes from one
seeded generator and all time from the injected clock, so a seed and a clock schedule
reproduce the same quote stream exactly.

Options are held as flat arrays over all underlyings (one row per option), so a step
prices every live option in one vectorised Black-Scholes call.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from decimal import Decimal

import numpy as np

from alluse.common.clock import Clock, TimerHandle, ns_to_datetime
from alluse.marketdata.config import MarketConfig
from alluse.marketdata.engine import QuoteSink
from alluse.marketdata.pricing import YEAR_NS, bs_price
from alluse.model import (
    CENT,
    NICKEL,
    OPTION_TICK_BREAK,
    Equity,
    InvalidInput,
    Option,
    Quote,
    Right,
    expiry_date_ns,
    float_decimal,
)
from alluse.model.registry import InstrumentRegistry

log = logging.getLogger("alluse.marketdata.simulated")

FRIDAY = 4  # date.weekday()
_TICK_BREAK = float(OPTION_TICK_BREAK)  # options tick a cent below, a nickel at/above
_CENT = float(CENT)
_NICKEL = float(NICKEL)
_EPS = 1e-9  # keeps floor/ceil from stepping a whole tick on float noise (2.9999999 / 0.01)


def strike_step(spot: float) -> Decimal:
    """Listed strike spacing, coarser for dearer stocks as on real exchanges."""
    if spot < 100:
        return Decimal("1")
    if spot < 250:
        return Decimal("2.5")
    return Decimal("5")


def next_friday(after: date) -> date:
    """The first Friday strictly after `after`."""
    return after + timedelta(days=(FRIDAY - after.weekday() - 1) % 7 + 1)


def _floor_tick(price: np.ndarray) -> np.ndarray:
    tick = np.where(price < _TICK_BREAK, _CENT, _NICKEL)
    return np.round(np.floor(price / tick + _EPS) * tick, 2)


def _ceil_tick(price: np.ndarray) -> np.ndarray:
    # A price that ceils up to 3.00 on the cent grid lands on the nickel grid too.
    tick = np.where(price < _TICK_BREAK, _CENT, _NICKEL)
    return np.round(np.ceil(price / tick - _EPS) * tick, 2)


class SimulatedMarket:
    def __init__(self, config: MarketConfig, clock: Clock, registry: InstrumentRegistry, seed: int) -> None:
        self.config = config
        self._clock = clock
        self._registry = registry
        self._rng = np.random.default_rng(seed)
        self._tickers = list(config.underlyings)
        self._ticker_index = {t: i for i, t in enumerate(self._tickers)}
        self._spots = np.array([config.underlyings[t].spot for t in self._tickers], dtype=np.float64)
        self._vols = np.array([config.underlyings[t].vol for t in self._tickers], dtype=np.float64)
        for ticker in self._tickers:
            registry.add(Equity(ticker))
        self._last_ns = clock.now_ns()
        self._expiries: list[date] = []
        self._next_expiry_ns = 0
        # One row per live option, across all underlyings.
        self._option_ids: list[str] = []
        self._und = np.empty(0, dtype=np.intp)
        self._strikes = np.empty(0, dtype=np.float64)
        self._expiry_ns = np.empty(0, dtype=np.int64)
        self._is_call = np.empty(0, dtype=bool)
        self._timer: TimerHandle | None = None
        self._next_step_ns = 0
        self.quotes_emitted = 0
        self.steps = 0
        self.roll_expiries()

    # ------------------------------------------------------------------ state

    def spot(self, ticker: str) -> float:
        i = self._ticker_index.get(ticker)
        if i is None:
            raise InvalidInput("ticker", ticker, "not an underlying of this simulated market")
        return float(self._spots[i])

    @property
    def expiries(self) -> tuple[date, ...]:
        """Live expiries, nearest first."""
        return tuple(self._expiries)

    @property
    def option_count(self) -> int:
        return len(self._option_ids)

    # ------------------------------------------------------------------ listing

    def roll_expiries(self) -> list[date]:
        """Delist expired chains and list new weeklies (strikes around today's spot) until
        `weekly_expiries` expiries are live again. Returns the newly listed expiries."""
        now = self._clock.now_ns()
        cfg = self.config
        self._expiries = [d for d in self._expiries if expiry_date_ns(d) > now]
        last = max([ns_to_datetime(now).date(), *self._expiries])
        added: list[date] = []
        while len(self._expiries) < cfg.weekly_expiries:
            last = next_friday(last)  # after today or a live expiry, so it expires after now
            self._expiries.append(last)
            added.append(last)
        live = self._expiry_ns > now
        ids = [oid for oid, keep in zip(self._option_ids, live.tolist(), strict=True) if keep]
        und, strikes, exp_ns, is_call = self._und[live], self._strikes[live], self._expiry_ns[live], self._is_call[live]
        new_rows: list[tuple[str, int, float, int, bool]] = []
        for expiry in added:
            ens = expiry_date_ns(expiry)
            for u, ticker in enumerate(self._tickers):
                for strike in self._strike_ladder(float(self._spots[u])):
                    for right in (Right.PUT, Right.CALL):
                        option = self._registry.add(Option(ticker, expiry, strike, right))
                        new_rows.append((option.id, u, float(strike), ens, right is Right.CALL))
        if new_rows:
            new_ids, new_und, new_strikes, new_exp, new_call = zip(*new_rows, strict=True)
            ids.extend(new_ids)
            und = np.concatenate([und, np.array(new_und, dtype=np.intp)])
            strikes = np.concatenate([strikes, np.array(new_strikes, dtype=np.float64)])
            exp_ns = np.concatenate([exp_ns, np.array(new_exp, dtype=np.int64)])
            is_call = np.concatenate([is_call, np.array(new_call, dtype=bool)])
        self._option_ids, self._und, self._strikes, self._expiry_ns, self._is_call = ids, und, strikes, exp_ns, is_call
        self._next_expiry_ns = min(expiry_date_ns(d) for d in self._expiries)
        if added:
            log.info("listed expiries %s (%d live options)", ", ".join(map(str, added)), len(ids))
        return added

    def _strike_ladder(self, spot: float) -> list[Decimal]:
        step = strike_step(spot)
        center = int(round(float_decimal(spot) / step))
        n = self.config.strikes_each_side
        return [k * step for k in range(center - n, center + n + 1) if k > 0]

    # ------------------------------------------------------------------ quoting

    def step(self) -> list[Quote]:
        """Move every underlying over the time since the last step and quote everything live."""
        cfg = self.config
        rng = self._rng
        now = self._clock.now_ns()
        dt = max(now - self._last_ns, 0) / YEAR_NS
        self._last_ns = now
        if dt > 0:
            vols = self._vols
            shock = rng.standard_normal(len(self._spots))
            self._spots *= np.exp((cfg.drift - 0.5 * vols * vols) * dt + vols * np.sqrt(dt) * shock)
        if now >= self._next_expiry_ns:
            self.roll_expiries()
        quotes = self._stock_quotes(now)
        quotes.extend(self._option_quotes(now))
        self.steps += 1
        self.quotes_emitted += len(quotes)
        return quotes

    def _stock_quotes(self, now: int) -> list[Quote]:
        rng = self._rng
        n = len(self._spots)
        ticks = rng.integers(1, 3, n)  # 1-2 cent spread
        bid_cents = np.maximum(np.floor(self._spots * 100.0 - ticks * 0.5 + 0.5), 1.0)
        bids = (bid_cents / 100.0).tolist()
        asks = ((bid_cents + ticks) / 100.0).tolist()
        sizes = (rng.integers(1, 21, (2, n)) * 100).tolist()
        return [
            Quote(t, b, a, bs, as_, now, now)
            for t, b, a, bs, as_ in zip(self._tickers, bids, asks, sizes[0], sizes[1], strict=True)
        ]

    def _option_quotes(self, now: int) -> list[Quote]:
        cfg = self.config
        rng = self._rng
        n = len(self._option_ids)
        if cfg.options_per_step_fraction < 1.0:
            rows = np.flatnonzero(rng.random(n) < cfg.options_per_step_fraction)
        else:
            rows = np.arange(n)
        und = self._und[rows]
        S = self._spots[und]
        K = self._strikes[rows]
        is_call = self._is_call[rows]
        T = (self._expiry_ns[rows] - now) / YEAR_NS
        base_vol = self._vols[und]
        lo, hi = cfg.vol_clip
        vol = np.clip(base_vol * (1.0 + cfg.skew * np.log(S / K)), lo * base_vol, hi * base_vol)
        # Listed equity options are American: their value never drops below exercise value.
        value = np.maximum(bs_price(S, K, T, cfg.rate, vol, is_call), np.maximum(np.where(is_call, S - K, K - S), 0.0))
        half = 0.5 * np.maximum(cfg.option_spread * value, 0.01)
        bid = np.maximum(_floor_tick(value - half), 0.01)
        ask = _ceil_tick(np.maximum(value + half, bid + 0.01))
        sizes = rng.integers(1, 51, (2, rows.size)).tolist()
        ids = self._option_ids
        return [
            Quote(ids[i], b, a, bs, as_, now, now)
            for i, b, a, bs, as_ in zip(rows.tolist(), bid.tolist(), ask.tolist(), sizes[0], sizes[1], strict=True)
        ]

    # ------------------------------------------------------------------ running

    def start(self, sink: QuoteSink) -> None:
        """First batch at once, then one every `step_interval_ns` on a fixed grid (no drift)."""
        if self._timer is not None:
            raise RuntimeError("simulated market already started")
        self._next_step_ns = self._clock.now_ns()
        self._timer = self._clock.call_at(self._next_step_ns, self._on_timer, sink)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self, sink: QuoteSink) -> None:
        # Rescheduled before pushing, so a failing sink cannot silently stop the feed.
        self._next_step_ns += self.config.step_interval_ns
        self._timer = self._clock.call_at(self._next_step_ns, self._on_timer, sink)
        sink(self.step())
