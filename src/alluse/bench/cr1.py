"""CR-1: kill -9 during a burst of orders, then restart: nothing lost, nothing duplicated.

`python -m alluse.bench.cr1 --data-dir D` runs bursts of orders against the paper venue (its
own store in D/venue.db, the journal in D/journal.db) until it is killed; it prints READY once
the first burst starts. `crash(D, seed)` starts it and kills it with SIGKILL at a random moment;
`verify(D)` is the restart: the normal start path (recovery and reconciliation) followed by a
comparison of the journal with the venue's records, counting the orders lost or duplicated.
"""

from __future__ import annotations

import argparse
import logging
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from alluse.bench.core import START_NS, build_core
from alluse.bench.figures import Figure
from alluse.brokers.paper import PaperVenueConfig
from alluse.common.clock import MS, NS
from alluse.execution.journal import JOURNAL_FILE, resume_ns

log = logging.getLogger("alluse.bench")

WORKLOAD = "CR-1"
BURST = 1_000
KILL_AFTER_S = (0.05, 1.2)  # the kill comes this long after READY, drawn from the seed
QUICK_SEEDS = (1,)
FULL_SEEDS = (1, 2, 3)


def _venue_config() -> PaperVenueConfig:
    # latency keeps events in flight, so a kill always finds some sent but not yet answered
    return PaperVenueConfig(ack_latency_ms=1, fill_latency_ms=3)


def run_bursts(data_dir: Path, seed: int, max_orders: int) -> None:
    core = build_core(
        data_dir, venue_config=_venue_config(), seed=seed, start_ns=resume_ns(data_dir / JOURNAL_FILE, START_NS)
    )
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


def crash(data_dir: Path, seed: int) -> None:
    """Runs the burst driver on `data_dir` in a new process and SIGKILLs it a random while after READY.

    Raises if the driver never got ready, or finished before the kill (then it was no crash test).
    Its stderr goes to `data_dir/driver.log`, so a failure can be read there.
    """
    log_path = data_dir / "driver.log"
    with log_path.open("w") as stderr:
        argv = [sys.executable, "-m", "alluse.bench.cr1", "--data-dir", str(data_dir), "--seed", str(seed)]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, text=True)
        assert proc.stdout is not None  # stdout=PIPE
        try:
            ready = proc.stdout.readline().strip() == "READY"
            if ready:
                time.sleep(random.Random(seed).uniform(*KILL_AFTER_S))  # a random point in the bursts
        finally:
            proc.kill()  # SIGKILL: the crash itself (nothing happens if the driver has already exited)
            proc.wait(timeout=30)
            proc.stdout.close()
    if not ready:
        raise RuntimeError(f"CR-1 driver did not start (exit {proc.returncode}): {log_path.read_text()[-2000:]}")
    if proc.returncode != -signal.SIGKILL:
        raise RuntimeError(f"CR-1 driver finished (exit {proc.returncode}) before the kill: not a crash test")


@dataclass(slots=True)
class CrashCheck:
    journal_orders: int
    venue_orders: int
    open_after_restart: int
    fills: int
    lost: int  # orders of which the journal misses (or misstates) something the venue did
    duplicated: int  # orders the venue got twice, or of which the journal holds more than the venue did
    problems: list[str] = field(default_factory=list)


def verify(data_dir: Path) -> CrashCheck:
    """Restart on `data_dir` (recovery + reconciliation) and compare the journal with the venue's records."""
    core = build_core(data_dir, venue_config=_venue_config(), start_ns=resume_ns(data_dir / JOURNAL_FILE, START_NS))
    try:
        core.settle(limit_ns=5 * NS)  # events in flight after the restart arrive; nothing new is sent
        core.oms.reconcile()
        return _compare(core)
    finally:
        core.close()


