"""OR-1: market and marketable-limit orders, submit -> risk -> journal -> paper venue -> fill -> position.

Every order runs the whole real path: input validation, the risk engine, a journal write (SQLite
WAL on disk, in a temp dir), the paper venue (zero configured latency so the fill comes back within
the call), the state machine, the ledger. Latency is wall time from `submit` until the order is
FILLED and its position booked, per order; throughput is orders over the wall time of the whole loop.

The journal makes each order's intent durable (an append to its intent log, or with `intent_log`
off an SQLite commit) before the venue sees it; acknowledgements, fills and the intents themselves
are committed in groups when the journal's flush timer fires, every `flush_ms`. The loop runs like
the system's event loop: between orders (closed loop) or while waiting for the next due time
(paced) it moves the core's clock with the wall clock, so that timer fires on time, and its commits
count in the throughput (closed) or delay whichever order falls due during them (paced). The last
records are committed inside the timed total.

Orders go back to back (a closed loop), so each latency is that order's own service time: a stall
(a WAL checkpoint, a GC pass, a group commit) delays one order, not the orders a steady flow would
have queued behind it. The "paced" figures are free of that coordinated omission: order k is due at
t0 + k/PACED_RATE, and its latency counts from its due time, as MD-2 does for quotes.

The "before" variants switch the journal's optimisations off through JournalConfig: each one alone
(an SQLite commit per intent; a commit per event; SQLite's checkpoints inside commits), then all
of them with synchronous FULL.
"""

from __future__ import annotations

import gc
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alluse.bench.core import build_core
from alluse.bench.figures import OPTIMISED, Figure
from alluse.execution.config import JournalConfig
from alluse.model import OrderStatus

WORKLOAD = "OR-1"
QUICK_ORDERS = 3_000
FULL_ORDERS = 20_000
PACED_RATE = 2_500.0  # orders/s: the seed report's trading rate, well below what the closed loop sustains
PACED_QUICK, PACED_FULL = 2_500, 10_000  # one and four seconds at PACED_RATE
LEAD_NS = 1_000_000  # the schedule starts this long after set-up, so order 0 is not late by construction
VARIANTS: tuple[tuple[str, JournalConfig], ...] = (
    (OPTIMISED, JournalConfig()),
    ("journal: an SQLite commit per intent", JournalConfig(intent_log=False)),
    ("journal: a commit per event", JournalConfig(group_commit=False)),
    ("journal: checkpoints inside commits", JournalConfig(background_checkpoint=False)),
    (
        "journal: all off, synchronous FULL",
        JournalConfig(group_commit=False, background_checkpoint=False, synchronous="FULL"),
    ),
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


def run_or1(
    n: int, journal_config: JournalConfig, *, venue_store: bool = False, rate: float | None = None
) -> Or1Result:
    """`n` orders, alternately market and marketable limit, each timed until its fill is booked: from
    `submit` (back to back), or with a `rate` from the order's due time (busy-waiting until then)."""
    if rate is not None and not rate > 0:
        raise ValueError(f"rate={rate!r}: must be a positive number of orders per second")
    with tempfile.TemporaryDirectory() as tmp:
        core = build_core(Path(tmp), journal_config=journal_config, venue_store=venue_store)
        try:
            lat = np.empty(n, dtype=np.int64)
            clock = core.clock
            gc.collect()  # not the previous variant's garbage (see harness.run_bench): each variant starts alike
            t_start = time.perf_counter_ns()
            sim_start = clock.now_ns()
            first_due = t_start + LEAD_NS
            for k in range(n):
                order = core.order(k, qty=100, style="market" if k % 2 == 0 else "marketable")
                t0 = time.perf_counter_ns()
                clock.advance_to(sim_start + t0 - t_start)  # the event loop: due timers (the group commit) run
                if rate is not None:
                    due = first_due + int(k * 1e9 / rate)
                    while t0 < due:
                        clock.advance_to(sim_start + t0 - t_start)
                        t0 = time.perf_counter_ns()
                    t0 = due
                else:
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


def paced_figures(result: Or1Result, variant: str = OPTIMISED) -> list[Figure]:
    return [
        Figure(WORKLOAD, f"paced latency p{q:g} at {PACED_RATE:,.0f} orders/s", result.percentile_us(q), "us", variant)
        for q in (50, 99, 99.9)
    ]


def or1_figures(quick: bool, *, n: int | None = None, paced_n: int | None = None) -> list[Figure]:
    """The optimised journal and each "before" variant, one after the other in this run: back to back,
    then paced (where a stall shows: SQLite's checkpoint inside a commit barely moves the back-to-back
    percentiles, but every order due during it waits)."""
    orders = n or (QUICK_ORDERS if quick else FULL_ORDERS)
    paced_orders = paced_n or (PACED_QUICK if quick else PACED_FULL)
    figures = [fig for variant, config in VARIANTS for fig in result_figures(run_or1(orders, config), variant)]
    for variant, config in VARIANTS:
        figures += paced_figures(run_or1(paced_orders, config, rate=PACED_RATE), variant)
    return figures
