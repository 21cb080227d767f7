"""Latest quote per instrument, with a freshness rule and a bound on option quotes.

A full option universe can hold far more contracts than anyone trades, so option quotes
live in an LRU of fixed capacity; equity quotes are few and always needed (underlyings
drive chain pricing and risk), so they are never evicted. `put` sits on the market-data
hot path: one memoised kind lookup and one dict store, no clock read.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterator

from alluse.common.clock import Clock
from alluse.common.metrics import Metric, counter, gauge
from alluse.model import InvalidInput, Quote, Unchecked

log = logging.getLogger("alluse.marketdata.cache")


class QuoteCache:
    """Reads count as `hits`, `misses` or `stale_reads` (exactly one per read), so
    hits + misses + stale_reads is the number of reads. Reading an option refreshes its
    LRU position: a quote someone asks for is a quote someone uses."""

    def __init__(
        self, clock: Clock, ttl_ns: Unchecked, option_capacity: Unchecked, is_option: Callable[[str], bool]
    ) -> None:
        if not isinstance(ttl_ns, int) or ttl_ns <= 0:
            raise InvalidInput("ttl_ns", ttl_ns, "must be a positive integer number of nanoseconds")
        if not isinstance(option_capacity, int) or option_capacity <= 0:
            raise InvalidInput("option_capacity", option_capacity, "must be a positive integer")
        self._clock = clock
        self.ttl_ns: int = ttl_ns
        self.option_capacity: int = option_capacity
        self._is_option = is_option
        self._kind: dict[str, bool] = {}  # memoised is_option per instrument id
        self._equities: dict[str, Quote] = {}
        self._options: OrderedDict[str, Quote] = OrderedDict()
        self.hits = 0
        self.misses = 0
        self.stale_reads = 0
        self.evictions = 0

    def put(self, quote: Quote) -> None:
        iid = quote.instrument_id
        option = self._kind.get(iid)
        if option is None:
            option = self._kind[iid] = bool(self._is_option(iid))
        if not option:
            self._equities[iid] = quote
            return
        options = self._options
        if iid in options:
            options[iid] = quote
            options.move_to_end(iid)
            return
        options[iid] = quote
        if len(options) > self.option_capacity:
            evicted, _ = options.popitem(last=False)
            self.evictions += 1
            log.debug("evicted option quote %s (capacity %d)", evicted, self.option_capacity)

    def _lookup(self, instrument_id: str) -> Quote | None:
        quote = self._equities.get(instrument_id)
        if quote is not None:
            return quote
        quote = self._options.get(instrument_id)
        if quote is not None:
            self._options.move_to_end(instrument_id)
        return quote

    def get(self, instrument_id: str) -> Quote | None:
        """The latest quote however old it is (for display, marks of last resort)."""
        quote = self._lookup(instrument_id)
        if quote is None:
            self.misses += 1
        else:
            self.hits += 1
        return quote

    def get_fresh(self, instrument_id: str) -> Quote | None:
        """The latest quote only if it is young enough to act on (pricing, fills, risk)."""
        quote = self._lookup(instrument_id)
        if quote is None:
            self.misses += 1
            return None
        if self._clock.now_ns() - quote.ts_recv > self.ttl_ns:  # is_stale, inline: three reads an order
            self.stale_reads += 1
            return None
        self.hits += 1
        return quote

    def fresh_mid(self, instrument_id: str) -> float | None:
        """The mid of a fresh quote; None when missing or stale (what risk, marks and strategies act on)."""
        quote = self.get_fresh(instrument_id)
        return None if quote is None else quote.mid

    def fresh_view(self) -> FreshQuotes:
        """This cache seen through `get_fresh` only: hand it to whatever must never act on a stale price."""
        return FreshQuotes(self)

    def is_stale(self, quote: Quote) -> bool:
        return self._clock.now_ns() - quote.ts_recv > self.ttl_ns

    def __len__(self) -> int:
        return len(self._equities) + len(self._options)

    def __contains__(self, instrument_id: object) -> bool:
        return instrument_id in self._equities or instrument_id in self._options

    def metrics(self) -> Iterator[Metric]:
        yield counter("alluse_quote_cache_hits_total", "Cache reads that returned a quote", self.hits)
        yield counter("alluse_quote_cache_misses_total", "Cache reads of an instrument with no quote", self.misses)
        yield counter(
            "alluse_quote_cache_stale_reads_total",
            "Fresh-quote reads refused: quote older than the TTL",
            self.stale_reads,
        )
        yield counter("alluse_quote_cache_evictions_total", "Option quotes evicted by the LRU bound", self.evictions)
        yield gauge("alluse_quote_cache_size", "Quotes held", len(self._equities), kind="equity")
        yield gauge("alluse_quote_cache_size", "Quotes held", len(self._options), kind="option")
        yield gauge("alluse_quote_cache_capacity", "Most option quotes held", self.option_capacity, kind="option")

    def snapshot(self) -> dict[str, int]:
        return {
            "hits": self.hits,
            "misses": self.misses,
            "stale_reads": self.stale_reads,
            "evictions": self.evictions,
            "equities": len(self._equities),
            "options": len(self._options),
        }


class FreshQuotes:
    """A read-only view of a QuoteCache whose `get` returns only fresh quotes (e.g. the paper venue's
    touch: a venue that filled against a quote from hours ago would invent prices)."""

    __slots__ = ("get",)

    def __init__(self, cache: QuoteCache) -> None:
        self.get = cache.get_fresh
