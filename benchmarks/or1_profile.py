"""Where OR-1's time goes: cProfile over the optimised order path, grouped by component.

Each order runs submit -> risk -> journal -> paper venue -> fill -> position (as OR-1). The profiler
slows Python calls more than SQLite's C code, so read the shares, not the microseconds; the
unprofiled figures are OR-1's (`alluse bench --only OR-1`). Prints each component's own time (its
functions' tottime) as a share of the whole, then the 15 costliest functions.

    python benchmarks/or1_profile.py [--orders 5000]
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import pstats
import tempfile
from collections import defaultdict
from pathlib import Path

from alluse.bench.core import build_core

COMPONENTS = (  # first match wins: (label, path fragment of the function's file)
    ("journal (SQLite)", "method 'execute' of 'sqlite3.Connection'"),
    ("journal (Python)", "execution/journal.py"),
    ("order manager", "execution/oms.py"),
    ("order state machine", "execution/fsm.py"),
    ("risk", "/risk/"),
    ("paper venue", "/brokers/"),
    ("ledger and quality", "/portfolio/"),
    ("market data cache", "/marketdata/"),
    ("bus", "alluse/bus.py"),
    ("model (validation, enums)", "alluse/model.py"),
    ("enum machinery", "enum.py"),
    ("Python built-ins (dict, hash, isinstance...)", "~:"),
)


def component(key: tuple[str, int, str]) -> str:
    path, _, name = key
    where = f"{path}:{name}"  # built-ins have the path "~"
    return next((label for label, frag in COMPONENTS if frag in where), "other")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=5000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        core = build_core(Path(tmp), venue_store=False)
        orders = [core.order(k, qty=100, style="market" if k % 2 == 0 else "marketable") for k in range(args.orders)]
        profiler = cProfile.Profile()
        profiler.enable()
        for order in orders:
            core.oms.submit(order)
        core.journal.flush()
        profiler.disable()
        core.close()
    stats = pstats.Stats(profiler)
    own: dict[str, float] = defaultdict(float)
    for key, (_, _, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        own[component(key)] += tottime
    total = sum(own.values())
    print(f"OR-1 under cProfile: {args.orders:,} orders, {total / args.orders * 1e6:.0f} us per order (profiled)")
    for label, t in sorted(own.items(), key=lambda kv: -kv[1]):
        print(f"  {label:<46}{t / total:>7.1%}  {t / args.orders * 1e6:>6.1f} us/order")
    print()
    stats.sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
