"""MD-1 and MD-2: the market-data path, feed -> validation -> cache -> one subscriber per instrument.

MD-1 is throughput: a million quotes over 500 instruments (50 stocks + 450 options), generated
before the clock starts, pushed as fast as the engine takes them, once in feed batches
(`on_quotes`, what feeds do) and once a call per quote.

MD-2 is latency at a steady 100,000 quotes/s, measured so that it is free of coordinated
omission: quote k is due at t0 + k/rate whatever happened before it, is stamped with its due
time, and the subscriber records now - due. A feed loop that falls behind (a slow quote, a
descheduled process) therefore charges the wait to every quote queued behind it, as a real
feed's backlog would, instead of quietly starting the next quote's clock late.

The same paced loop also runs with the subscriber called directly, no engine between them: the
floor this machine puts under any paced Python loop (its scheduler and hypervisor pauses show
there as they do in the engine's run). Its percentiles are reported beside the engine's, from the
same run, so the engine's own share is visible.

Python's cyclic GC stays on in MD-2, as in the trading process: the paced loop allocates no
container that outlives its call (the engine's one-quote tuple dies at once), so the collector
has nothing to do there; each run logs how many collections happened during it, to keep that
claim checked.
"""

from __future__ import annotations

import gc
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from time import perf_counter_ns

import numpy as np

from alluse.bench.figures import OPTIMISED, Figure
from alluse.common.clock import NS, LiveClock, TestClock
from alluse.marketdata import DataEngine, QuoteCache
from alluse.model import Equity, Option, Quote, Right
from alluse.model.registry import InstrumentRegistry

log = logging.getLogger("alluse.bench.md")

N_STOCKS = 50
OPTIONS_PER_STOCK = 9
FEED_BATCH = 500  # quotes per feed delivery on the batch path
MD1_QUOTES, MD1_QUICK = 1_000_000, 200_000
MD2_QUOTES, MD2_QUICK = 1_000_000, 100_000
MD2_RATE = 100_000.0  # quotes/s
BEHIND_NS = 10_000  # a quote handed over later than this after its due time counts as behind schedule
LEAD_NS = 1_000_000  # the schedule starts this long after set-up, so quote 0 is not late by construction
PER_QUOTE = "feed: one call per quote"


def build_registry() -> InstrumentRegistry:
    registry = InstrumentRegistry()
    expiries = (date(2026, 1, 16), date(2026, 2, 20), date(2026, 3, 20))
    for s in range(N_STOCKS):
        ticker = f"S{s:03d}"
        registry.add(Equity(ticker))
        for k in range(OPTIONS_PER_STOCK):
            right = Right.PUT if k % 2 else Right.CALL
            registry.add(Option(ticker, expiries[k % 3], Decimal(90 + 5 * k), right))
    return registry


def generate_quotes(ids: list[str], n: int, seed: int = 1) -> list[Quote]:
    """Valid quotes cycling over `ids`, 1 us apart: everything the engine sees is accepted."""
    rng = random.Random(seed)
    base = {iid: (100.0 if len(iid) <= 6 else 5.0) + rng.random() for iid in ids}
    quotes = []
    ts = 1_700_000_000 * NS
    for i in range(n):
        iid = ids[i % len(ids)]
        bid = round(base[iid] + rng.uniform(-0.5, 0.5), 2)
        quotes.append(
            Quote(iid, bid, round(bid + 0.01 * rng.randint(1, 5), 2), rng.randint(1, 50), rng.randint(1, 50), ts, ts)
        )
        ts += 1_000
    return quotes


class Counter:
    """MD-1's subscriber: the least a handler can do, so the figure is the engine's cost."""

    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, quote: Quote) -> None:
        self.n += 1


@dataclass(slots=True)
class Md1Run:
    seconds: float
    engine: DataEngine
    delivered: int


def run_once(
    registry: InstrumentRegistry, quotes: list[Quote], batch: int, per_quote: bool, instrument: bool = True
) -> Md1Run:
    """One timed pass on a fresh engine and cache (the engine remembers the last timestamp per
    instrument); `instrument` switches the sampled feed-latency measurement (MON-1 compares both)."""
    clock = TestClock(quotes[0].ts_recv)
    cache = QuoteCache(clock, ttl_ns=5 * NS, option_capacity=450, is_option=registry.is_option)
    engine = DataEngine(registry, cache, clock, instrument=instrument)
    counters = []
    for item in registry:
        counter = Counter()
        counters.append(counter)
        engine.subscribe(item.id, counter)
    if per_quote:
        on_quote = engine.on_quote
        t0 = perf_counter_ns()
        for q in quotes:
            on_quote(q)
        elapsed = perf_counter_ns() - t0
    else:
        batches = [quotes[i : i + batch] for i in range(0, len(quotes), batch)]
        on_quotes = engine.on_quotes
        t0 = perf_counter_ns()
        for b in batches:
            on_quotes(b)
        elapsed = perf_counter_ns() - t0
    return Md1Run(elapsed / 1e9, engine, sum(c.n for c in counters))


def check_delivery(run: Md1Run, n: int) -> None:
    """Every quote accepted and delivered once: a figure from a run that lost quotes would flatter."""
    if not run.delivered == run.engine.accepted == n:
        raise RuntimeError(f"MD-1: {n} quotes in, {run.engine.accepted} accepted, {run.delivered} delivered")


