"""MD-1: quotes over 500 instruments (50 stocks + 450 options) through validation -> cache -> one
subscriber per instrument, via the batch path (`on_quotes`) and the per-quote path (`on_quote`).

Quotes are generated before timing starts; each repeat uses a fresh engine and cache (the engine
remembers the last timestamp per instrument). Prints the median of the repeats.

    python benchmarks/md1_market_data.py [--quotes N] [--repeats R] [--batch B]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import date
from decimal import Decimal

from alluse.clock import NS, TestClock
from alluse.instruments import InstrumentRegistry
from alluse.marketdata import DataEngine, QuoteCache
from alluse.model import Equity, Option, Quote, Right

N_STOCKS = 50
OPTIONS_PER_STOCK = 9


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
    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, quote: Quote) -> None:
        self.n += 1


def run_once(
    registry: InstrumentRegistry, quotes: list[Quote], batch: int, per_quote: bool, instrument: bool = True
) -> tuple[float, DataEngine, int]:
    """One pass; `instrument` switches the sampled feed-latency measurement (MON-1 compares both)."""
    clock = TestClock(quotes[0].ts_recv)
    cache = QuoteCache(clock, ttl_ns=5 * NS, option_capacity=450, is_option=registry.is_option)
    engine = DataEngine(registry, cache, clock, instrument=instrument)
    counters = []
    for instrument in registry:
        counter = Counter()
        counters.append(counter)
        engine.subscribe(instrument.id, counter)
    if per_quote:
        on_quote = engine.on_quote
        t0 = time.perf_counter_ns()
        for q in quotes:
            on_quote(q)
        elapsed = time.perf_counter_ns() - t0
    else:
        batches = [quotes[i : i + batch] for i in range(0, len(quotes), batch)]
        on_quotes = engine.on_quotes
        t0 = time.perf_counter_ns()
        for b in batches:
            on_quotes(b)
        elapsed = time.perf_counter_ns() - t0
    return elapsed / 1e9, engine, sum(c.n for c in counters)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quotes", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    if args.quotes <= 0 or args.repeats <= 0 or args.batch <= 0:
        parser.error("--quotes, --repeats and --batch must be positive")

    registry = build_registry()
    ids = [i.id for i in registry]
    quotes = generate_quotes(ids, args.quotes)
    print(
        f"MD-1: {args.quotes:,} quotes over {len(ids)} instruments ({N_STOCKS} stocks + "
        f"{len(ids) - N_STOCKS} options), 1 subscriber each, median of {args.repeats}"
    )
    print(f"{'path':<22}{'quotes/s':>14}{'ns/quote':>11}{'accepted':>12}{'rejected':>10}{'delivered':>12}")
    ok = True
    for label, per_quote in ((f"on_quotes (batch {args.batch})", False), ("on_quote (one by one)", True)):
        seconds = []
        for _ in range(args.repeats):
            elapsed, engine, delivered = run_once(registry, quotes, args.batch, per_quote)
            seconds.append(elapsed)
            if delivered != engine.accepted or engine.accepted + engine.rejected_total != len(quotes):
                ok = False
        median = statistics.median(seconds)
        rate = len(quotes) / median
        print(
            f"{label:<22}{rate:>14,.0f}{median / len(quotes) * 1e9:>11,.0f}"
            f"{engine.accepted:>12,}{engine.rejected_total:>10,}{delivered:>12,}"
        )
    print("check: subscribers received exactly the accepted quotes" if ok else "CHECK FAILED: delivered != accepted")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
