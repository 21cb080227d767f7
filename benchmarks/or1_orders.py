"""OR-1: market and marketable-limit orders, submit -> risk -> journal -> paper venue -> fill -> position.

Every order runs the whole real path: input validation, the risk engine, a journal write (SQLite
WAL on disk, one transaction per event), the paper venue (zero configured latency so the fill
comes back within the call), the state machine, the ledger. Latency is wall time from `submit`
until the order is FILLED and its position booked, per order; throughput is orders over the
total wall time of the loop. Two venues are measured in the same run: the paper venue in memory
(what our side costs) and with its own SQLite store (as `alluse run` uses it: a broker's records
cost time too, but at a real broker that time is theirs).

    python benchmarks/or1_orders.py [--orders 20000] [--synchronous NORMAL|FULL]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

from alluse.bench.core import build_core
from alluse.config import JournalConfig
from alluse.model import OrderStatus


def run(n: int, synchronous: str, venue_store: bool) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        core = build_core(Path(tmp), journal_config=JournalConfig(synchronous=synchronous), venue_store=venue_store)
        lat = np.empty(n, dtype=np.int64)
        t_start = time.perf_counter_ns()
        for k in range(n):
            order = core.order(k, qty=100, style="market" if k % 2 == 0 else "marketable")
            t0 = time.perf_counter_ns()
            core.oms.submit(order)
            lat[k] = time.perf_counter_ns() - t0
            if order.status is not OrderStatus.FILLED:
                raise SystemExit(f"order {order.client_order_id} ended {order.status}: {order.reason}")
        total = time.perf_counter_ns() - t_start
        fills = sum(core.ledger.fill_count.values())
        core.close()
    if fills != n:
        raise SystemExit(f"{fills} fills for {n} orders")
    us = lat / 1e3
    return {
        "p50_us": float(np.percentile(us, 50)),
        "p99_us": float(np.percentile(us, 99)),
        "p999_us": float(np.percentile(us, 99.9)),
        "orders_per_s": n / (total / 1e9),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--synchronous", default="NORMAL", choices=["OFF", "NORMAL", "FULL"])
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    print(f"OR-1  {args.orders:,} orders (half market, half marketable limit), journal synchronous={args.synchronous}")
    print(f"{'venue':<22} {'p50 us':>8} {'p99 us':>8} {'p99.9 us':>9} {'orders/s':>9}")
    results = {}
    for label, store in (("in memory", False), ("with its own store", True)):
        r = results[label] = run(args.orders, args.synchronous, store)
        print(f"{label:<22} {r['p50_us']:>8.1f} {r['p99_us']:>8.1f} {r['p999_us']:>9.1f} {r['orders_per_s']:>9,.0f}")
    ok = results["in memory"]["p50_us"] <= 200
    print("target (issue #2): p50 <= 200 us including the journal write ->", "PASS" if ok else "FAIL")


if __name__ == "__main__":
    main()
