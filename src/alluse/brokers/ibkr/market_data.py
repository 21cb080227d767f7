"""Quotes and option chains from IB into the project's data engine, within the login's market-data lines.

Underlyings and what the account holds or works get pinned lines; the rest of the budget goes to the
options the wheel will look at next: per underlying, the puts of the nearest expiries in the strategy's
days-to-expiry window whose delta lies around its target band, re-chosen as the underlying moves
(`prefetch`), least recently used released first (lines.py). Chains come from `reqSecDefOptParams` and one
contract-details request per expiry, kept for `chain_ttl_s`. IB's model greeks arrive with its own markers
for "not computed" (-1, -2), which become None here; ib_async leaves vega and theta at -2.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
from ib_async import IB, Contract, Ticker

from alluse.brokers.ibkr import orders
from alluse.brokers.ibkr.config import IbkrConfig
from alluse.brokers.ibkr.lines import LineManager
from alluse.common.clock import NS, Clock
from alluse.common.metrics import Metric
from alluse.marketdata.engine import QuoteSink
from alluse.marketdata.pricing import DAY_NS, YEAR_NS, greeks
from alluse.model import Equity, Option, Quote, Right, expiry_date_ns
from alluse.model.registry import InstrumentRegistry

log = logging.getLogger("alluse.brokers.ibkr.market_data")

LIVE, DELAYED = 1, 3
DELTA_MARGIN = 0.15  # prefetch puts this far around the band's deltas: the band moves with the market
PREFETCH_MOVE = 0.005  # an underlying that moved this share since the last prefetch is prefetched again


@dataclass(slots=True, frozen=True)
class Band:
    """What the strategy looks for on an underlying: puts between these deltas, within these days to expiry."""

    underlying: str
    delta_min: float
    delta_max: float
    min_dte: float
    max_dte: float


def ib_value(x: float | None, marker: float) -> float | None:
    """None for IB's "not computed" marker (or a missing value); the value otherwise."""
    if x is None or (isinstance(x, float) and math.isnan(x)) or x == marker:
        return None
    return x


