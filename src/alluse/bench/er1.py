"""ER-1: orders through a venue that injects transient faults (timeouts, disconnects, pacing) and permanent rejects.

Every figure is counted against the venue's own records, not the order manager's opinion:
- lost: an order the venue received that the journal does not have, an order left open in the
  journal after the run settled, or a venue fill the ledger never booked;
- duplicated: a client order id the venue received twice (a duplicate refusal, or two
  accepted receipts), or a ledger fill the venue never made;
- recovered: orders hit by a transient or unknown-outcome fault (and nothing permanent) that
  still ended as they would have without it (filled: the book is deep);
- misclassified: a permanent reject the order manager did not fail as rejected, or a
  transient fault it turned into a rejection;
- mismatched: orders whose final status or filled quantity differ between journal and venue.
"""

from __future__ import annotations

import logging
import random
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from alluse.bench.core import build_core
from alluse.bench.figures import Figure
from alluse.brokers.paper import FaultConfig, FaultKind, PaperVenueConfig
from alluse.common.clock import MS, NS
from alluse.execution.config import ExecutionConfig
from alluse.model import OrderStatus

log = logging.getLogger("alluse.bench")

WORKLOAD = "ER-1"
QUICK_ORDERS = 2_000
FULL_ORDERS = 10_000
TRANSIENT_KINDS = (
    FaultKind.DISCONNECT,
    FaultKind.LOST_SUBMIT,
    FaultKind.LOST_RESPONSE,
    FaultKind.DROPPED_ACK,
    FaultKind.PACING_REJECT,
)


@dataclass(slots=True)
class Er1Result:
    orders: int
    faults: dict[str, int]
    transient_orders: int
    permanent_orders: int
    lost: int
    duplicated: int
    recovered: int
    misclassified: int
    mismatched: int
    retries: int
    status_queries: int
    reconciliations: int
    wall_seconds: float
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.lost == self.duplicated == self.misclassified == self.mismatched == 0
            and self.recovered == self.transient_orders
        )

    @property
    def recovered_percent(self) -> float:
        """Share of the orders hit only by transient faults that still filled; none hit counts as all."""
        return 100.0 * self.recovered / self.transient_orders if self.transient_orders else 100.0


def fault_config(seed: int, transient_rate: float, permanent_rate: float, event_rate: float = 0.0) -> FaultConfig:
    """`transient_rate` split evenly over the transient and unknown-outcome kinds; `event_rate` each
    for duplicated and delayed (reordered) events."""
    share = transient_rate / len(TRANSIENT_KINDS)
    return FaultConfig(
        duplicate_event_rate=event_rate,
        delay_rate=event_rate,
        max_delay_ms=50,
        seed=seed,
        disconnect_rate=share,
        disconnect_ms=50,
        lose_submit_rate=share,
        lose_response_rate=share,
        drop_ack_rate=share,
        pacing_reject_rate=share,
        permanent_reject_rate=permanent_rate,
    )


def run_er1(
    orders: int = FULL_ORDERS,
    *,
    seed: int = 1,
    transient_rate: float = 0.05,
    permanent_rate: float = 0.01,
    event_rate: float = 0.0,
    data_dir: Path | None = None,
) -> Er1Result:
    faults = fault_config(seed, transient_rate, permanent_rate, event_rate)
    with tempfile.TemporaryDirectory() as tmp:
        return _run(orders, seed, faults, Path(data_dir or tmp))


def _run(n: int, seed: int, faults: FaultConfig, data_dir: Path) -> Er1Result:
    venue_config = PaperVenueConfig(ack_latency_ms=1, fill_latency_ms=2, faults=faults)
    retry = ExecutionConfig(max_attempts=8, initial_backoff_ms=20, max_backoff_ms=1_000, ack_timeout_ms=200)
    core = build_core(data_dir, venue_config=venue_config, execution=retry, seed=seed)
    rng = random.Random(seed)
    t0 = time.perf_counter()
    sent = []
    for k in range(n):
        order = core.order(k, qty=rng.randint(1, 100), style="market" if k % 2 == 0 else "marketable")
        sent.append(order.client_order_id)
        core.oms.submit(order)
        core.clock.advance(1 * MS)
        if k % 10 == 9:
            core.quote_all()
    core.settle(limit_ns=300 * NS)
    core.oms.reconcile()
    wall = time.perf_counter() - t0
    try:
        return _count(core, sent, wall)
    finally:
        core.close()