def _compare(core) -> CrashCheck:
    oms, venue, ledger = core.oms, core.venue, core.ledger
    problems: list[str] = []
    lost: set[str] = set()
    duplicated: set[str] = set()

    def problem(coid: str, into: set[str], text: str) -> None:
        into.add(coid)
        problems.append(text)

    receipts = venue.receipts()
    sent = Counter(r.client_order_id for r in receipts if r.outcome in ("accepted", "rejected"))
    for coid, n in sent.items():
        if n > 1:
            problem(coid, duplicated, f"{coid} reached the venue {n} times")
    for r in receipts:
        if r.outcome == "duplicate":
            problem(r.client_order_id, duplicated, f"{r.client_order_id} resent to the venue (refused as duplicate)")
    for coid in sent:
        theirs, ours = venue.order_status(coid), oms.orders.get(coid)
        if ours is None:
            problem(coid, lost, f"{coid} is at the venue but not in the journal")
        elif (ours.status, ours.filled_qty) != (theirs.status, theirs.filled_qty):
            journal_side = f"{ours.status.value}/{ours.filled_qty}"
            into = duplicated if ours.filled_qty > theirs.filled_qty else lost
            problem(coid, into, f"{coid}: journal {journal_side} vs venue {theirs.status.value}/{theirs.filled_qty}")
    journal_fills = {f.fill_id: f for f in core.journal.load().fills}
    venue_fills = {f.fill_id: f for f in venue.executions()}
    for fid in venue_fills.keys() - journal_fills.keys():
        problem(venue_fills[fid].client_order_id, lost, f"venue fill {fid} not in the journal")
    for fid in journal_fills.keys() - venue_fills.keys():
        problem(journal_fills[fid].client_order_id, duplicated, f"journal fill {fid} unknown to the venue")
    for fid in venue_fills.keys() & journal_fills.keys():
        if venue_fills[fid] != journal_fills[fid]:
            problem(venue_fills[fid].client_order_id, lost, f"fill {fid} differs")
    # account-level differences follow from the fills above; alone they name no order
    snap = venue.account_snapshot("BENCH")
    ours = {p.instrument_id: p.quantity for p in ledger.open_positions("BENCH")}
    if ours != snap.positions:
        problems.append(f"positions differ: journal {ours} vs venue {snap.positions}")
    if ledger.cash["BENCH"] != snap.cash:
        problems.append(f"cash differs: journal {ledger.cash['BENCH']} vs venue {snap.cash}")
    for o in oms.orders.values():
        if o.client_order_id in sent or (o.status.value in ("CANCELED", "DENIED", "REJECTED") and o.filled_qty == 0):
            continue
        into = duplicated if o.filled_qty else lost
        problem(o.client_order_id, into, f"{o.client_order_id} never reached the venue but is {o.status.value}")
    return CrashCheck(
        len(oms.orders), len(sent), len(oms.open_orders()), len(venue_fills), len(lost), len(duplicated), problems
    )


def cr1_figures(quick: bool) -> list[Figure]:
    """One kill (quick) or three, each on a fresh temp dir, summed. "orders at the venue" shows what
    the kills covered: zero lost out of a handful would prove little."""
    lost = duplicated = at_venue = 0
    for seed in QUICK_SEEDS if quick else FULL_SEEDS:
        with tempfile.TemporaryDirectory() as tmp:
            crash(Path(tmp), seed)
            check = verify(Path(tmp))
        if check.problems:
            log.warning("CR-1 seed %d: %d problems: %s", seed, len(check.problems), "; ".join(check.problems[:5]))
            if not (check.lost or check.duplicated):  # a difference no order accounts for: no figure can say it
                raise RuntimeError(f"CR-1 seed {seed}: journal and venue differ: {check.problems[:5]}")
        lost += check.lost
        duplicated += check.duplicated
        at_venue += check.venue_orders
    return [
        Figure(WORKLOAD, "lost", float(lost), "orders"),
        Figure(WORKLOAD, "duplicated", float(duplicated), "orders"),
        Figure(WORKLOAD, "orders at the venue", float(at_venue), "orders", higher_is_better=True),
    ]


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
