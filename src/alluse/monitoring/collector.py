"""The collector: once an interval it reads every metric source and turns readings into samples.

- a gauge is stored as read;
- a counter is stored cumulative, plus `:rate` (per second since the series' previous reading);
- a histogram gives `:p50`, `:p90`, `:p99` (seconds) over the observations made since its previous
  reading, plus `:rate` (observations per second).

A series' first reading has no previous one, so it gives no rate and no percentiles (nor does a
histogram whose buckets changed). A histogram that saw nothing in the interval gives `:rate` 0 and
no percentiles: a percentile of nothing is not 0, and an alert must not read it as "fast". A counter
that went down was reset (a component rebuilt): its interval counts from 0, as Prometheus' rate does.

Derived series (the SERIES_* constants) are computed from the interval's counter increments, so
they describe the same interval as the rates. Everything is in wall time (the collector watches
the process), except component latencies the components document otherwise.

A source that raises is logged and skipped for that tick; its series keep their previous readings,
so its next rates span the gap correctly. `collect_once` depends only on its argument, the sources
and earlier ticks, so tests drive it without a loop; `start` runs it on the asyncio loop on a
fixed, drift-free schedule and measures how late each tick fires (event-loop lag).
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from time import perf_counter_ns

from alluse import build
from alluse.common.metrics import (
    HistogramSnapshot,
    LatencyHistogram,
    Metric,
    MetricKind,
    MetricSource,
    Sample,
    counter,
    derived,
    gauge,
    histogram,
)
from alluse.model import InvalidInput
from alluse.monitoring import series

log = logging.getLogger("alluse.monitoring.collector")
_VERSION = importlib.metadata.version("alluse")

NS_PER_S = 1_000_000_000

# series the collector derives; alert rules name them
SERIES_TRADING_ERROR_RATIO = series.TRADING_ERROR_RATIO  # one spelling, shared with the alert rules
SERIES_STALE_QUOTE_RATIO = series.STALE_QUOTE_RATIO
SERIES_CACHE_HIT_RATIO = series.CACHE_HIT_RATIO
SERIES_QUOTE_AGE = series.QUOTE_AGE_SECONDS
SERIES_DAILY_LOSS_USED = series.DAILY_LOSS_LIMIT_USED_RATIO
SERIES_EVENT_LOOP_LAG = series.EVENT_LOOP_LAG_SECONDS

# component series the derived ones are computed from (names the components' metrics() produce)
ORDERS_SENT = 'alluse_orders_total{event="submitted"}'
ORDERS_REJECTED = 'alluse_orders_total{event="rejected"}'  # venue rejects and permanent failures
QUOTES_ACCEPTED = 'alluse_quotes_total{outcome="accepted"}'
CACHE_HITS = "alluse_quote_cache_hits_total"
CACHE_MISSES = "alluse_quote_cache_misses_total"
CACHE_STALE_READS = "alluse_quote_cache_stale_reads_total"

PERCENTILES: tuple[tuple[float, str], ...] = ((0.5, "p50"), (0.9, "p90"), (0.99, "p99"))

# hooks called after each tick; what they return is not used
SampleSink = Callable[[list[Sample]], object]
ValueSink = Callable[[dict[str, float], int], object]


# Series the collector computes from several readings, whatever the sources are.
DERIVED_SERIES = (
    SERIES_TRADING_ERROR_RATIO,
    SERIES_STALE_QUOTE_RATIO,
    SERIES_CACHE_HIT_RATIO,
    SERIES_QUOTE_AGE,
    SERIES_DAILY_LOSS_USED,
    SERIES_EVENT_LOOP_LAG,
)


def series_of(m: Metric) -> tuple[str, ...]:
    """Every series one reading becomes once the collector has seen it twice (see metrics.Sample)."""
    if m.kind is MetricKind.GAUGE:
        return (m.series,)
    if m.kind is MetricKind.COUNTER:
        return (m.series, derived(m.series, "rate"))
    return (derived(m.series, "rate"), *(derived(m.series, suffix) for _, suffix in PERCENTILES))


class Collector:
    """Also a MetricSource itself (its own readings are collected with the others' each tick)."""

    def __init__(
        self,
        sources: Iterable[MetricSource],
        *,
        interval_s: float = 1.0,
        wall_ns: Callable[[], int] = time.time_ns,
        resources: MetricSource | None = None,
        on_samples: SampleSink | None = None,
        on_values: ValueSink | None = None,
        loss_limit_used: Callable[[], float | None] | None = None,
        error_window_s: float = 60.0,
        error_min_orders: int = 10,
    ) -> None:
        """The trading error ratio is rejected / sent over the last `error_window_s` of wall time, once at least
        `error_min_orders` were sent in it (fewer: no value, "insufficient data", not a healthy 0 %)."""
        if isinstance(interval_s, bool) or not isinstance(interval_s, int | float) or not 0 < interval_s < math.inf:
            raise InvalidInput("interval_s", interval_s, "must be a positive number of seconds")
        self.interval_s = float(interval_s)
        self._sources: list[MetricSource] = [*sources, *(() if resources is None else (resources,)), self]
        self._wall_ns = wall_ns
        self._on_samples = on_samples
        self._on_values = on_values
        self._loss_limit_used = loss_limit_used
        self._counters: dict[str, tuple[float, int]] = {}  # series -> (last value, when read)
        self._histograms: dict[str, tuple[HistogramSnapshot, int]] = {}
        self._names: dict[tuple[str, str], str] = {}  # (series, suffix) -> derived series name
        self._error_window_ns = round(error_window_s * NS_PER_S)
        self._error_min_orders = error_min_orders
        self._order_window: deque[tuple[int, float, float]] = deque()  # (when, sent, rejected) per tick
        self._quote_count: float | None = None
        self._quote_seen_ns = 0  # when the accepted-quote count last changed (or watching began)
        self._failing: set[int] = set()  # ids of sources and hooks whose failure is being logged
        self._build = build.describe()  # once: it looks for the compiled modules on disk
        self.tick_time = LatencyHistogram()
        self.ticks = 0
        self.samples_total = 0
        self.source_errors = 0
        self.hook_errors = 0
        self.missed_ticks = 0
        self.loop_lag_s: float | None = None  # how late the last scheduled tick fired
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._due = 0.0  # loop time the next tick is scheduled for

    # ------------------------------------------------------------------ one tick

    def collect_once(self, now_ns: int) -> list[Sample]:
        """Read every source at wall time `now_ns`, hand the samples to the hooks and return them."""
        t0 = perf_counter_ns()
        samples: list[Sample] = []
        increments: dict[str, float] = {}  # counter series -> increase over its interval
        for source in self._sources:
            try:
                readings = list(source.metrics())  # all or nothing: a source failing halfway adds nothing
            except Exception:
                self.source_errors += 1
                self._failed(source, "metric source %r failed; skipped this tick", source)
                continue
            self._recovered(source, "metric source %r is answering again", source)
            for m in readings:
                try:
                    self._convert(m, now_ns, samples, increments)
                except (TypeError, ValueError, AttributeError) as exc:
                    self.source_errors += 1
                    log.warning("unusable reading %r from %r: %s", m, source, exc)
        self._derive(now_ns, samples, increments)
        self.ticks += 1
        self.samples_total += len(samples)
        self._publish(samples, now_ns)
        self.tick_time.observe(perf_counter_ns() - t0)
        return samples

    def _convert(self, m: Metric, now: int, out: list[Sample], increments: dict[str, float]) -> None:
        series = m.series
        kind = m.kind
        if kind is MetricKind.GAUGE:
            value = float(m.value)  # type: ignore[arg-type]
            if math.isfinite(value):
                out.append(Sample(series, now, value))
            return
        if kind is MetricKind.COUNTER:
            value = float(m.value)  # type: ignore[arg-type]
            if not math.isfinite(value):
                raise ValueError(f"counter {series} = {value}")
            out.append(Sample(series, now, value))
            previous = self._counters.get(series)
            self._counters[series] = (value, now)
            if previous is not None and now > previous[1]:
                last, then = previous
                increase = value - last if value >= last else value
                increments[series] = increase
                out.append(Sample(self._name(series, "rate"), now, increase * NS_PER_S / (now - then)))
            return
        snap = m.value
        if not isinstance(snap, HistogramSnapshot):
            raise TypeError(f"histogram {series} carries {type(snap).__name__}, not a HistogramSnapshot")
        previous_h = self._histograms.get(series)
        self._histograms[series] = (snap, now)
        if previous_h is None or now <= previous_h[1] or previous_h[0].bounds_ns != snap.bounds_ns:
            return
        earlier, then = previous_h
        interval = snap.minus(earlier) if snap.count >= earlier.count else snap
        out.append(Sample(self._name(series, "rate"), now, interval.count * NS_PER_S / (now - then)))
        for q, suffix in PERCENTILES:
            estimate_ns = interval.percentile_ns(q)  # None when the interval observed nothing
            if estimate_ns is not None:
                out.append(Sample(self._name(series, suffix), now, estimate_ns / NS_PER_S))

    def _name(self, series: str, suffix: str) -> str:
        key = (series, suffix)
        name = self._names.get(key)
        if name is None:
            name = self._names[key] = derived(series, suffix)
        return name

    def _error_ratio(self, now: int, sent: float | None, rejected: float) -> float | None:
        """Rejected / sent over the window, or None below the minimum count: a second with sends and no reject
        is not a 0 % the `for` of a rule can be met on, and a quiet minute is not evidence either way."""
        window = self._order_window
        if sent is not None:
            window.append((now, sent, rejected))
        while window and window[0][0] <= now - self._error_window_ns:
            window.popleft()
        orders = sum(w[1] for w in window)
        if orders < self._error_min_orders:
            return None
        # a rejection may belong to an order sent before the window: a share cannot pass 1
        return min(1.0, sum(w[2] for w in window) / orders)

    def _derive(self, now: int, out: list[Sample], increments: dict[str, float]) -> None:
        ratio = self._error_ratio(now, increments.get(ORDERS_SENT), increments.get(ORDERS_REJECTED, 0.0))
        if ratio is not None:
            out.append(Sample(SERIES_TRADING_ERROR_RATIO, now, ratio))
        stale = increments.get(CACHE_STALE_READS)
        hits, misses = increments.get(CACHE_HITS), increments.get(CACHE_MISSES)
        if stale is not None and hits is not None and misses is not None:  # share of all reads; 0 when none
            reads = stale + hits + misses
            out.append(Sample(SERIES_STALE_QUOTE_RATIO, now, stale / reads if reads > 0 else 0.0))
            if reads > 0:  # no reads, no hit rate: a gap rather than a misleading 0 or 1
                out.append(Sample(SERIES_CACHE_HIT_RATIO, now, hits / reads))
        quotes = self._counters.get(QUOTES_ACCEPTED)
        if quotes is not None and quotes[1] == now:  # the engine answered this tick
            if quotes[0] != self._quote_count:
                self._quote_count = quotes[0]
                self._quote_seen_ns = now
            out.append(Sample(SERIES_QUOTE_AGE, now, (now - self._quote_seen_ns) / NS_PER_S))
        if self._loss_limit_used is not None:
            try:
                used = self._loss_limit_used()
            except Exception:
                self._failed(self._loss_limit_used, "daily loss limit reading failed")
            else:
                self._recovered(self._loss_limit_used, "daily loss limit reading works again")
                if used is not None and math.isfinite(used):
                    out.append(Sample(SERIES_DAILY_LOSS_USED, now, float(used)))

    def _publish(self, samples: list[Sample], now: int) -> None:
        if self._on_samples is not None:
            try:
                self._on_samples(samples)
            except Exception:
                self.hook_errors += 1
                self._failed(self._on_samples, "on_samples hook failed")
        if self._on_values is not None:
            try:
                self._on_values({s.series: s.value for s in samples}, now)
            except Exception:
                self.hook_errors += 1
                self._failed(self._on_values, "on_values hook failed")

    def _failed(self, what: object, message: str, *args: object) -> None:
        """Logged with its traceback once, then at DEBUG until it works again: no log flood at 1 Hz."""
        key = id(what)
        if key in self._failing:
            log.debug(message, *args, exc_info=True)
        else:
            self._failing.add(key)
            log.exception(message + " (repeats logged at DEBUG)", *args)

    def _recovered(self, what: object, message: str, *args: object) -> None:
        if self._failing and id(what) in self._failing:
            self._failing.discard(id(what))
            log.info(message, *args)

    # ------------------------------------------------------------------ as a source

    def metrics(self) -> Iterator[Metric]:
        yield histogram("alluse_collector_tick_seconds", "Wall time of one collection tick", self.tick_time)
        yield counter("alluse_collector_samples_total", "Samples produced", self.samples_total)
        yield counter("alluse_collector_source_errors_total", "Sources or readings skipped", self.source_errors)
        yield counter("alluse_collector_hook_errors_total", "Sample or value hooks that raised", self.hook_errors)
        yield counter(
            "alluse_collector_missed_ticks_total", "Ticks skipped because the loop was late", self.missed_ticks
        )
        if self.loop_lag_s is not None:
            yield gauge(SERIES_EVENT_LOOP_LAG, "How late the collector's last tick fired", self.loop_lag_s)
        yield gauge("alluse_build_info", "The running build: version, and the order path compiled or not", 1,
                    version=_VERSION, build=self._build)  # fmt: skip

    # ------------------------------------------------------------------ on the loop

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """First tick at once (it sets the baseline for rates), then every interval after it."""
        if self._handle is not None:
            raise RuntimeError("collector already started")
        self._loop = loop
        self._due = loop.time()
        self._handle = loop.call_at(self._due, self._on_timer)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    @property
    def running(self) -> bool:
        return self._handle is not None

    def _on_timer(self) -> None:
        loop = self._loop
        assert loop is not None
        self.loop_lag_s = max(0.0, loop.time() - self._due)
        try:
            self.collect_once(self._wall_ns())
        except Exception:  # sources and hooks are guarded; this keeps the schedule alive through a bug
            log.exception("collector tick failed")
        # drift-free: due times stay on the grid start + k * interval; ticks that could not fire in
        # time are skipped (and counted), not run back to back
        due = self._due + self.interval_s
        late = loop.time() - due
        if late >= 0:
            skipped = int(late // self.interval_s) + 1
            self.missed_ticks += skipped
            due += skipped * self.interval_s
        self._due = due
        self._handle = loop.call_at(due, self._on_timer)
