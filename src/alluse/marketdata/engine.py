"""The market-data pipeline: validate -> cache -> fan out to subscribers.

A quote that fails validation is dropped whole and counted by reason: it never reaches the
cache, the per-instrument timestamps or any subscriber, so bad data cannot corrupt state.

The hot path is shaped for the common good quote: one chained float comparison
(`0 < bid <= ask < inf`, which is also false for NaN) rules out NaN/inf, non-positive and
crossed prices at once; then `0 <= size < inf` for each size and one dict lookup for the
last timestamp. Only a quote that fails there goes to the slow path, which works out the
reason. Subscriber lists are tuples replaced on change, so a handler may (un)subscribe
during fan-out without disturbing the loop.

Feed latency (`alluse_feed_latency_seconds`) is wall time (perf_counter) from a batch entering
`on_quotes` to the end of one quote's fan-out, so it includes the quotes ahead of it in its
batch. Only every FEED_LATENCY_SAMPLE_EVERY-th accepted quote is timed: a clock read and a
histogram update on every quote would cost MD-1 several percent, while one in 64 still gives
thousands of samples a second under load. The per-quote cost is one integer comparison; the
batch-entry clock read is paid per batch, except by `on_quote`, which pays it only when its
quote is the timed one (a len() per call would cost the one-by-one path more than the timing).
"""

from __future__ import annotations

import enum
import logging
import math
import numbers
from collections.abc import Callable, Iterable, Iterator
from time import perf_counter_ns

from alluse.common.clock import Clock
from alluse.common.metrics import LatencyHistogram, Metric, counter, histogram
from alluse.marketdata.cache import QuoteCache
from alluse.model import Quote
from alluse.model.registry import InstrumentRegistry

log = logging.getLogger("alluse.marketdata.engine")

QuoteHandler = Callable[[Quote], None]
QuoteSink = Callable[[list[Quote]], None]  # what feeds push batches into; DataEngine.on_quotes fits

_INF = math.inf
TS_LIMIT = 2**63  # ns timestamps are int64 (up to year 2262); anything beyond is garbage
FEED_LATENCY_SAMPLE_EVERY = 64  # time one accepted quote in this many (see the module docstring)


class RejectReason(enum.StrEnum):
    UNKNOWN_INSTRUMENT = "unknown_instrument"
    MALFORMED = "malformed"  # a field is not a number, or a timestamp is negative/NaN/beyond int64
    NAN_OR_INF = "nan_or_inf"
    NON_POSITIVE_PRICE = "non_positive_price"
    NEGATIVE_SIZE = "negative_size"
    CROSSED = "crossed"
    OUT_OF_ORDER = "out_of_order"


