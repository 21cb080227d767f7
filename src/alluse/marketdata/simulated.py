"""A simulated market: stocks on geometric Brownian motion with weekly option chains on them.

It is the default feed for paper trading and the benchmarks, so it has to look like a
market to everything downstream: quotes on valid ticks, never crossed, never a zero bid,
option prices that respect intrinsic value, a put skew, spreads that widen with price,
and expiries that come and go as virtual time passes. All randomness comes from one
seeded generator and all time from the injected clock, so a seed and a clock schedule
reproduce the same quote stream exactly.

Options are held as flat arrays over all underlyings (one row per option), so a step
prices every live option in one vectorised Black-Scholes call.

It keeps market hours (`common.market_hours`): nothing moves or is quoted while the market is closed,
prices move in trading time, and weekly expiries fall on the week's last session (Thursday before a
Friday holiday). Its state (spots, volatilities, listed chains, the random stream and the last quotes)
can be saved and restored (`state`/`restore`), so a restart on the same data continues the same market.
"""

from __future__ import annotations

import logging
import math
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import numpy as np

from alluse.common.clock import Clock, TimerHandle, ns_to_datetime
from alluse.common.market_hours import AlwaysOpen, Sessions
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
    parse_symbol,
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


def week_friday(day: date) -> date:
    """The Friday of `day`'s week (Monday to Friday; a weekend day: the Friday after)."""
    return day + timedelta(days=(FRIDAY - day.weekday()) % 7)


def _floor_tick(price: np.ndarray) -> np.ndarray:
    tick = np.where(price < _TICK_BREAK, _CENT, _NICKEL)
    return np.round(np.floor(price / tick + _EPS) * tick, 2)


def _ceil_tick(price: np.ndarray) -> np.ndarray:
    # A price that ceils up to 3.00 on the cent grid lands on the nickel grid too.
    tick = np.where(price < _TICK_BREAK, _CENT, _NICKEL)
    return np.round(np.ceil(price / tick - _EPS) * tick, 2)


STATE_VERSION = 1