class IbkrMarketData:
    def __init__(self, ib: IB, config: IbkrConfig, clock: Clock, registry: InstrumentRegistry, sink: QuoteSink,
                 bands: Sequence[Band], expiries: int, vol_guess: Callable[[str], float],
                 rate: float = 0.04) -> None:  # fmt: skip
        self.ib = ib
        self.config = config
        self._clock = clock
        self._registry = registry
        self._sink = sink
        self._expiries = expiries
        self.underlyings = sorted({b.underlying for b in bands})
        self.lines = LineManager(config.market_data_lines, self._subscribe, self._unsubscribe)
        self.prefetcher = Prefetcher(self.lines, registry, clock, bands, vol_guess, rate)
        self._tickers: dict[str, Ticker] = {}
        self._instrument_of: dict[int, str] = {}  # id(ticker) -> instrument id
        self._con_ids: dict[str, int] = {}
        self._chains_loaded_ns: dict[str, int] = {}
        self._reloading: set[str] = set()
        self.chains_reloaded = 0
        self.quotes_in = 0
        ib.pendingTickersEvent += self._on_tickers

    async def start(self) -> None:
        self.ib.reqMarketDataType(DELAYED if self.config.market_data == "delayed" else LIVE)
        for underlying in self.underlyings:
            contract = orders.ib_contract(Equity(underlying))
            await self.ib.qualifyContractsAsync(contract)
            self._con_ids[underlying] = contract.conId
            self._registry.add(Equity(underlying))
            self.lines.pin([underlying])
            await self.load_chain(underlying)

    async def load_chain(self, underlying: str) -> None:
        """List the nearest expiries' options of an underlying (reqSecDefOptParams, then contract details)."""
        chains = await self.ib.reqSecDefOptParamsAsync(underlying, "", "STK", self._con_ids[underlying])
        today = date.fromtimestamp(self._clock.now_ns() / 1e9)
        expirations = sorted({e for c in chains for e in c.expirations})
        for expiry in [e for e in expirations if _date(e) >= today][: self._expiries]:
            contract = Contract(symbol=underlying, secType="OPT", lastTradeDateOrContractMonth=expiry,
                                exchange="SMART", currency="USD")  # fmt: skip
            for details in await self.ib.reqContractDetailsAsync(contract):
                c = details.contract
                if c is None:
                    continue
                option = orders.instrument_of_contract(c)
                self._registry.add(option)
                self._con_ids[option.id] = c.conId
        self._chains_loaded_ns[underlying] = self._clock.now_ns()
        spot = self._mid(underlying)
        if spot is not None:  # quotes came while the chain was listed: its puts are chosen now, not at a move
            self.prefetcher.prefetch(underlying, spot)

    def pin_held(self, instrument_ids: Iterable[str]) -> None:
        """Instruments held or worked keep a line (their marks and exits need quotes)."""
        refused = self.lines.pin(i for i in instrument_ids if i in self._registry)
        for instrument_id in refused:
            log.error("no market-data line for %s: the budget of %d is all pinned", instrument_id, self.lines.budget)

    def reset(self) -> None:
        """IB dropped every subscription (1101): make them again."""
        for instrument_id in self.lines.release_all():
            ticker = self._tickers.pop(instrument_id, None)
            if ticker is not None:
                self._instrument_of.pop(id(ticker), None)
        self.lines.pin(self.underlyings)
        for underlying in self.underlyings:
            spot = self._mid(underlying)
            if spot is not None:
                self.prefetcher.prefetch(underlying, spot)

    def model_greeks(self, instrument_id: str) -> tuple[float, float] | None:
        """(iv, delta) from IB's model computation, or None where IB gave none (the project's own greeks then)."""
        ticker = self._tickers.get(instrument_id)
        g = None if ticker is None else ticker.modelGreeks
        if g is None:
            return None
        iv, delta = ib_value(g.impliedVol, -1.0), ib_value(g.delta, -2.0)
        return None if iv is None or delta is None else (iv, delta)

    # ------------------------------------------------------------------ IB side

    def _subscribe(self, instrument_id: str) -> None:
        if instrument_id not in self._con_ids:  # not from a chain (a position from the journal): ask IB first
            asyncio.get_running_loop().create_task(self._qualify_then_subscribe(instrument_id))
            return
        contract = orders.ib_contract(self._registry.resolve(instrument_id), self._con_ids[instrument_id])
        ticker = self.ib.reqMktData(contract, "", False, False)
        self._tickers[instrument_id] = ticker
        self._instrument_of[id(ticker)] = instrument_id

    async def _qualify_then_subscribe(self, instrument_id: str) -> None:
        contract = orders.ib_contract(self._registry.resolve(instrument_id))
        try:
            await self.ib.qualifyContractsAsync(contract)
        except ConnectionError as e:
            log.warning("%s not qualified (%s): no quotes until the next subscription", instrument_id, e)
            return
        if not contract.conId:
            log.error("IB does not know %s: no quotes for it", instrument_id)
            return
        self._con_ids[instrument_id] = contract.conId
        if instrument_id in self.lines and instrument_id not in self._tickers:  # still wanted
            self._subscribe(instrument_id)

    def _unsubscribe(self, instrument_id: str) -> None:
        ticker = self._tickers.pop(instrument_id, None)
        if ticker is not None:
            self._instrument_of.pop(id(ticker), None)
            if ticker.contract is not None:
                self.ib.cancelMktData(ticker.contract)

    def _on_tickers(self, tickers: set[Ticker]) -> None:
        now = self._clock.now_ns()
        quotes = []
        moved = []
        for ticker in tickers:
            instrument_id = self._instrument_of.get(id(ticker))
            bid, ask = ticker.bid, ticker.ask
            if instrument_id is None or not (bid > 0 and ask >= bid):  # also False for NaN: nothing quoted yet
                continue
            quotes.append(Quote(instrument_id, bid, ask, int(ticker.bidSize or 0), int(ticker.askSize or 0), now, now))
            if instrument_id in self.underlyings:
                self._refresh_chain_if_old(instrument_id, now)
                moved.append((instrument_id, (bid + ask) / 2))
        if quotes:
            self.quotes_in += len(quotes)
            self._sink(quotes)
        for underlying, spot in moved:  # after the quotes are in
            self.prefetcher.on_spot(underlying, spot)

    def _refresh_chain_if_old(self, underlying: str, now: int) -> None:
        """Chains are kept `chain_ttl_s` (clock time); an older one is listed again in the background (new
        weeklies appear, expired ones go)."""
        loaded = self._chains_loaded_ns.get(underlying)
        if loaded is not None and now - loaded > self.config.chain_ttl_s * NS and underlying not in self._reloading:
            self._reloading.add(underlying)
            task = asyncio.get_running_loop().create_task(self.load_chain(underlying))
            task.add_done_callback(lambda t: self._reloaded(underlying, t))

    def _reloaded(self, underlying: str, task: asyncio.Task[None]) -> None:
        self._reloading.discard(underlying)
        if not task.cancelled() and task.exception() is not None:
            log.warning("chain of %s not listed again: %s (kept the old one)", underlying, task.exception())
        else:
            self.chains_reloaded += 1

    def _mid(self, instrument_id: str) -> float | None:  # an underlying's, from its line
        ticker = self._tickers.get(instrument_id)
        if ticker is None or not (ticker.bid > 0 and ticker.ask >= ticker.bid):
            return None
        return (ticker.bid + ticker.ask) / 2

    def metrics(self) -> list[Metric]:
        return self.lines.metrics()