class DataEngine:
    def __init__(
        self, registry: InstrumentRegistry, cache: QuoteCache, clock: Clock, *, instrument: bool = True
    ) -> None:
        self._registry = registry
        self._cache = cache
        self._clock = clock
        # Kept apart from the cache: an LRU eviction must not forget how far an instrument got.
        self._last_ts: dict[str, int] = {}
        self._subs: dict[str, tuple[QuoteHandler, ...]] = {}
        self._all: tuple[QuoteHandler, ...] = ()
        self._failed_handlers: set[int] = set()
        self.accepted = 0
        self.rejected: dict[RejectReason, int] = {reason: 0 for reason in RejectReason}
        self.handler_errors = 0
        self.last_accept_ns: int | None = None  # clock time of the last accepted batch: feed liveness
        self.feed_latency = LatencyHistogram()
        # the value of `accepted` at which the next quote is timed; -1: not timing
        self._next_sample = FEED_LATENCY_SAMPLE_EVERY if instrument else -1

    @property
    def cache(self) -> QuoteCache:
        return self._cache

    @property
    def instrument(self) -> bool:
        """Whether feed latency is sampled; may be switched at any time (on again starts a fresh count)."""
        return self._next_sample >= 0

    @instrument.setter
    def instrument(self, on: bool) -> None:
        self._next_sample = self.accepted + FEED_LATENCY_SAMPLE_EVERY if on else -1

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    # ------------------------------------------------------------------ subscriptions

    def subscribe(self, instrument_id: str, handler: QuoteHandler) -> None:
        """Refuses unknown instruments: a typo would otherwise be a subscription that never fires."""
        self._registry.require(instrument_id)
        handlers = self._subs.get(instrument_id, ())
        if handler not in handlers:
            self._subs[instrument_id] = (*handlers, handler)

    def unsubscribe(self, instrument_id: str, handler: QuoteHandler) -> None:
        handlers = self._subs.get(instrument_id, ())
        if handler in handlers:
            remaining = tuple(h for h in handlers if h != handler)
            if remaining:
                self._subs[instrument_id] = remaining
            else:
                del self._subs[instrument_id]

    def subscribe_all(self, handler: QuoteHandler) -> None:
        """Called for every accepted quote, after that instrument's own subscribers."""
        if handler not in self._all:
            self._all = (*self._all, handler)

    def unsubscribe_all(self, handler: QuoteHandler) -> None:
        self._all = tuple(h for h in self._all if h != handler)

    # ------------------------------------------------------------------ pipeline

    def on_quote(self, quote: Quote) -> None:
        self.on_quotes((quote,), True)

    def on_quotes(self, quotes: Iterable[Quote], _single: bool = False) -> None:
        """Each quote is validated, cached and fanned out exactly as `on_quote` would, in order; the
        batch only saves call overhead. `accepted` and `last_accept_ns` settle at the end of the batch.
        (`_single` is on_quote's: a batch of one, timed only if it is the timed quote.)"""
        registry = self._registry
        last_ts = self._last_ts
        last_get = last_ts.get
        subs_get = self._subs.get
        put = self._cache.put
        reject = self._reject
        accepted = 0
        sample_at = self._next_sample - self.accepted  # the count at which a quote is timed; < 0: not timing
        t0 = perf_counter_ns() if sample_at > 0 and (sample_at == 1 or not _single) else 0
        try:
            for q in quotes:
                try:
                    ok = (
                        isinstance(q, Quote)
                        and isinstance(q.bid, float)
                        and isinstance(q.ask, float)
                        and 0.0 < q.bid <= q.ask < _INF
                        and type(q.bid_size) is int
                        and type(q.ask_size) is int
                        and q.bid_size >= 0
                        and q.ask_size >= 0
                    )
                    if ok:
                        iid = q.instrument_id
                        ts = q.ts_event
                        last = last_get(iid)
                        ok = (
                            type(ts) is int
                            and ((iid in registry and 0 <= ts < TS_LIMIT) if last is None else last <= ts < TS_LIMIT)
                            and type(q.ts_recv) is int
                            and 0 <= q.ts_recv < TS_LIMIT
                        )
                except TypeError:  # a field that is not a number: classified as malformed below
                    ok = False
                if not ok:
                    reject(q)
                    continue
                last_ts[iid] = ts
                put(q)
                accepted += 1
                handlers = subs_get(iid)
                if handlers is not None:
                    for handler in handlers:
                        try:
                            handler(q)
                        except Exception:
                            self._handler_failed(handler, q)
                for handler in self._all:
                    try:
                        handler(q)
                    except Exception:
                        self._handler_failed(handler, q)
                if accepted == sample_at:
                    self.feed_latency.observe(perf_counter_ns() - t0)
                    sample_at += FEED_LATENCY_SAMPLE_EVERY
                    self._next_sample += FEED_LATENCY_SAMPLE_EVERY
        finally:
            if accepted:
                self.accepted += accepted
                self.last_accept_ns = self._clock.now_ns()

    # ------------------------------------------------------------------ slow paths

    def classify(self, quote: Quote) -> tuple[RejectReason, str, object] | None:
        """Why `quote` would be rejected now, as (reason, field, value); None if it would be accepted."""
        if not isinstance(quote, Quote):  # a look-alike (a named tuple, a row object) is not taken
            return RejectReason.MALFORMED, "quote", quote
        iid = quote.instrument_id
        if not isinstance(iid, str) or iid not in self._registry:
            return RejectReason.UNKNOWN_INSTRUMENT, "instrument_id", iid
        fields = (
            ("bid", quote.bid),
            ("ask", quote.ask),
            ("bid_size", quote.bid_size),
            ("ask_size", quote.ask_size),
            ("ts_event", quote.ts_event),
            ("ts_recv", quote.ts_recv),
        )
        for name, value in fields:
            if not isinstance(value, numbers.Real):
                return RejectReason.MALFORMED, name, value
        for name, value in fields[:4]:
            if not math.isfinite(value):
                return RejectReason.NAN_OR_INF, name, value
        # prices are floats (numpy's float64 is one; Decimal, bool, float32 are not), sizes and times
        # whole numbers as Python ints: the order path (compiled, alluse.build) takes them as such,
        # and a float or numpy size would fail there instead of here
        for name, value in fields[:2]:
            if not isinstance(value, float):
                return RejectReason.MALFORMED, name, value
        for name, value in fields[2:]:
            if type(value) is not int:
                return RejectReason.MALFORMED, name, value
        ts = quote.ts_event
        for name, value in fields[4:]:
            if not 0 <= value < TS_LIMIT:
                return RejectReason.MALFORMED, name, value
        for name, value in fields[:2]:
            if value <= 0.0:
                return RejectReason.NON_POSITIVE_PRICE, name, value
        for name, value in fields[2:4]:
            if value < 0:
                return RejectReason.NEGATIVE_SIZE, name, value
        if quote.bid > quote.ask:
            return RejectReason.CROSSED, "bid/ask", (quote.bid, quote.ask)
        last = self._last_ts.get(iid)
        if last is not None and ts < last:
            return RejectReason.OUT_OF_ORDER, "ts_event", (ts, last)
        return None

    def _reject(self, quote: Quote) -> None:
        # classify covers every way the fast path can fail; the fallback keeps a batch going if not.
        reason, name, value = self.classify(quote) or (RejectReason.MALFORMED, "quote", quote)
        first = self.rejected[reason] == 0
        self.rejected[reason] += 1
        log.log(
            logging.WARNING if first else logging.DEBUG,
            "rejected quote for %r: %s (%s=%r)%s",
            quote.instrument_id,
            reason.value,
            name,
            value,
            "; further rejections for this reason are logged at DEBUG" if first else "",
        )

    def _handler_failed(self, handler: QuoteHandler, quote: Quote) -> None:
        """Logged in full once per handler, then at DEBUG: a handler failing on every quote must not flood the log."""
        self.handler_errors += 1
        key = id(handler)
        if key in self._failed_handlers:
            log.debug("subscriber %r failed again on %s", handler, quote.instrument_id, exc_info=True)
        else:
            self._failed_handlers.add(key)
            log.exception("subscriber %r failed on %s (later failures logged at DEBUG)", handler, quote.instrument_id)

    def metrics(self) -> Iterator[Metric]:
        yield counter("alluse_quotes_total", "Quotes accepted by validation", self.accepted, outcome="accepted")
        for reason, n in self.rejected.items():
            yield counter("alluse_quotes_rejected_total", "Quotes dropped by validation", n, reason=reason.value)
        yield counter("alluse_quote_handler_errors_total", "Quote subscriber calls that raised", self.handler_errors)
        yield histogram(
            "alluse_feed_latency_seconds",
            f"Wall time from a batch entering the engine to a quote's fan-out done (1 quote in "
            f"{FEED_LATENCY_SAMPLE_EVERY})",
            self.feed_latency,
        )

    def snapshot(self) -> dict[str, int]:
        counters = {
            "accepted": self.accepted,
            "rejected_total": self.rejected_total,
            "handler_errors": self.handler_errors,
        }
        counters.update({f"rejected_{reason.value}": n for reason, n in self.rejected.items()})
        return counters
