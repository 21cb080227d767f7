"""OR-1: market and marketable-limit orders, submit -> risk -> journal -> paper venue -> fill -> position.

The workload lives in alluse.bench.or1 (what `alluse bench` runs); this script prints its table.
Rows: the optimised journal and its "before" variants (JournalConfig options switched off), the
paper venue in memory (what our side costs); and the optimised journal with the venue's own SQLite
store (as `alluse run` uses it: a broker's records cost time too, but at a real broker that time is
theirs).

    python benchmarks/or1_orders.py [--orders 20000]
"""

from __future__ import annotations

import argparse
import logging

from alluse.bench.figures import OPTIMISED
from alluse.bench.or1 import FULL_ORDERS, VARIANTS, Or1Result, run_or1
from alluse.execution.config import JournalConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=FULL_ORDERS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    print(f"OR-1  {args.orders:,} orders (half market, half marketable limit), journal on disk")
    print(f"{'journal':<46} {'venue':<10} {'p50 us':>8} {'p99 us':>8} {'p99.9 us':>9} {'orders/s':>9} {'commits':>8}")
    runs: list[tuple[str, str, Or1Result]] = [
        (variant, "in memory", run_or1(args.orders, config)) for variant, config in VARIANTS
    ]
    runs.append((OPTIMISED, "own store", run_or1(args.orders, JournalConfig(), venue_store=True)))
    for variant, venue, r in runs:
        print(f"{variant:<46} {venue:<10} {r.percentile_us(50):>8.1f} {r.percentile_us(99):>8.1f} "
              f"{r.percentile_us(99.9):>9.1f} {r.orders_per_s:>9,.0f} {r.journal_writes:>8,}")  # fmt: skip
    print("OR-1's targets are judged against NautilusTrader on the same work, in the same run: `alluse bench`")


if __name__ == "__main__":
    main()