class Prefetcher:
    """The prefetch policy: what the lines the underlyings and holdings leave are given to. Per underlying, an
    equal share of them, to the puts the strategy will look at next (`puts_to_watch`), chosen again when the
    underlying has moved enough since (`moved_enough`). IbkrMarketData runs it on IB's quotes; LM-1 measures it."""

    def __init__(self, lines: LineManager, registry: InstrumentRegistry, clock: Clock, bands: Sequence[Band],
                 vol_guess: Callable[[str], float], rate: float) -> None:  # fmt: skip
        self.lines = lines
        self._registry = registry
        self._clock = clock
        self._bands = list(bands)
        self._underlyings = sorted({b.underlying for b in bands})
        self._vol_guess = vol_guess
        self._rate = rate
        self._last_spot: dict[str, float] = {}

    def on_spot(self, underlying: str, spot: float) -> int:
        """A new spot: prefetch again if it moved enough since the last time; returns the new lines."""
        return self.prefetch(underlying, spot) if moved_enough(self._last_spot.get(underlying), spot) else 0

    def prefetch(self, underlying: str, spot: float) -> int:
        """Lines for the puts the strategy will look at next on `underlying`; returns how many were new."""
        self._last_spot[underlying] = spot
        bands = [b for b in self._bands if b.underlying == underlying]
        wanted = puts_to_watch(self._registry.options_for(underlying), bands, spot, self._clock.now_ns(),
                               self._vol_guess(underlying), self._rate)  # fmt: skip
        share = max(0, (self.lines.budget - self.lines.pinned) // max(1, len(self._underlyings)))
        return self.lines.prefetch(wanted[:share])


def puts_to_watch(options: Sequence[Option], bands: Sequence[Band], spot: float, now_ns: int, vol: float,
                  rate: float) -> list[str]:  # fmt: skip
    """The puts the strategy will look at next: in each band's days-to-expiry window, with a model delta (at
    `vol`) within DELTA_MARGIN of the band, nearest the band's middle first."""
    result: list[tuple[float, str]] = []
    for band in bands:
        window = [o for o in options if o.right is Right.PUT
                  and band.min_dte <= (expiry_date_ns(o.expiry) - now_ns) / DAY_NS <= band.max_dte]  # fmt: skip
        if not window:
            continue
        strikes = np.array([float(o.strike) for o in window])
        t = np.array([(expiry_date_ns(o.expiry) - now_ns) / YEAR_NS for o in window])
        delta = np.abs(greeks(spot, strikes, t, rate, vol, False).delta)
        middle = (band.delta_min + band.delta_max) / 2
        for option, d in zip(window, delta.tolist(), strict=True):
            if band.delta_min - DELTA_MARGIN <= d <= band.delta_max + DELTA_MARGIN:
                result.append((abs(d - middle), option.id))
    return list(dict.fromkeys(i for _, i in sorted(result)))


def moved_enough(last: float | None, spot: float) -> bool:
    """Far enough since the last prefetch to choose the puts again."""
    return last is None or abs(spot - last) > PREFETCH_MOVE * last


def _date(yyyymmdd: str) -> date:
    return date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))

