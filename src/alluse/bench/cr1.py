"""CR-1: kill -9 during a burst of orders, then restart: nothing lost, nothing duplicated.

`python -m alluse.bench.cr1 --data-dir D` runs bursts of orders against the paper venue (its
own store in D/venue.db, the journal in D/journal.db) until it is killed; it prints READY once
the first burst starts. `verify(D)` is the restart: the normal start path (recovery and
reconciliation) followed by a comparison of the journal with the venue's records.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from alluse.bench.core import build_core
from alluse.brokers import PaperVenueConfig
from alluse.clock import NS
from alluse.execution.journal import Journal
from alluse.execution.retry import MS

BURST = 1_000


def _venue_config() -> PaperVenueConfig:
    # latency keeps events in flight, so a kill always finds some sent but not yet answered
    return PaperVenueConfig(ack_latency_ns=1 * MS, fill_latency_ns=3 * MS)


def run_bursts(data_dir: Path, seed: int, max_orders: int) -> None:
    core = build_core(data_dir, venue_config=_venue_config(), seed=seed, start_ns=_resume_ns(data_dir))
    rng = random.Random(seed)
    sys.stdout.write("READY\n")  # the crash test waits for this line before it picks its moment
    sys.stdout.flush()
    for k in range(max_orders):
        style = rng.choice(("market", "marketable", "resting"))  # resting orders survive the crash at the venue
        core.oms.submit(core.order(k, qty=rng.randint(1, 100), style=style))
        if rng.random() < 0.1 and core.oms.open_orders():
            core.oms.cancel(rng.choice(core.oms.open_orders()).client_order_id)
        core.clock.advance(rng.choice((0, 0, 1, 2)) * MS)  # bursts: several orders per millisecond
        if k % BURST == BURST - 1:
            core.settle(limit_ns=5 * NS)
    core.settle()
    core.close()


def _resume_ns(data_dir: Path) -> int:
    from alluse.bench.core import START_NS

    path = data_dir / "journal.db"
    if not path.exists():
        return START_NS
    journal = Journal(path, readonly=True)
    try:
        last = journal.last_event_ts()
    finally:
        journal.close()
    return START_NS if last is None else max(START_NS, last + NS)


@dataclass(slots=True)
class CrashCheck:
    journal_orders: int
    venue_orders: int
    open_after_restart: int
    fills: int
    problems: list[str] = field(default_factory=list)


def verify(data_dir: Path) -> CrashCheck:
    """Restart on `data_dir` (recovery + reconciliation) and compare the journal with the venue's records."""
    core = build_core(data_dir, venue_config=_venue_config(), start_ns=_resume_ns(data_dir))
    try:
        core.settle(limit_ns=5 * NS)  # events in flight after the restart arrive; nothing new is sent
        core.oms.reconcile()
        return _compare(core)
    finally:
        core.close()


def _compare(core) -> CrashCheck:
    oms, venue, ledger = core.oms, core.venue, core.ledger
    problems = []
    receipts = venue.receipts()
    sent = Counter(r.client_order_id for r in receipts if r.outcome in ("accepted", "rejected"))
    problems += [f"{c} reached the venue {n} times" for c, n in sent.items() if n > 1]
    problems += [
        f"{r.client_order_id} resent to the venue (refused as duplicate)" for r in receipts if r.outcome == "duplicate"
    ]
    for coid in sent:
        theirs, ours = venue.order_status(coid), oms.orders.get(coid)
        if ours is None:
            problems.append(f"{coid} is at the venue but not in the journal")
        elif (ours.status, ours.filled_qty) != (theirs.status, theirs.filled_qty):
            journal_side = f"{ours.status.value}/{ours.filled_qty}"
            problems.append(f"{coid}: journal {journal_side} vs venue {theirs.status.value}/{theirs.filled_qty}")
    journal_fills = {f.fill_id: f for f in core.journal.load().fills}
    venue_fills = {f.fill_id: f for f in venue.executions()}
    problems += [f"venue fill {fid} not in the journal" for fid in venue_fills.keys() - journal_fills.keys()]
    problems += [f"journal fill {fid} unknown to the venue" for fid in journal_fills.keys() - venue_fills.keys()]
    problems += [
        f"fill {fid} differs"
        for fid in venue_fills.keys() & journal_fills.keys()
        if venue_fills[fid] != journal_fills[fid]
    ]
    snap = venue.account_snapshot("BENCH")
    ours = {p.instrument_id: p.quantity for p in ledger.open_positions("BENCH")}
    if ours != snap.positions:
        problems.append(f"positions differ: journal {ours} vs venue {snap.positions}")
    if ledger.cash["BENCH"] != snap.cash:
        problems.append(f"cash differs: journal {ledger.cash['BENCH']} vs venue {snap.cash}")
    never_sent = [o for o in oms.orders.values() if o.client_order_id not in sent]
    problems += [
        f"{o.client_order_id} never reached the venue but is {o.status.value}"
        for o in never_sent
        if not (o.status.value in ("CANCELED", "DENIED", "REJECTED") and o.filled_qty == 0)
    ]
    return CrashCheck(len(oms.orders), len(sent), len(oms.open_orders()), len(venue_fills), problems)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="CR-1 burst driver: runs until killed")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-orders", type=int, default=50_000)
    args = parser.parse_args(argv)
    run_bursts(args.data_dir, args.seed, args.max_orders)
    return 0


if __name__ == "__main__":
    sys.exit(main())
