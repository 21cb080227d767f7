"""MD-1: quotes over 500 instruments (50 stocks + 450 options) through validation -> cache -> one
subscriber per instrument, via the batch path (`on_quotes`) and the per-quote path (`on_quote`).

The workload lives in alluse.bench.md (what `alluse bench` runs); this script prints its table
with the median of the repeats.

    python benchmarks/md1_market_data.py [--quotes N] [--repeats R] [--batch B]
"""

from __future__ import annotations

import argparse
import statistics

from alluse.bench.md import FEED_BATCH, N_STOCKS, build_registry, generate_quotes, run_once


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quotes", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=FEED_BATCH)
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
            run = run_once(registry, quotes, args.batch, per_quote)
            engine, delivered = run.engine, run.delivered
            seconds.append(run.seconds)
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
