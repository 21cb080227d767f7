"""ER-1: 10,000 orders with 5% injected transient faults (timeouts, disconnects, pacing) and 1% permanent rejects.

python benchmarks/er1_faults.py [--orders 10000] [--seeds 1,2,3] [--event-rate 0.0]
"""

from __future__ import annotations

import argparse
import logging

from alluse.bench.er1 import run_er1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--event-rate", type=float, default=0.0, help="also duplicate and delay this share of events")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    print(f"ER-1  {args.orders:,} orders per seed, 5% transient faults + 1% permanent rejects")
    print(f"{'seed':>4} {'faults':>7} {'lost':>5} {'dup':>5} {'recovered':>11} {'misclass':>9} {'mismatch':>9}"
          f" {'retries':>8} {'queries':>8} {'wall s':>7}")  # fmt: skip
    ok = True
    for seed in (int(s) for s in args.seeds.split(",")):
        r = run_er1(args.orders, seed=seed, event_rate=args.event_rate)
        ok &= r.ok
        print(f"{seed:>4} {sum(r.faults.values()):>7} {r.lost:>5} {r.duplicated:>5} "
              f"{r.recovered:>5}/{r.transient_orders:<5} {r.misclassified:>9} {r.mismatched:>9} "
              f"{r.retries:>8} {r.status_queries:>8} {r.wall_seconds:>7.2f}")  # fmt: skip
        for p in r.problems[:5]:
            print("     ", p)
    print("target: 0 lost, 0 duplicated, every transient fault recovered, 0 misclassified ->", "PASS" if ok else "FAIL")


if __name__ == "__main__":
    main()
