"""Option chains with implied volatility and greeks, priced from the quote cache.

A chain is only as good as its quotes: an option enters a snapshot only with a fresh quote
of its own and a fresh underlying quote, so a strategy never picks a strike from a price
the market has moved away from. The static side of a chain (strikes, expiries, rights) is
turned into arrays once per registry change; each snapshot then reads the quotes and
prices the whole chain with one vectorised IV solve and one greeks call.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np

from alluse.common.clock import Clock
from alluse.marketdata.cache import QuoteCache
from alluse.marketdata.pricing import DAY_NS, YEAR_NS, greeks, implied_vol
from alluse.model import InvalidInput, Option, Right, expiry_ns
from alluse.model.registry import InstrumentRegistry


@dataclass(slots=True)
class ChainSnapshot:
    """One underlying's quoted options at one instant; every array is aligned with `options`.

    `iv` and the greeks are NaN where no volatility reproduces the mid (such options are
    shown but never picked). `T` is in years (ACT/365) from `ts_ns` to expiry.
    """

    underlying: str
    spot: float  # underlying mid; NaN when the underlying has no fresh quote (and the chain is empty)
    ts_ns: int
    options: list[Option]
    strikes: np.ndarray
    expiries: np.ndarray  # datetime64[D]
    T: np.ndarray
    is_call: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    mid: np.ndarray
    iv: np.ndarray
    delta: np.ndarray
    gamma: np.ndarray
    vega: np.ndarray
    theta: np.ndarray

    def __len__(self) -> int:
        return len(self.options)

    @property
    def dte(self) -> np.ndarray:
        """Days to expiry as floats (calendar days)."""
        return self.T * 365.0


@dataclass(slots=True, frozen=True)
class ChainPick:
    option: Option
    delta: float
    iv: float
    bid: float
    ask: float
    mid: float
    dte: float


@dataclass(slots=True, frozen=True)
class _ChainIndex:
    """The static arrays of one underlying's listed options, in registry order."""

    options: tuple[Option, ...]
    ids: tuple[str, ...]
    strikes: np.ndarray
    expiries: np.ndarray
    expiry_ns: np.ndarray
    is_call: np.ndarray


def _build_index(options: list[Option]) -> _ChainIndex:
    return _ChainIndex(
        options=tuple(options),
        ids=tuple(o.id for o in options),
        strikes=np.array([float(o.strike) for o in options], dtype=np.float64),
        expiries=np.array([o.expiry for o in options], dtype="datetime64[D]"),
        expiry_ns=np.array([expiry_ns(o) for o in options], dtype=np.int64),
        is_call=np.array([o.right is Right.CALL for o in options], dtype=bool),
    )


