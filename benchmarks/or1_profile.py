"""Where OR-1's time goes: wall time per order by component, measured at the components' boundaries.

Sampling and tracing profilers both bent this path's figures here: cProfile charges every small
Python call its own overhead (it made the order path look 3x slower and favoured call-heavy code);
py-spy, sampling from outside, put twice the time a direct clock read finds on the SQLite group
commit. So this script times the few calls where one component hands over to another (risk check,
journal record, intent-log append, group commit, venue submit, broker event, fill booking, bus
publish, state machine), with perf_counter_ns on entry and exit, and charges each call its
*exclusive* time: its own minus the timed calls inside it (the venue's submit, for instance, runs
the order manager's event handler for the acknowledgement and the fill before it returns). What no
boundary covers is the order manager's own submit code and the benchmark loop.

The same orders also run untimed, back to back in the same process, so the timers' own cost shows
as the difference between the two totals.

    python benchmarks/or1_profile.py [--orders 20000]

It runs the order path's sources (ALLUSE_PURE=1, see alluse.build), whatever build is installed:
compiled modules call each other directly, past any wrapper put on a class, so a compiled run
would charge most components to no one.
"""

from __future__ import annotations

import os

os.environ["ALLUSE_PURE"] = "1"  # before alluse is imported: it decides the build at import

import argparse
import functools
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from alluse.bench.or1 import run_or1
from alluse.brokers.paper import PaperVenue
from alluse.common.bus import MessageBus
from alluse.execution import fsm
from alluse.execution.config import JournalConfig
from alluse.execution.intent_log import IntentLog
from alluse.execution.journal import Journal
from alluse.execution.oms import OrderManager
from alluse.portfolio import ExecutionQuality, Ledger
from alluse.risk import RiskGate

BOUNDARIES: tuple[tuple[str, Any, str], ...] = (  # (component, owner, attribute)
    ("order manager: submit and validation", OrderManager, "submit"),
    ("order manager: broker events", OrderManager, "on_order_event"),
    ("risk gate: checks", RiskGate, "check"),
    ("risk gate: exposure on events", RiskGate, "on_order_event"),
    ("journal: rows and records", Journal, "record_order"),
    ("journal: intent log append", IntentLog, "append"),
    ("journal: group commit (SQLite)", Journal, "_write"),
    ("paper venue", PaperVenue, "submit"),
    ("order state machine", fsm, "apply"),
    ("ledger", Ledger, "apply_fill"),
    ("execution quality", ExecutionQuality, "on_fill"),
    ("message bus", MessageBus, "publish"),
)


@contextmanager
def timed_boundaries(spent: Counter[str], calls: Counter[str]) -> Iterator[None]:
    """Wraps each boundary to add its exclusive wall time to `spent` and count its calls; restores them on exit."""
    stack: list[int] = []  # per open call: the time its timed children took

    def wrap(label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            stack.append(0)
            t0 = time.perf_counter_ns()
            try:
                return fn(*args, **kwargs)
            finally:
                took = time.perf_counter_ns() - t0
                children = stack.pop()
                spent[label] += took - children
                calls[label] += 1
                if stack:
                    stack[-1] += took

        return timed

    originals = [(owner, name, getattr(owner, name)) for _, owner, name in BOUNDARIES]
    for (label, owner, name), (_, _, fn) in zip(BOUNDARIES, originals, strict=True):
        setattr(owner, name, wrap(label, fn))
    try:
        yield
    finally:
        for owner, name, fn in originals:
            setattr(owner, name, fn)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20_000)
    args = parser.parse_args()
    if args.orders <= 0:
        parser.error("--orders must be positive")
    n = args.orders
    plain = run_or1(n, JournalConfig())
    spent: Counter[str] = Counter()
    calls: Counter[str] = Counter()
    with timed_boundaries(spent, calls):
        timed = run_or1(n, JournalConfig())
    plain_us, timed_us = plain.total_ns / n / 1e3, timed.total_ns / n / 1e3
    print(f"OR-1, {n:,} orders back to back (closed loop, group commits on the journal's timer)")
    print(f"  untimed: {plain_us:.1f} us of wall time per order, p50 latency {plain.percentile_us(50):.1f} us")
    per_call = (timed.total_ns - plain.total_ns) / sum(calls.values()) / 1e3
    print(
        f"  timed:   {timed_us:.1f} us per order: the timers cost about {per_call:.2f} us per timed call, "
        "part of which lands in each caller's figure"
    )
    print(f"  {'component':<40}{'us/order':>9}{'share':>8}{'calls/order':>13}")
    for label, ns in spent.most_common():
        print(f"  {label:<40}{ns / n / 1e3:>9.1f}{ns / timed.total_ns:>8.1%}{calls[label] / n:>13.2f}")
    rest = timed.total_ns - sum(spent.values())
    print(f"  {'the benchmark loop and the timers':<40}{rest / n / 1e3:>9.1f}{rest / timed.total_ns:>8.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