def md1_figures(quick: bool, *, n: int | None = None) -> list[Figure]:
    n = n or (MD1_QUICK if quick else MD1_QUOTES)
    registry = build_registry()
    quotes = generate_quotes([i.id for i in registry], n)
    figures = []
    for variant, per_quote in ((OPTIMISED, False), (PER_QUOTE, True)):
        run = run_once(registry, quotes, FEED_BATCH, per_quote)
        check_delivery(run, n)
        figures.append(Figure("MD-1", "throughput", n / run.seconds, "quotes/s", variant, higher_is_better=True))
        figures.append(Figure("MD-1", "ns per quote", run.seconds * 1e9 / n, "ns", variant))
    return figures


# ---------------------------------------------------------------------------- MD-2


class LatencyRecorder:
    """MD-2's subscriber: one clock read and one array store per quote, nothing else on the path.

    Quotes carry their due time on the engine's clock; `offset` (engine clock - perf_counter, read
    once) turns it back into perf_counter time, so the entry is exactly perf_counter_ns() - due."""

    __slots__ = ("latency_ns", "n", "offset")

    def __init__(self, capacity: int, offset: int) -> None:
        self.latency_ns = np.full(capacity, -1, dtype=np.int64)  # written now: no page faults mid-run
        self.n = 0
        self.offset = offset

    def __call__(self, quote: Quote) -> None:
        self.latency_ns[self.n] = perf_counter_ns() + self.offset - quote.ts_recv
        self.n += 1


@dataclass(slots=True)
class Md2Run:
    latency_ns: np.ndarray  # one entry per delivered quote, in delivery order
    seconds: float  # from the first due time to the last quote delivered
    behind: int  # quotes handed over more than BEHIND_NS after they were due
    gc_collections: int  # cyclic GC runs during the timed loop


def paced_run(registry: InstrumentRegistry, quotes: list[Quote], rate: float, *, engine: bool = True) -> Md2Run:
    """Feed `quotes` one `on_quote` call each, quote k at t0 + k/rate, on a live-clock engine (or, with
    `engine=False`, straight to the subscriber: the floor).

    The engine runs on a LiveClock, as in production, and each quote is stamped (ts_event and
    ts_recv) with its due time on that clock, so validation orders and ages quotes against the
    same time base it would live. The loop busy-waits: a sleep's wake-up jitter would be the figure."""
    clock = LiveClock()
    offset = clock.now_ns() - perf_counter_ns()
    recorder = LatencyRecorder(len(quotes), offset)
    data_engine = None
    on_quote: Callable[[Quote], None] = recorder
    if engine:
        cache = QuoteCache(clock, ttl_ns=5 * NS, option_capacity=450, is_option=registry.is_option)
        data_engine = DataEngine(registry, cache, clock)
        for item in registry:
            data_engine.subscribe(item.id, recorder)
        on_quote = data_engine.on_quote
    due_after_t0 = (np.arange(len(quotes), dtype=np.float64) * (NS / rate)).astype(np.int64).tolist()
    behind = 0
    collections = sum(s["collections"] for s in gc.get_stats())
    t0 = perf_counter_ns() + LEAD_NS
    for q, rel in zip(quotes, due_after_t0, strict=True):
        due = t0 + rel
        now = perf_counter_ns()
        while now < due:
            now = perf_counter_ns()
        if now - due > BEHIND_NS:
            behind += 1
        q.ts_event = q.ts_recv = due + offset
        on_quote(q)
    end = perf_counter_ns()
    collections = sum(s["collections"] for s in gc.get_stats()) - collections
    accepted = len(quotes) if data_engine is None else data_engine.accepted
    if recorder.n != len(quotes) or accepted != len(quotes):
        raise RuntimeError(f"MD-2: {len(quotes)} quotes in, {accepted} accepted, {recorder.n} delivered")
    log.info("MD-2: %d quotes at %.0f/s, %d GC collections during the run", len(quotes), rate, collections)
    return Md2Run(recorder.latency_ns, (end - t0) / 1e9, behind, collections)


def md2_figures(quick: bool, *, n: int | None = None, rate: float = MD2_RATE) -> list[Figure]:
    n = n or (MD2_QUICK if quick else MD2_QUOTES)
    if not rate > 0:
        raise ValueError(f"rate={rate!r}: must be a positive number of quotes per second")
    registry = build_registry()
    quotes = generate_quotes([i.id for i in registry], n)
    floor = paced_run(registry, quotes, rate, engine=False)
    run = paced_run(registry, quotes, rate)
    p50, p99, p999 = np.percentile(run.latency_ns, [50, 99, 99.9]) / 1e3
    f50, f99, f999 = np.percentile(floor.latency_ns, [50, 99, 99.9]) / 1e3
    return [
        Figure("MD-2", "latency p50", float(p50), "us"),
        Figure("MD-2", "latency p99", float(p99), "us"),
        Figure("MD-2", "latency p99.9", float(p999), "us"),
        Figure("MD-2", "achieved rate", n / run.seconds, "quotes/s", higher_is_better=True),
        Figure("MD-2", "behind schedule", 100 * run.behind / n, "%"),
        Figure("MD-2", "floor p50 (the paced loop, no engine)", float(f50), "us"),
        Figure("MD-2", "floor p99 (the paced loop, no engine)", float(f99), "us"),
        Figure("MD-2", "floor p99.9 (the paced loop, no engine)", float(f999), "us"),
    ]
