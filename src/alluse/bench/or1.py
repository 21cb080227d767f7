"""OR-1: market and marketable-limit orders, submit -> risk -> journal -> paper venue -> fill -> position.

Every order runs the whole real path: input validation, the risk engine, a journal write (SQLite
WAL on disk, in a temp dir), the paper venue (zero configured latency so the fill comes back within
the call), the state machine, the ledger. Latency is wall time from `submit` until the order is
FILLED and its position booked, per order; throughput is orders over the wall time of the whole loop.

With group commit an order's acknowledgement and fill wait in memory and are committed with the
next order's intent, so that commit is inside the next order's measured latency; the last orders'
events are flushed inside the timed total, so throughput pays for every commit.

The "before" variants switch the journal's optimisations off through JournalConfig: a commit per
event (no group commit, SQLite checkpointing inside commits), then also synchronous FULL.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alluse.bench.core import build_core
from alluse.bench.figures import OPTIMISED, Figure
from alluse.config import JournalConfig
from alluse.model import OrderStatus

WORKLOAD = "OR-1"
QUICK_ORDERS = 3_000
FULL_ORDERS = 20_000
_PER_EVENT = {"group_commit": False, "background_checkpoint": False}
VARIANTS: tuple[tuple[str, JournalConfig], ...] = (
    (OPTIMISED, JournalConfig()),
    ("journal: a commit per event", JournalConfig(**_PER_EVENT)),
    ("journal: a commit per event, synchronous FULL", JournalConfig(**_PER_EVENT, synchronous="FULL")),
)


@dataclass(slots=True)
class Or1Result:
    latencies_ns: np.ndarray  # per order, submit until FILLED and booked
    total_ns: int  # the whole loop, the final journal flush included
    journal_writes: int  # committed transactions

    def percentile_us(self, q: float) -> float:
        return float(np.percentile(self.latencies_ns, q)) / 1e3

    @property
    def orders_per_s(self) -> float:
        return len(self.latencies_ns) / (self.total_ns / 1e9)


def run_or1(n: int, journal_config: JournalConfig, *, venue_store: bool = False) -> Or1Result:
    """`n` orders, alternately market and marketable limit, each timed from submit to booked fill."""
    with tempfile.TemporaryDirectory() as tmp:
        core = build_core(Path(tmp), journal_config=journal_config, venue_store=venue_store)
        try:
            lat = np.empty(n, dtype=np.int64)
            t_start = time.perf_counter_ns()
            for k in range(n):
                order = core.order(k, qty=100, style="market" if k % 2 == 0 else "marketable")
                t0 = time.perf_counter_ns()
                core.oms.submit(order)
                lat[k] = time.perf_counter_ns() - t0
                if order.status is not OrderStatus.FILLED:
                    raise RuntimeError(f"order {order.client_order_id} ended {order.status}: {order.reason}")
            core.journal.flush()
            total = time.perf_counter_ns() - t_start
            fills = sum(core.ledger.fill_count.values())
            writes = core.journal.writes
        finally:
            core.close()
    if fills != n:
        raise RuntimeError(f"{fills} fills booked for {n} orders")
    return Or1Result(lat, total, writes)


def result_figures(result: Or1Result, variant: str) -> list[Figure]:
    """The figures of one run, under the names the targets match on (the script checks them too)."""
    return [
        Figure(WORKLOAD, "latency p50", result.percentile_us(50), "us", variant),
        Figure(WORKLOAD, "latency p99", result.percentile_us(99), "us", variant),
        Figure(WORKLOAD, "latency p99.9", result.percentile_us(99.9), "us", variant),
        Figure(WORKLOAD, "throughput", result.orders_per_s, "orders/s", variant, higher_is_better=True),
    ]


def or1_figures(quick: bool, *, n: int | None = None) -> list[Figure]:
    """The optimised journal and each "before" variant, one after the other in this run."""
    orders = n or (QUICK_ORDERS if quick else FULL_ORDERS)
    return [fig for variant, config in VARIANTS for fig in result_figures(run_or1(orders, config), variant)]
