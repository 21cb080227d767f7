"""MON-1 (instrumentation and collector): what monitoring costs the trading process.

1. MD-1 with the engine's sampled feed-latency instrumentation on vs off, in the same run (fresh
   engine per repeat, on and off interleaved so drift hits both alike; overhead = median on /
   median off - 1), on the batch path and the one-by-one path. Target: at most 5%.
2. The collector at about 500 series (real components plus synthetic ones, all moving): tick
   time p50/p99/mean over many ticks, CPU share at 1 Hz = mean tick / 1 s; then a live run on
   the asyncio loop at 1 Hz whose process CPU time is measured directly. Target: under 2% of one core.

The workloads live in alluse.bench.mon1 (what `alluse bench` runs); the live run is this script's.

    python benchmarks/mon1_overhead.py [--quotes N] [--repeats R] [--ticks T] [--live-seconds S]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from alluse.bench.md import FEED_BATCH, build_registry, generate_quotes
from alluse.bench.mon1 import (
    COLLECTOR_SERIES,
    WARM_TICKS,
    Synthetic,
    collector_bench,
    instrumentation_overhead,
)
from alluse.monitoring.collector import Collector

# ---------------------------------------------------------------------------- 1. MD-1 on vs off


def md1_overhead(quotes_n: int, repeats: int, batch: int) -> list[float]:
    registry = build_registry()
    quotes = generate_quotes([i.id for i in registry], quotes_n)
    print(f"1. MD-1 ({quotes_n:,} quotes, 500 instruments), feed-latency sampling on vs off, median of {repeats} each")
    print(f"   {'path':<24}{'off ns/q':>10}{'on ns/q':>10}{'overhead':>10}{'timed':>9}{'p50 us':>9}{'p99 us':>9}")
    overheads = []
    for label, per_quote in ((f"on_quotes (batch {batch})", False), ("on_quote (one by one)", True)):
        run = instrumentation_overhead(registry, quotes, repeats, per_quote, batch)
        overheads.append(run.overhead_pct)
        snap = run.engine_on.feed_latency.snapshot()
        p50, p99 = ((snap.percentile_ns(q) or 0.0) / 1e3 for q in (0.5, 0.99))  # 0: nothing timed
        print(
            f"   {label:<24}{run.off_ns:>10.0f}{run.on_ns:>10.0f}{run.overhead_pct:>9.1f}%"
            f"{snap.count:>9,}{p50:>9.1f}{p99:>9.1f}"
        )
    return overheads


# ---------------------------------------------------------------------------- 2. the collector


def collector_cost(ticks: int, live_seconds: float) -> tuple[int, float]:
    """Returns (series per tick, CPU % of one core at 1 Hz: the live process figure when measured)."""
    with tempfile.TemporaryDirectory() as tmp:
        bench = collector_bench(Path(tmp), COLLECTOR_SERIES)
        try:
            for _ in range(WARM_TICKS):
                bench.tick()
            tick_ns = sorted(bench.tick() for _ in range(ticks))
            series = bench.series[-1]
            p50, p99, mean = tick_ns[len(tick_ns) // 2], tick_ns[int(len(tick_ns) * 0.99)], statistics.fmean(tick_ns)
            c = bench.collector
            print(f"2. collector: {series} series per tick ({len(c._sources)} sources incl. resources and itself)")
            print(
                f"   back to back, {ticks} ticks: p50/p99/mean {p50 / 1e3:,.0f}/{p99 / 1e3:,.0f}/{mean / 1e3:,.0f} us"
            )
            share = mean / 1e9 * 100
            print(f"   CPU share at 1 Hz (mean tick / 1 s): {share:.3f}% of one core")
            if live_seconds <= 0:
                return series, share
            return series, asyncio.run(live_run(c, bench.synthetic, live_seconds))
        finally:
            bench.close()


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
        f"   live for {wall:.1f} s: {ticks.count} ticks of {(ticks.mean_ns or 0.0) / 1e3:,.0f} us mean (cold caches) = "
        f"{tick_share:.3f}% of one core; whole process {cpu * 1e3:.0f} ms = {share:.3f}%; loop lag {lag * 1e3:.2f} ms"
    )
    return share


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quotes", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch", type=int, default=FEED_BATCH)
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