def _count(core, sent: list[str], wall: float) -> Er1Result:
    venue, oms, ledger = core.venue, core.oms, core.ledger
    problems: list[str] = []
    receipts = venue.receipts()
    by_id = Counter(r.client_order_id for r in receipts if r.outcome in ("accepted", "rejected"))
    duplicate_refusals = [r.client_order_id for r in receipts if r.outcome == "duplicate"]
    received_twice = [c for c, k in by_id.items() if k > 1]
    venue_fills = {f.fill_id: f for f in venue.executions()}
    journal_fills = {f.fill_id for f in core.journal.load().fills}

    lost_orders = [c for c in by_id if c not in oms.orders]
    stuck = [o.client_order_id for o in oms.orders.values() if not o.status.is_terminal]
    lost_fills = [fid for fid in venue_fills if fid not in journal_fills or not ledger.has_fill(fid)]
    phantom_fills = [fid for fid in journal_fills if fid not in venue_fills]
    problems += [f"lost order {c}" for c in lost_orders] + [f"still open {c}" for c in stuck]
    problems += [f"fill {f} not booked" for f in lost_fills] + [f"fill {f} not at the venue" for f in phantom_fills]
    problems += [f"{c} received twice" for c in received_twice + duplicate_refusals]

    faults_by_order: dict[str, set[FaultKind]] = {}
    for f in venue.faults:
        faults_by_order.setdefault(f.client_order_id, set()).add(f.kind)
    permanent = {c for c, kinds in faults_by_order.items() if FaultKind.PERMANENT_REJECT in kinds}
    transient = {c for c, kinds in faults_by_order.items() if kinds & set(TRANSIENT_KINDS) and c not in permanent}

    misclassified = []
    for c in permanent:
        o = oms.orders[c]
        if o.status is not OrderStatus.REJECTED or o.reason.startswith("gave up"):
            misclassified.append(c)
    for c in transient:
        if oms.orders[c].status is OrderStatus.REJECTED:
            misclassified.append(c)
    problems += [f"misclassified {c}: {oms.orders[c].status.value} {oms.orders[c].reason}" for c in misclassified]
    recovered = sum(1 for c in transient if oms.orders[c].status is OrderStatus.FILLED)

    mismatched = []
    for c in sent:
        ours, theirs = oms.orders[c], venue.order_status(c)
        if theirs is None:
            if ours.status is not OrderStatus.REJECTED:  # only an order given up locally may be unknown to the venue
                mismatched.append(c)
        elif (ours.status, ours.filled_qty) != (theirs.status, theirs.filled_qty):
            mismatched.append(c)
    problems += [f"state differs for {c}" for c in mismatched]
    counters = oms.counters
    return Er1Result(
        orders=len(sent),
        faults={k.value: n for k, n in sorted(venue.fault_counts().items(), key=lambda kv: kv[0].value)},
        transient_orders=len(transient),
        permanent_orders=len(permanent),
        lost=len(lost_orders) + len(stuck) + len(lost_fills),
        duplicated=len(received_twice) + len(duplicate_refusals) + len(phantom_fills),
        recovered=recovered,
        misclassified=len(misclassified),
        mismatched=len(mismatched),
        retries=counters.retries,
        status_queries=counters.status_queries,
        reconciliations=counters.reconciliations,
        wall_seconds=wall,
        problems=problems,
    )


def er1_figures(quick: bool, *, n: int | None = None) -> list[Figure]:
    """One seed per call (seed 1): the harness's repeats then measure the same faults each time, so a
    spread means the system behaved differently, not that the faults did."""
    r = run_er1(n or (QUICK_ORDERS if quick else FULL_ORDERS), seed=1)
    if r.problems:
        log.warning("ER-1: %d problems, first: %s", len(r.problems), "; ".join(r.problems[:5]))
    counts = {"lost": r.lost, "duplicated": r.duplicated, "misclassified": r.misclassified, "mismatched": r.mismatched}
    return [Figure(WORKLOAD, name, float(v), "orders") for name, v in counts.items()] + [
        Figure(WORKLOAD, "transient faults recovered", r.recovered_percent, "%", higher_is_better=True)
    ]
