"""MON-1: what monitoring costs the trading process.

- instrumentation overhead: MD-1 (batch path) with the engine's sampled feed-latency
  measurement on and off, fresh engine per pass, on and off interleaved so drift in the machine
  hits both alike; overhead = median on / median off - 1.
- collector CPU: the collector over the real components (engine, cache, order manager, risk,
  paper venue, ledger, valuation, resources) plus synthetic per-instrument counters and
  histograms up to about 500 series, all moving every tick so rates and percentiles are really
  computed; the share of a core at the configured interval is mean tick time / interval.
- store write rate: 500 series x N ticks (one batch per tick, the collector's shape) through
  `MetricsStore.submit` and `flush`, the store built from `[monitoring]` as the service builds
  it: the default (queued ticks gathered into one transaction) against store_batch_max = 1.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter_ns

from alluse.bench.core import TradingCore, build_core
from alluse.bench.figures import OPTIMISED, Figure
from alluse.bench.md import FEED_BATCH, MD1_QUICK, MD1_QUOTES, build_registry, check_delivery, generate_quotes, run_once
from alluse.common.clock import NS
from alluse.common.metrics import LatencyHistogram, Metric, MetricSource, Sample, counter, histogram
from alluse.marketdata import DataEngine
from alluse.model import Quote
from alluse.model.registry import InstrumentRegistry
from alluse.monitoring.collector import Collector, series_of
from alluse.monitoring.config import MonitoringConfig
from alluse.monitoring.resources import ResourceSampler
from alluse.monitoring.store import MetricsStore
from alluse.portfolio.valuation import LedgerValuation

log = logging.getLogger("alluse.bench.mon1")

OVERHEAD_REPEATS, OVERHEAD_QUICK_REPEATS = 7, 7  # passes per mode
COLLECTOR_SERIES = 500
COLLECTOR_HISTOGRAMS = 30  # synthetic latency histograms; synthetic counters make up the rest
COLLECTOR_TICKS, COLLECTOR_QUICK_TICKS = 300, 20
WARM_TICKS = 2  # untimed: rates need one earlier reading, percentiles two
STORE_SERIES = 500
STORE_TICKS, STORE_QUICK_TICKS = 600, 60  # 10 minutes / 1 minute at 1 Hz
T0 = 1_700_000_000 * NS
PER_SAMPLE = "metric writes: a transaction per sample"

# ---------------------------------------------------------------------------- instrumentation overhead


@dataclass(slots=True)
class OverheadRun:
    off_ns: float  # median ns per quote, sampling off
    on_ns: float  # median ns per quote, sampling on
    engine_on: DataEngine  # the last instrumented engine: its feed-latency histogram

    @property
    def overhead_pct(self) -> float:
        return (self.on_ns / self.off_ns - 1) * 100


def instrumentation_overhead(
    registry: InstrumentRegistry, quotes: list[Quote], repeats: int, per_quote: bool, batch: int = FEED_BATCH
) -> OverheadRun:
    if repeats < 1:
        raise ValueError(f"repeats={repeats!r}: must be at least 1")
    times: dict[bool, list[float]] = {True: [], False: []}
    engine_on = None
    for r in range(repeats):
        for mode in (True, False) if r % 2 else (False, True):
            run = run_once(registry, quotes, batch, per_quote, mode)
            check_delivery(run, len(quotes))
            times[mode].append(run.seconds * 1e9 / len(quotes))
            if mode:
                engine_on = run.engine
    return OverheadRun(statistics.median(times[False]), statistics.median(times[True]), engine_on)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- the collector


class Synthetic:
    """Per-instrument counters and latency histograms that move every tick, to make up the series count."""

    def __init__(self, counters: int, histograms: int) -> None:
        self.values = [0] * counters
        self.hists = [LatencyHistogram() for _ in range(histograms)]
        self.labels = [f"S{i:03d}" for i in range(max(counters, histograms))]

    def advance(self, tick: int) -> None:
        for i in range(len(self.values)):
            self.values[i] += 1 + (i + tick) % 7
        for i, h in enumerate(self.hists):
            for k in range(20):
                h.observe(1_000 * (1 + (i * 31 + k * 17 + tick) % 5_000))

    def metrics(self) -> Iterator[Metric]:
        for label, v in zip(self.labels, self.values, strict=False):
            yield counter("bench_events_total", "synthetic", v, instrument=label)
        for label, h in zip(self.labels, self.hists, strict=False):
            yield histogram("bench_latency_seconds", "synthetic", h, instrument=label)


@dataclass(slots=True)
class CollectorBench:
    """A collector over a live trading core; `tick` moves the synthetic load and collects once."""

    collector: Collector
    synthetic: Synthetic
    core: TradingCore
    series: list[int]  # samples handed to the store hook, per tick
    wall_ns: int = 1_800_000_000 * NS
    ticks: int = 0

    def tick(self) -> int:
        """One collection a second of wall time after the last; returns its duration in ns."""
        self.synthetic.advance(self.ticks)
        self.ticks += 1
        self.wall_ns += NS
        t0 = perf_counter_ns()
        self.collector.collect_once(self.wall_ns)
        return perf_counter_ns() - t0

    def close(self) -> None:
        self.core.close()


def collector_bench(data_dir: Path, series: int = COLLECTOR_SERIES) -> CollectorBench:
    """The real components with a little activity, so every series they report is present, plus
    synthetic counters (two series each: value and rate) to bring the total to about `series`."""
    core = build_core(data_dir)
    engine = DataEngine(core.registry, core.cache, core.clock)
    engine.on_quotes(generate_quotes(core.symbols, 5_000))
    core.quote_all()  # the generated quotes are old: fresh ones, so marks and fills have prices
    for k in range(3):
        core.oms.submit(core.order(k))
    core.settle()
    sources: list[MetricSource] = [engine, core.cache, core.oms, core.risk, core.venue, core.ledger]
    sources.append(LedgerValuation(core.ledger, core.cache.fresh_mid))
    resources = ResourceSampler(data_dir)
    real = sum(len(series_of(m)) for source in (*sources, resources) for m in source.metrics())
    histogram_series = COLLECTOR_HISTOGRAMS * len(series_of(histogram("h", "", LatencyHistogram())))
    synthetic = Synthetic(max(0, (series - real - histogram_series) // 2), COLLECTOR_HISTOGRAMS)
    series_seen: list[int] = []
    collector = Collector(
        [*sources, synthetic],
        resources=resources,
        on_samples=lambda samples: series_seen.append(len(samples)),  # stands in for the store's submit
        on_values=lambda values, now: None,
        loss_limit_used=lambda: 0.1,
    )
    return CollectorBench(collector, synthetic, core, series_seen)


def collector_tick_ns(ticks: int) -> tuple[list[int], int]:
    """(ns per timed tick, series per tick) of `ticks` collections back to back, after WARM_TICKS."""
    with tempfile.TemporaryDirectory() as tmp:
        bench = collector_bench(Path(tmp))
        try:
            for _ in range(WARM_TICKS):
                bench.tick()
            tick_ns = [bench.tick() for _ in range(ticks)]
        finally:
            bench.close()
    return tick_ns, bench.series[-1]


# ---------------------------------------------------------------------------- the store


def tick_samples(n_series: int, seconds: int) -> list[Sample]:
    """Tick-major: every series at second 0, then every series at second 1, ..."""
    names = [f'alluse_bench_value{{series="{i:03d}"}}' for i in range(n_series)]
    return [Sample(name, T0 + t * NS, float((i * 7 + t) % 101)) for t in range(seconds) for i, name in enumerate(names)]


def batches_of(samples: list[Sample], size: int) -> list[list[Sample]]:
    return [samples[i : i + size] for i in range(0, len(samples), size)]


@dataclass(slots=True)
class StoreRun:
    samples_per_s: float  # first submit to flush returning
    submit_us: float  # mean caller cost of one submit while the writer is busy


def run_store(path: Path, chunks: list[list[Sample]], batch_max: int) -> StoreRun:
    """Submit every chunk, then flush. The queue holds the whole run, so nothing is dropped: this
    measures the writer, not the queue bound (at 1 Hz the queue is never near full). The store's
    clock stays at T0, so no fold runs in the middle."""
    store = MetricsStore(path, queue_max=len(chunks) + 1, batch_max=batch_max, clock_ns=lambda: T0)
    n = sum(map(len, chunks))
    submit_ns = 0
    t0 = perf_counter_ns()
    for chunk in chunks:
        s0 = perf_counter_ns()
        store.submit(chunk)
        submit_ns += perf_counter_ns() - s0
    if not store.flush(timeout_s=600):
        raise RuntimeError("metrics store flush timed out")
    elapsed = perf_counter_ns() - t0
    store.close()
    if store.written_samples != n or store.dropped_samples or store.write_errors:
        raise RuntimeError(
            f"written {store.written_samples} of {n}, dropped {store.dropped_samples}, errors {store.write_errors}"
        )
    return StoreRun(n * NS / elapsed, submit_ns / len(chunks) / 1e3)


# ---------------------------------------------------------------------------- figures


def mon1_figures(
    quick: bool,
    *,
    quotes: int | None = None,
    repeats: int | None = None,
    ticks: int | None = None,
    store_ticks: int | None = None,
) -> list[Figure]:
    quotes = quotes or (MD1_QUICK if quick else MD1_QUOTES)
    repeats = repeats or (OVERHEAD_QUICK_REPEATS if quick else OVERHEAD_REPEATS)
    ticks = ticks or (COLLECTOR_QUICK_TICKS if quick else COLLECTOR_TICKS)
    store_ticks = store_ticks or (STORE_QUICK_TICKS if quick else STORE_TICKS)
    default = MonitoringConfig()

    registry = build_registry()
    overhead = instrumentation_overhead(registry, generate_quotes([i.id for i in registry], quotes), repeats, False)
    figures = [Figure("MON-1", "instrumentation overhead", overhead.overhead_pct, "%")]

    tick_ns, series = collector_tick_ns(ticks)
    share = statistics.fmean(tick_ns) / (default.interval_s * NS) * 100
    log.info("MON-1 collector: %d series per tick, %d ticks", series, ticks)
    figures.append(Figure("MON-1", "collector CPU", share, "% of a core"))

    chunks = batches_of(tick_samples(STORE_SERIES, store_ticks), STORE_SERIES)
    with tempfile.TemporaryDirectory() as tmp:
        for i, (variant, config) in enumerate(
            ((OPTIMISED, default), (PER_SAMPLE, MonitoringConfig(store_batch_max=1)))
        ):
            run = run_store(Path(tmp) / f"metrics{i}.db", chunks, config.store_batch_max)
            figures.append(Figure("MON-1", "store write rate", run.samples_per_s, "samples/s", variant, True))
    return figures