class SimulatedMarket:
    def __init__(
        self,
        config: MarketConfig,
        clock: Clock,
        registry: InstrumentRegistry,
        seed: int,
        hours: Sessions | None = None,
    ) -> None:
        self.config = config
        self._clock = clock
        self._registry = registry
        self.hours: Sessions = hours if hours is not None else AlwaysOpen()
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
        self._next_chain_ns = 0
        self._last_quotes: dict[str, Quote] = {}  # the marks: what a restart quotes first
        self._resume_quotes = False
        self._relist_ns = 0  # the session's close: the first step after it lists strikes around the new spot
        self.quotes_emitted = 0
        self.steps = 0
        self.roll_expiries()

    # ------------------------------------------------------------------ state

    def _index(self, ticker: str) -> int:
        i = self._ticker_index.get(ticker)
        if i is None:
            raise InvalidInput("ticker", ticker, "not an underlying of this simulated market")
        return i

    def spot(self, ticker: str) -> float:
        return float(self._spots[self._index(ticker)])

    def set_spot(self, ticker: str, price: float) -> None:
        """A scenario move: the underlying jumps to `price` and moves on from there (what-if runs, tests of
        what an assignment does)."""
        i = self._index(ticker)
        if not (isinstance(price, int | float) and 0 < price < float("inf")):
            raise InvalidInput("price", price, "must be a positive finite number")
        self._spots[i] = float(price)

    @property
    def expiries(self) -> tuple[date, ...]:
        """Live expiries, nearest first."""
        return tuple(self._expiries)

    @property
    def option_count(self) -> int:
        return len(self._option_ids)

    # ------------------------------------------------------------------ listing

    def roll_expiries(self) -> list[date]:
        """Delist expired chains, list new weeklies until `weekly_expiries` expiries are live again, and list
        the strikes around today's spot on every live expiry (an exchange adds strikes as the underlying
        moves; the ones listed stay). Returns the newly listed expiries."""
        now = self._clock.now_ns()
        cfg = self.config
        self._expiries = [d for d in self._expiries if expiry_date_ns(d) > now]
        friday = max([ns_to_datetime(now).date(), *(week_friday(d) for d in self._expiries)])
        added: list[date] = []
        while len(self._expiries) < cfg.weekly_expiries:
            friday = next_friday(friday)  # a week after today's or a live expiry's, so it expires after now
            expiry = self.hours.weekly_expiry(friday)
            if expiry is None:  # no session that week (beyond the calendar): nothing to list
                break
            self._expiries.append(expiry)
            added.append(expiry)
        live = self._expiry_ns > now
        ids = [oid for oid, keep in zip(self._option_ids, live.tolist(), strict=True) if keep]
        und, strikes, exp_ns, is_call = self._und[live], self._strikes[live], self._expiry_ns[live], self._is_call[live]
        new_rows: list[tuple[str, int, float, int, bool]] = []
        listed = set(ids)
        for expiry in self._expiries:
            ens = expiry_date_ns(expiry)
            for u, ticker in enumerate(self._tickers):
                for strike in self._strike_ladder(float(self._spots[u])):
                    for right in (Right.PUT, Right.CALL):
                        option = Option(ticker, expiry, strike, right)
                        if option.id not in listed:
                            self._registry.add(option)
                            new_rows.append((option.id, u, float(strike), ens, right is Right.CALL))
        if new_rows:
            new_ids, new_und, new_strikes, new_exp, new_call = zip(*new_rows, strict=True)
            ids.extend(new_ids)
            und = np.concatenate([und, np.array(new_und, dtype=np.intp)])
            strikes = np.concatenate([strikes, np.array(new_strikes, dtype=np.float64)])
            exp_ns = np.concatenate([exp_ns, np.array(new_exp, dtype=np.int64)])
            is_call = np.concatenate([is_call, np.array(new_call, dtype=bool)])
        self._option_ids, self._und, self._strikes, self._expiry_ns, self._is_call = ids, und, strikes, exp_ns, is_call
        if len(self._last_quotes) > len(ids) + len(self._tickers):  # the delisted leave the marks (memory stays flat)
            keep = {*ids, *self._tickers}
            self._last_quotes = {k: q for k, q in self._last_quotes.items() if k in keep}
        self._next_expiry_ns = min((expiry_date_ns(d) for d in self._expiries), default=now + 7 * 86_400 * 10**9)
        if added:
            log.info("listed expiries %s (%d live options)", ", ".join(map(str, added)), len(ids))
        return added

    def _strike_ladder(self, spot: float) -> list[Decimal]:
        step = strike_step(spot)
        center = int(round(float_decimal(spot) / step))
        n = self.config.strikes_each_side
        return [k * step for k in range(center - n, center + n + 1) if k > 0]

    # ------------------------------------------------------------------ quoting

    def step(self, options: bool = True) -> list[Quote]:
        """Move every underlying over the time since the last step and quote it, and (`options`) every live
        option on it."""
        cfg = self.config
        rng = self._rng
        now = self._clock.now_ns()
        dt = self.hours.open_ns_between(self._last_ns, now) / self.hours.year_ns  # trading time
        self._last_ns = max(now, self._last_ns)
        if dt > 0:  # a handful of floats: plain Python beats numpy's per-call cost (a stock step a second)
            root, drift = math.sqrt(dt), cfg.drift
            shocks = rng.standard_normal(len(self._tickers)).tolist()
            self._spots[:] = [
                spot * math.exp((drift - 0.5 * vol * vol) * dt + vol * root * z)
                for spot, vol, z in zip(self._spots.tolist(), self._vols.tolist(), shocks, strict=True)
            ]
        quotes = self._stock_quotes(now)
        if options:
            if now >= self._next_expiry_ns or now >= self._relist_ns:  # an expiry passed, or a new session
                self.roll_expiries()
                self._relist_ns = self.hours.next_close(now) or self._next_expiry_ns
            quotes.extend(self._option_quotes(now))
        self._emitted(quotes)
        return quotes

    def _emitted(self, quotes: list[Quote]) -> None:
        self._last_quotes.update(zip([q.instrument_id for q in quotes], quotes, strict=True))
        self.steps += 1
        self.quotes_emitted += len(quotes)

    def marks(self) -> list[Quote]:
        """The last quote of every instrument still listed, stamped now: where a restart picks up."""
        now = self._clock.now_ns()
        live = {*self._tickers, *self._option_ids}
        return [
            Quote(q.instrument_id, q.bid, q.ask, q.bid_size, q.ask_size, now, now)
            for q in self._last_quotes.values()
            if q.instrument_id in live
        ]

    def _stock_quotes(self, now: int) -> list[Quote]:
        """A 1-2 cent spread around the spot, 100-2,000 shares each side: three uniform draws a stock."""
        n = len(self._tickers)
        u = self._rng.random(3 * n).tolist()
        quotes = []
        for i, (ticker, spot) in enumerate(zip(self._tickers, self._spots.tolist(), strict=True)):
            tick = 1 + int(u[i] * 2.0)
            bid = max(math.floor(spot * 100.0 - tick * 0.5 + 0.5), 1)
            bid_size, ask_size = (1 + int(u[n + i] * 20.0)) * 100, (1 + int(u[2 * n + i] * 20.0)) * 100
            quotes.append(Quote(ticker, bid / 100.0, (bid + tick) / 100.0, bid_size, ask_size, now, now))
        return quotes

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
        """First batch at once (the restored marks, after a restart), then one every `stock_step_interval_ns`
        on a fixed grid (no drift), the chains with them every `step_interval_ns`, in session only: while the
        market is closed the next step is its open."""
        if self._timer is not None:
            raise RuntimeError("simulated market already started")
        self._next_step_ns = self._next_chain_ns = self._clock.now_ns()
        if not self._resume_quotes:  # a fresh market moves from its start (a restored one from where it stopped)
            self._last_ns = self._next_step_ns
        self._timer = self._clock.call_at(self._next_step_ns, self._on_timer, sink)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self, sink: QuoteSink) -> None:
        now = self._clock.now_ns()
        open_now = self.hours.is_open(now)
        if not open_now:
            self._next_step_ns = self.hours.next_open(now) or 0
            if not self._next_step_ns:
                log.warning("the market calendar %s ends before %s: no more quotes", self.hours.name,
                            ns_to_datetime(now))  # fmt: skip
                self._timer = None
                return
        else:
            self._next_step_ns += self.config.stock_step_interval_ns
        # Rescheduled before pushing, so a failing sink cannot silently stop the feed.
        self._timer = self._clock.call_at(self._next_step_ns, self._on_timer, sink)
        if open_now:
            if self._resume_quotes:
                self._resume_quotes = False
                marks = self.marks()
                self._emitted(marks)
                sink(marks)
            else:
                chains = now >= self._next_chain_ns
                if chains:  # on the chains' own grid, the first step of a session included
                    self._next_chain_ns = max(self._next_chain_ns + self.config.step_interval_ns, now)
                sink(self.step(options=chains))

    # ------------------------------------------------------------------ persistence

    def state(self) -> dict[str, Any]:
        """Everything the next run on the same data needs to continue this market (JSON-ready)."""
        return {
            "version": STATE_VERSION,
            "last_ns": self._last_ns,
            "tickers": self._tickers,
            "spots": self._spots.tolist(),
            "vols": self._vols.tolist(),
            "rng": self._rng.bit_generator.state,
            "expiries": [d.isoformat() for d in self._expiries],
            "options": self._option_ids,
            "marks": [[q.instrument_id, q.bid, q.ask, q.bid_size, q.ask_size] for q in self.marks()],
            "steps": self.steps,
        }

    def restore(self, state: dict[str, Any]) -> bool:
        """Continue from a saved `state`: the first batch repeats its marks, later ones move on from its
        spots and random stream. A state for other underlyings, or one that does not read, is not applied at
        all (False, with a warning): everything is read before anything is set."""
        if state.get("version") != STATE_VERSION or state.get("tickers") != self._tickers:
            log.warning("saved market state is for %s (version %s); this market trades %s: starting afresh",
                        state.get("tickers"), state.get("version"), self._tickers)  # fmt: skip
            return False
        n = len(self._tickers)
        try:
            spots = np.array(state["spots"], dtype=np.float64)
            vols = np.array(state["vols"], dtype=np.float64)
            if spots.shape != (n,) or vols.shape != (n,) or not (np.all(spots > 0) and np.all(vols > 0)):
                raise ValueError(f"spots and vols must be {n} positive numbers")
            rng = np.random.default_rng(0)  # its state is the saved one, set next
            rng.bit_generator.state = state["rng"]
            last_ns, steps = int(state["last_ns"]), int(state["steps"])
            listed = [o for o in map(parse_symbol, state["options"]) if isinstance(o, Option)]
            und = np.array([self._ticker_index[o.underlying] for o in listed], dtype=np.intp)
            expiries = [date.fromisoformat(d) for d in state["expiries"]]
            marks = {m[0]: Quote(m[0], float(m[1]), float(m[2]), int(m[3]), int(m[4]), last_ns, last_ns)
                     for m in state["marks"]}  # fmt: skip
        except (KeyError, TypeError, ValueError, IndexError, InvalidInput) as exc:
            log.warning("saved market state does not read (%s: %s): starting afresh", type(exc).__name__, exc)
            return False
        for option in listed:
            self._registry.add(option)
        self._spots, self._vols, self._rng, self._last_ns, self.steps = spots, vols, rng, last_ns, steps
        self._option_ids = [o.id for o in listed]
        self._und = und
        self._strikes = np.array([float(o.strike) for o in listed], dtype=np.float64)
        self._expiry_ns = np.array([expiry_date_ns(o.expiry) for o in listed], dtype=np.int64)
        self._is_call = np.array([o.right is Right.CALL for o in listed], dtype=bool)
        self._expiries, self._last_quotes = expiries, marks
        self._resume_quotes = bool(marks)
        self.roll_expiries()  # whatever expired while we were away is delisted, the next weeks listed
        return True