class OptionChainService:
    def __init__(self, registry: InstrumentRegistry, cache: QuoteCache, clock: Clock, rate: float = 0.04) -> None:
        if not (isinstance(rate, int | float) and math.isfinite(rate)):
            raise InvalidInput("rate", rate, "must be a finite number")
        self._registry = registry
        self._cache = cache
        self._clock = clock
        self.rate = float(rate)
        self._indexes: dict[str, _ChainIndex] = {}
        # a broker's own model greeks, (iv, delta) by instrument id or None, preferred where it has them (IB's
        # tickOptionComputation); the greeks solved here from the quotes serve where it has none
        self.broker_greeks: Callable[[str], tuple[float, float] | None] | None = None

    def _index(self, underlying: str) -> _ChainIndex:
        """Rebuilt only when the registry lists a different number of options (it only ever grows)."""
        options = self._registry.options_for(underlying)
        index = self._indexes.get(underlying)
        if index is None or len(index.options) != len(options):
            index = self._indexes[underlying] = _build_index(options)
        return index

    def snapshot(self, underlying: str, expiry: date | None = None, right: Right | None = None) -> ChainSnapshot:
        return self._snapshot(underlying, expiry, right, 0.0, np.inf)

    def _snapshot(
        self, underlying: str, expiry: date | None, right: Right | None, min_dte: float, max_dte: float
    ) -> ChainSnapshot:
        """Filters come before pricing, so a narrow request solves only the options it can use."""
        now = self._clock.now_ns()
        index = self._index(underlying)
        spot_quote = self._cache.get_fresh(underlying)
        dte = (index.expiry_ns - now) / DAY_NS
        mask = (index.expiry_ns > now) & (dte >= min_dte) & (dte <= max_dte)
        if expiry is not None:
            mask &= index.expiries == np.datetime64(expiry, "D")
        if right is not None:
            mask &= index.is_call == (right is Right.CALL)
        rows: list[int] = []
        bids: list[float] = []
        asks: list[float] = []
        if spot_quote is not None:
            get_fresh = self._cache.get_fresh
            ids = index.ids
            for i in np.flatnonzero(mask).tolist():
                quote = get_fresh(ids[i])
                if quote is not None:
                    rows.append(i)
                    bids.append(quote.bid)
                    asks.append(quote.ask)
        spot = spot_quote.mid if spot_quote is not None else float("nan")
        sel = np.array(rows, dtype=np.intp)
        strikes = index.strikes[sel]
        is_call = index.is_call[sel]
        T = (index.expiry_ns[sel] - now) / YEAR_NS
        bid = np.array(bids, dtype=np.float64)
        ask = np.array(asks, dtype=np.float64)
        mid = (bid + ask) * 0.5
        iv = np.asarray(implied_vol(mid, spot, strikes, T, self.rate, is_call), dtype=np.float64)
        g = greeks(spot, strikes, T, self.rate, iv, is_call)
        delta = np.asarray(g.delta, dtype=np.float64)
        if self.broker_greeks is not None:
            for k, i in enumerate(rows):
                found = self.broker_greeks(index.ids[i])
                if found is not None:
                    iv[k], delta[k] = found
        return ChainSnapshot(
            underlying=underlying,
            spot=spot,
            ts_ns=now,
            options=[index.options[i] for i in rows],
            strikes=strikes,
            expiries=index.expiries[sel],
            T=T,
            is_call=is_call,
            bid=bid,
            ask=ask,
            mid=mid,
            iv=iv,
            delta=delta,
            gamma=np.asarray(g.gamma, dtype=np.float64),
            vega=np.asarray(g.vega, dtype=np.float64),
            theta=np.asarray(g.theta, dtype=np.float64),
        )

    def nearest_delta(
        self,
        underlying: str,
        right: Right,
        target_delta: float,
        min_dte: float,
        max_dte: float,
        min_strike: float | None = None,
    ) -> ChainPick | None:
        """The nearest expiry in the DTE window, then its strike with |delta| closest to the target
        (only strikes at or above `min_strike`, if given: a covered call above the shares' cost).

        Ties in delta distance go to the lower strike, so the choice never depends on
        registry order.
        """
        if not isinstance(right, Right):
            raise InvalidInput("right", right, "must be a Right")
        if not (isinstance(target_delta, int | float) and 0.0 < target_delta < 1.0):
            raise InvalidInput("target_delta", target_delta, "must be in (0, 1), given as a positive number")
        if not (isinstance(min_dte, int | float) and np.isfinite(min_dte) and min_dte >= 0):
            raise InvalidInput("min_dte", min_dte, "must be a finite number >= 0")
        if not (isinstance(max_dte, int | float) and np.isfinite(max_dte) and max_dte >= min_dte):
            raise InvalidInput("max_dte", max_dte, f"must be a finite number >= min_dte ({min_dte})")
        chain = self._snapshot(underlying, None, right, float(min_dte), float(max_dte))
        usable = np.isfinite(chain.delta)
        if min_strike is not None:
            usable &= chain.strikes >= min_strike - 1e-9
        candidates = np.flatnonzero(usable)
        if not candidates.size:
            return None
        nearest = chain.expiries[candidates].min()
        candidates = candidates[chain.expiries[candidates] == nearest]
        distance = np.abs(np.abs(chain.delta[candidates]) - target_delta)
        best = int(candidates[np.lexsort((chain.strikes[candidates], distance))[0]])
        return ChainPick(
            option=chain.options[best],
            delta=float(chain.delta[best]),
            iv=float(chain.iv[best]),
            bid=float(chain.bid[best]),
            ask=float(chain.ask[best]),
            mid=float(chain.mid[best]),
            dte=float(chain.dte[best]),
        )

    def greeks_for(self, option: Option) -> tuple[float, float] | None:
        """(iv, delta) from fresh quotes, or None when a quote is missing/stale, the option
        has expired or no volatility reproduces its mid."""
        now = self._clock.now_ns()
        remaining = expiry_ns(option) - now
        if remaining <= 0:
            return None
        if self.broker_greeks is not None:
            found = self.broker_greeks(option.id)
            if found is not None:
                return found
        spot_quote = self._cache.get_fresh(option.underlying)
        quote = self._cache.get_fresh(option.id)
        if spot_quote is None or quote is None:
            return None
        T = remaining / YEAR_NS
        is_call = option.right is Right.CALL
        strike = float(option.strike)
        iv = float(implied_vol(quote.mid, spot_quote.mid, strike, T, self.rate, is_call))
        if iv != iv:  # NaN
            return None
        return iv, float(greeks(spot_quote.mid, strike, T, self.rate, iv, is_call).delta)
