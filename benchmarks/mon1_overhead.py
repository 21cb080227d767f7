"""MON-1 (instrumentation and collector): what monitoring costs the trading process.

1. MD-1 with the engine's sampled feed-latency instrumentation on vs off, in the same run: the
   MD-1 workload (imported from md1_market_data.py), fresh engine per repeat, on and off
   interleaved so drift hits both alike; median ns/quote per mode, overhead = on/off - 1.
   Both the batch path and the one-by-one path. Target: at most 5%.
2. The collector at about 500 series: the real components (engine, cache, order manager, risk,
   paper venue, ledger, ledger valuation, resources) plus synthetic per-instrument counters and
   histograms to reach the size; every tick the counters move and the histograms observe, so the
   rates and percentiles are really computed. Tick time p50/p99/mean over many ticks, CPU share
   at 1 Hz = mean tick / 1 s; then a live run on the asyncio loop at 1 Hz whose process CPU time
   is measured directly. Target: under 2% of one core.

    python benchmarks/mon1_overhead.py [--quotes N] [--repeats R] [--ticks T] [--live-seconds S]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from alluse.brokers import PaperVenue
from alluse.bus import MessageBus
from alluse.clock import NS, TestClock
from alluse.execution.journal import Journal
from alluse.execution.oms import OrderManager
from alluse.marketdata import DataEngine, QuoteCache
from alluse.model import Order, OrderType, Side
from alluse.monitoring.collector import Collector, LedgerValuation
from alluse.monitoring.metrics import LatencyHistogram, counter, histogram
from alluse.monitoring.resources import ResourceSampler
from alluse.portfolio import ExecutionQuality, Ledger
from alluse.risk import RiskContext, RiskGate
from md1_market_data import build_registry, generate_quotes, run_once

# ---------------------------------------------------------------------------- 1. MD-1 on vs off


def md1_overhead(quotes_n: int, repeats: int, batch: int) -> list[float]:
    registry = build_registry()
    quotes = generate_quotes([i.id for i in registry], quotes_n)
    print(f"1. MD-1 ({quotes_n:,} quotes, 500 instruments), feed-latency sampling on vs off, median of {repeats} each")
    print(f"   {'path':<24}{'off ns/q':>10}{'on ns/q':>10}{'overhead':>10}{'timed':>9}{'p50 us':>9}{'p99 us':>9}")
    overheads = []
    for label, per_quote in ((f"on_quotes (batch {batch})", False), ("on_quote (one by one)", True)):
        times: dict[bool, list[float]] = {True: [], False: []}
        engine_on = None
        for r in range(repeats):
            for mode in (True, False) if r % 2 else (False, True):
                seconds, engine, delivered = run_once(registry, quotes, batch, per_quote, mode)
                assert delivered == engine.accepted == len(quotes)
                ns = seconds * 1e9 / len(quotes)
                times[mode].append(ns)
                if mode:
                    engine_on = engine
        off, on = statistics.median(times[False]), statistics.median(times[True])
        overhead = (on / off - 1) * 100
        overheads.append(overhead)
        snap = engine_on.feed_latency.snapshot()
        p50, p99 = snap.percentile_ns(0.5) / 1e3, snap.percentile_ns(0.99) / 1e3
        print(f"   {label:<24}{off:>10.0f}{on:>10.0f}{overhead:>9.1f}%{snap.count:>9,}{p50:>9.1f}{p99:>9.1f}")
    return overheads


# ---------------------------------------------------------------------------- 2. the collector


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

    def metrics(self):
        for label, v in zip(self.labels, self.values, strict=False):
            yield counter("bench_events_total", "synthetic", v, instrument=label)
        for label, h in zip(self.labels, self.hists, strict=False):
            yield histogram("bench_latency_seconds", "synthetic", h, instrument=label)


def trading_components(data_dir: Path):
    """The real components with a little activity, so every series they report is present."""
    registry = build_registry()
    clock = TestClock(1_700_000_000 * NS)
    cache = QuoteCache(clock, ttl_ns=5 * NS, option_capacity=450, is_option=registry.is_option)
    engine = DataEngine(registry, cache, clock)
    engine.on_quotes(generate_quotes([i.id for i in registry], 5_000))
    venue = PaperVenue(clock, registry, cache.fresh_view())
    accounts = ["Gen-Acc", "Rev-Acc", "Com-Acc"]
    for a in accounts:
        venue.load_account(a, Decimal(1_000_000), {})
    ledger = Ledger(lambda iid: registry.require(iid).multiplier)

    mid_of = cache.fresh_mid
    holder: list[OrderManager] = []
    risk = RiskGate(RiskContext(clock, registry, ledger, mid_of, lambda: holder[0].open_orders()))
    oms = OrderManager(
        clock=clock,
        bus=MessageBus(),
        registry=registry,
        journal=Journal(data_dir / "journal.db"),
        broker=venue,
        risk=risk,
        ledger=ledger,
        quality=ExecutionQuality(),
        mid_of=mid_of,
        accounts=accounts,
    )
    holder.append(oms)
    oms.recover({a: Decimal(1_000_000) for a in accounts})
    for a in accounts:
        oms.submit(Order(oms.next_client_order_id(), a, "S000", Side.BUY, 10, order_type=OrderType.MARKET))
    clock.advance(NS)
    return [engine, cache, oms, risk, venue, ledger, LedgerValuation(ledger, mid_of)], ResourceSampler(data_dir)


def collector_cost(ticks: int, live_seconds: float) -> tuple[int, float]:
    """Returns (series per tick, CPU % of one core at 1 Hz: the live process figure when measured)."""
    with tempfile.TemporaryDirectory() as tmp:
        sources, resources = trading_components(Path(tmp))
        synthetic = Synthetic(counters=170, histograms=30)
        stored: list[int] = []
        c = Collector(
            [*sources, synthetic],
            resources=resources,
            on_samples=lambda samples: stored.append(len(samples)),  # stands in for the store's non-blocking submit
            on_values=lambda values, now: None,
            loss_limit_used=lambda: 0.1,
        )
        wall = 1_800_000_000 * NS
        tick_ns: list[int] = []
        for t in range(ticks):
            synthetic.advance(t)
            wall += NS
            t0 = time.perf_counter_ns()
            c.collect_once(wall)
            tick_ns.append(time.perf_counter_ns() - t0)
        series = stored[-1]
        tick_ns.sort()
        p50, p99, mean = tick_ns[len(tick_ns) // 2], tick_ns[int(len(tick_ns) * 0.99)], statistics.fmean(tick_ns)
        print(f"2. collector: {series} series per tick ({len(c._sources)} sources incl. resources and itself)")
        print(f"   back to back, {ticks} ticks: p50/p99/mean {p50 / 1e3:,.0f}/{p99 / 1e3:,.0f}/{mean / 1e3:,.0f} us")
        share = mean / 1e9 * 100
        print(f"   CPU share at 1 Hz (mean tick / 1 s): {share:.3f}% of one core")
        if live_seconds <= 0:
            return series, share
        return series, asyncio.run(live_run(c, synthetic, live_seconds))


async def live_run(c: Collector, synthetic: Synthetic, seconds: float) -> float:
    """The collector at 1 Hz on an otherwise idle loop, the synthetic load moving half a second off its
    ticks. Process CPU / wall time is an upper bound: it also holds the loop and the load generator."""
    loop = asyncio.get_running_loop()
    c.interval_s = 1.0
    before = c.tick_time.snapshot()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    c.start(loop)
    await asyncio.sleep(0.5)
    for t in range(int(seconds)):
        synthetic.advance(t)
        await asyncio.sleep(1.0)
    c.stop()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    ticks = c.tick_time.snapshot().minus(before)
    tick_share = ticks.sum_ns / 1e9 / wall * 100
    share = cpu / wall * 100
    lag = c.loop_lag_s or 0.0
    print(
        f"   live for {wall:.1f} s: {ticks.count} ticks of {ticks.mean_ns / 1e3:,.0f} us mean (cold caches) = "
        f"{tick_share:.3f}% of one core; whole process {cpu * 1e3:.0f} ms = {share:.3f}%; loop lag {lag * 1e3:.2f} ms"
    )
    return share


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quotes", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--ticks", type=int, default=300)
    parser.add_argument("--live-seconds", type=float, default=10.0)
    args = parser.parse_args()
    if args.quotes <= 0 or args.repeats <= 0 or args.batch <= 0 or args.ticks <= 1 or args.live_seconds < 0:
        parser.error("--quotes, --repeats, --batch must be positive, --ticks > 1, --live-seconds >= 0")
    overheads = md1_overhead(args.quotes, args.repeats, args.batch)
    series, cpu = collector_cost(args.ticks, args.live_seconds)
    ok_md, ok_cpu = max(overheads) <= 5.0, cpu < 2.0
    verdict = {True: "PASS", False: "FAIL"}
    print(f"MON-1 instrumentation overhead on MD-1: worst {max(overheads):.1f}% (target <= 5%): {verdict[ok_md]}")
    print(f"MON-1 collector at {series} series, 1 Hz: {cpu:.3f}% of one core (target < 2%): {verdict[ok_cpu]}")
    return 0 if ok_md and ok_cpu else 1


if __name__ == "__main__":
    raise SystemExit(main())
