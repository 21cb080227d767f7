"""MD-2: feed-to-subscriber latency of quotes paced at a steady rate (100,000/s by default).

Quote k is due at t0 + k/rate; the feed busy-waits until then, stamps it with its due time and
hands it to the engine alone (`on_quote`), and the subscriber records now - due, so a feed that
falls behind charges its backlog to the quotes that waited (no coordinated omission). The
workload lives in alluse.bench.md (what `alluse bench` runs); this script prints its figures
for each repeat and their median.

    python benchmarks/md2_latency.py [--quotes N] [--rate R] [--repeats K]
"""

from __future__ import annotations

import argparse
import statistics

from alluse.bench.md import BEHIND_NS, MD2_QUOTES, MD2_RATE, md2_figures
from alluse.bench.targets import ABOVE, GOALS, TARGETS


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quotes", type=int, default=MD2_QUOTES)
    parser.add_argument("--rate", type=float, default=MD2_RATE)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.quotes <= 0 or args.rate <= 0 or args.repeats <= 0:
        parser.error("--quotes, --rate and --repeats must be positive")

    print(
        f"MD-2: {args.quotes:,} quotes at {args.rate:,.0f}/s ({args.quotes / args.rate:,.1f} s each), one on_quote "
        f"call per quote, latency from the due time; 'behind' = handed over > {BEHIND_NS / 1e3:.0f} us late"
    )
    runs = [md2_figures(False, n=args.quotes, rate=args.rate) for _ in range(args.repeats)]
    names = [f"{f.name} ({f.unit})" for f in runs[0]]
    w = max(map(len, names)) + 2
    print(f"{'repeat':<8}" + "".join(f"{n:>{w}}" for n in names))
    for i, figures in enumerate(runs, 1):
        print(f"{i:<8}" + "".join(f"{f.value:>{w},.2f}" for f in figures))
    medians = [statistics.median(run[j].value for run in runs) for j in range(len(names))]
    print(f"{'median':<8}" + "".join(f"{m:>{w},.2f}" for m in medians))
    median_of = {f.name: m for f, m in zip(runs[0], medians, strict=True)}
    ok = True
    for target in (*TARGETS, *GOALS):
        floor = target.reference
        if target.workload != "MD-2" or floor is None or floor.how != ABOVE:
            continue
        above = median_of[target.name] - median_of[floor.name]  # the floor is measured here too
        met = target.met_by(above)
        ok = ok and (met or target.goal)
        verdict = ("met" if met else "not met") if target.goal else ("PASS" if met else "FAIL")
        print(f"{'goal' if target.goal else 'target'}: {target.describe()}: {verdict} (+{above:,.2f} us)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
