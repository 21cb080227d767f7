"""The collector: once an interval it reads every metric source and turns readings into samples.

- a gauge is stored as read;
- a counter is stored cumulative, plus `:rate` (per second since the series' previous reading);
- a histogram gives `:rate` (observations per second since its previous reading) and `:p50`, `:p90`,
  `:p99` (seconds) over the observations of the last `window_s`, once there were `min_observations`.

Rates of events are over a sliding window of events, not over one tick: at a few orders a second most
ticks see none, and a percentile or a ratio of one tick's two orders is noise an alert's `for` could
never be met on. Below the minimum count a windowed series has no value ("insufficient data"), never
0: a percentile of nothing is not fast, and a quiet minute is no evidence of health. The ratios
(error, fill) are computed from the window's counter increments; a series' first reading has no
previous one, so it gives no rate and no percentiles (nor does a histogram whose buckets changed). A
counter or histogram that went down was reset (a component rebuilt): it counts from 0 again, as
Prometheus' rate does. Everything is in wall time (the collector watches the process), except
component latencies the components document otherwise.

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
SERIES_FILL_RATIO = series.FILL_RATIO
SERIES_STALE_QUOTE_RATIO = series.STALE_QUOTE_RATIO
SERIES_CACHE_HIT_RATIO = series.CACHE_HIT_RATIO
SERIES_QUOTE_AGE = series.QUOTE_AGE_SECONDS
SERIES_DAILY_LOSS_USED = series.DAILY_LOSS_LIMIT_USED_RATIO
SERIES_EVENT_LOOP_LAG = series.EVENT_LOOP_LAG_SECONDS

# component series the derived ones are computed from (names the components' metrics() produce)
ORDERS_SENT = 'alluse_orders_total{event="submitted"}'
ORDERS_REJECTED = 'alluse_orders_total{event="rejected"}'  # venue rejects and permanent failures
ORDERS_FILLED = 'alluse_orders_total{event="filled"}'
# how orders end once sent (a denied order never reached the venue: not part of the fill ratio)
ORDERS_ENDED = (ORDERS_FILLED, ORDERS_REJECTED, 'alluse_orders_total{event="cancelled"}',
                'alluse_orders_total{event="expired"}')  # fmt: skip
QUOTES_ACCEPTED = 'alluse_quotes_total{outcome="accepted"}'
CACHE_HITS = "alluse_quote_cache_hits_total"
CACHE_MISSES = "alluse_quote_cache_misses_total"
CACHE_STALE_READS = "alluse_quote_cache_stale_reads_total"

PERCENTILES: tuple[tuple[float, str], ...] = ((0.5, "p50"), (0.9, "p90"), (0.99, "p99"))

# hooks called after each tick; what they return is not used
SampleSink = Callable[[list[Sample]], object]
ValueSink = Callable[[dict[str, float], int], object]


_EXPORTED_HELP = {
    SERIES_QUOTE_AGE: "Wall seconds since the last accepted quote, at the collector's last tick",
    SERIES_DAILY_LOSS_USED: "Today's loss as a share of the daily loss limit, worst account",
}

# Series the collector computes from several readings, whatever the sources are.
DERIVED_SERIES = (
    SERIES_TRADING_ERROR_RATIO,
    SERIES_FILL_RATIO,
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
        window_s: float = 60.0,
        min_orders: int = 10,
        min_observations: int = 20,
    ) -> None:
        """Ratios of orders and latency percentiles are over the last `window_s` of wall time, once it holds at
        least `min_orders` orders (`min_observations` observations); fewer gives no value (module docstring)."""
        if isinstance(interval_s, bool) or not isinstance(interval_s, int | float) or not 0 < interval_s < math.inf:
            raise InvalidInput("interval_s", interval_s, "must be a positive number of seconds")
        if isinstance(window_s, bool) or not isinstance(window_s, int | float) or not interval_s <= window_s < math.inf:
            raise InvalidInput("window_s", window_s, f"must be a number of seconds >= interval_s ({interval_s})")
        self.interval_s = float(interval_s)
        self._sources: list[MetricSource] = [*sources, *(() if resources is None else (resources,)), self]
        self._wall_ns = wall_ns
        self._on_samples = on_samples
        self._on_values = on_values
        self._loss_limit_used = loss_limit_used
        self._counters: dict[str, tuple[float, int]] = {}  # series -> (last value, when read)
        self._histograms: dict[str, deque[tuple[HistogramSnapshot, int]]] = {}  # readings back to the window's start
        self._names: dict[tuple[str, str], str] = {}  # (series, suffix) -> derived series name
        self._window_ns = round(window_s * NS_PER_S)
        self._min_orders = min_orders
        self._min_observations = min_observations
        self._order_window: deque[tuple[int, dict[str, float]]] = deque()  # (when, order counter increments) per tick
        self._quote_count: float | None = None
        self._exported: dict[str, float] = {}  # derived gauges /metrics shows, as of the last tick
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
        readings = self._histograms.get(series)
        if readings is None:
            self._histograms[series] = deque([(snap, now)])
            return
        earlier, then = readings[-1]
        if now <= then:
            return
        if earlier.bounds_ns != snap.bounds_ns:  # new buckets: a new baseline
            readings.clear()
            readings.append((snap, now))
            return
        if snap.count < earlier.count:  # reset: it counts from 0 since the last reading
            earlier = HistogramSnapshot(snap.bounds_ns, (0,) * len(snap.counts), 0, 0)
            readings.clear()
            readings.append((earlier, then))
        out.append(Sample(self._name(series, "rate"), now, (snap.count - earlier.count) * NS_PER_S / (now - then)))
        readings.append((snap, now))
        start = now - self._window_ns
        while len(readings) > 2 and readings[1][1] <= start:  # keep the newest reading at or before the start
            readings.popleft()
        window = snap.minus(readings[0][0])
        if window.count < self._min_observations:
            return
        for q, suffix in PERCENTILES:
            estimate_ns = window.percentile_ns(q)
            if estimate_ns is not None:
                out.append(Sample(self._name(series, suffix), now, estimate_ns / NS_PER_S))

    def _name(self, series: str, suffix: str) -> str:
        key = (series, suffix)
        name = self._names.get(key)
        if name is None:
            name = self._names[key] = derived(series, suffix)
        return name

    def _order_ratios(self, now: int, increments: dict[str, float]) -> tuple[float | None, float | None]:
        """(error ratio: rejected / sent, fill ratio: filled / ended) over the window, each None below
        `min_orders`: a second with sends and no reject is not a 0 % the `for` of a rule can be met on."""
        window = self._order_window
        ticked = {k: increments[k] for k in (ORDERS_SENT, *ORDERS_ENDED) if k in increments}
        if ticked:
            window.append((now, ticked))
        while window and window[0][0] <= now - self._window_ns:
            window.popleft()
        total = dict.fromkeys((ORDERS_SENT, *ORDERS_ENDED), 0.0)
        for _, counts in window:
            for k, v in counts.items():
                total[k] += v
        sent, ended = total[ORDERS_SENT], sum(total[k] for k in ORDERS_ENDED)
        # a rejection may belong to an order sent before the window: a share cannot pass 1
        error = min(1.0, total[ORDERS_REJECTED] / sent) if sent >= self._min_orders else None
        fill = total[ORDERS_FILLED] / ended if ended >= self._min_orders else None
        return error, fill

    def _derive(self, now: int, out: list[Sample], increments: dict[str, float]) -> None:
        error, fill = self._order_ratios(now, increments)
        if error is not None:
            out.append(Sample(SERIES_TRADING_ERROR_RATIO, now, error))
        if fill is not None:
            out.append(Sample(SERIES_FILL_RATIO, now, fill))
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
            age = (now - self._quote_seen_ns) / NS_PER_S
            out.append(Sample(SERIES_QUOTE_AGE, now, age))
            self._exported[SERIES_QUOTE_AGE] = age
        if self._loss_limit_used is not None:
            try:
                used = self._loss_limit_used()
            except Exception:
                self._failed(self._loss_limit_used, "daily loss limit reading failed")
            else:
                self._recovered(self._loss_limit_used, "daily loss limit reading works again")
                if used is not None and math.isfinite(used):
                    out.append(Sample(SERIES_DAILY_LOSS_USED, now, float(used)))
                    self._exported[SERIES_DAILY_LOSS_USED] = float(used)
                else:
                    self._exported.pop(SERIES_DAILY_LOSS_USED, None)

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
        yield counter(series.COLLECTOR_SAMPLES_TOTAL, "Samples produced", self.samples_total)
        yield counter("alluse_collector_source_errors_total", "Sources or readings skipped", self.source_errors)
        yield counter("alluse_collector_hook_errors_total", "Sample or value hooks that raised", self.hook_errors)
        yield counter(
            "alluse_collector_missed_ticks_total", "Ticks skipped because the loop was late", self.missed_ticks
        )
        if self.loop_lag_s is not None:
            yield gauge(SERIES_EVENT_LOOP_LAG, "How late the collector's last tick fired", self.loop_lag_s)
        yield gauge("alluse_build_info", "The running build: version, and the order path compiled or not", 1,
                    version=_VERSION, build=self._build)  # fmt: skip

    def derived_readings(self) -> Iterator[Metric]:
        """The derived gauges as of the last tick, for /metrics. (Not in `metrics()`: that is collected as a
        source each tick, and would store these series twice. The ratios are not here: Prometheus computes
        them from the counters over its own window.)"""
        for name, value in self._exported.items():
            yield gauge(name, _EXPORTED_HELP[name], value)

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
