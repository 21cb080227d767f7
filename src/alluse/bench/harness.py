"""Runs the benchmark workloads, repeats them, and turns their figures into rows with a median and a
spread (targets.py judges them). Every number in a row comes from the repeats of this run; a
workload that fails leaves its rows out, so its targets are "not measured", never passed.

A workload that NautilusTrader also runs (the `compare` extra; `--only` names it "NT") runs in
rounds with it: ours, theirs, then theirs, ours, and so on, so that a machine that slows down for a
minute slows both sides of a ratio alike, and neither side always goes first.
"""

from __future__ import annotations

import gc
import importlib
import logging
import os
import platform
import statistics
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

from alluse import build
from alluse.bench.figures import OPTIMISED, Figure, WorkloadSkipped

log = logging.getLogger("alluse.bench")

# name -> "module:function"; imported when run, so `alluse bench --only MD-1` loads nothing else
WORKLOADS: dict[str, str] = {
    "MD-1": "alluse.bench.md:md1_figures",
    "MD-2": "alluse.bench.md:md2_figures",
    "OR-1": "alluse.bench.or1:or1_figures",
    "ER-1": "alluse.bench.er1:er1_figures",
    "CR-1": "alluse.bench.cr1:cr1_figures",
    "MON-1": "alluse.bench.mon1:mon1_figures",
    "AN-1": "alluse.bench.an1:an1_figures",
    "IB-1": "alluse.bench.ib:ib1_figures",  # through the local TWS-protocol gateway, against bare ib_async
    "MD-3": "alluse.bench.ib:md3_figures",
    "LM-1": "alluse.bench.lm1:lm1_figures",  # the market-data line manager over a simulated week
    "BT-1": "alluse.bench.bt1:bt1_figures",  # the whole wheel backtested, session after session
    "UI-1": "alluse.bench.ui1:ui1_figures",  # the live stream: fills to ten clients, the order path beside them
    "FO-1": "alluse.bench.fo1:fo1_figures",  # gateway failover on PostgreSQL and Redis (skipped without them)
    "SC-1": "alluse.bench.sc1:sc1_figures",  # per-account costs; the cluster's order path with 1, 2, 4 agents
}
NT = "NT"  # what `--only` calls the NautilusTrader runs
# our workload -> the same work through NautilusTrader, for the targets judged against it
NT_WORKLOADS: dict[str, str] = {
    "MD-1": "alluse.bench.nautilus:nautilus_md1_figures",
    "OR-1": "alluse.bench.nautilus:nautilus_or1_figures",
    "BT-1": "alluse.bench.nautilus:nautilus_bt1_figures",
}

Workload = Callable[[bool], list[Figure]]
T = TypeVar("T")
Progress = Callable[[str, int, int], None]  # (workload, repeat index, repeats) as each run starts


@dataclass(slots=True)
class Row:
    """One figure of one variant over the repeats, in the order they ran."""

    workload: str
    name: str
    variant: str
    unit: str
    higher_is_better: bool
    values: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)


@dataclass(slots=True)
class Machine:
    cpu: str
    cores: int
    python: str
    system: str
    build: str  # the order path compiled or not (alluse.build): the figures differ by half

    @staticmethod
    def this() -> Machine:
        cpu = platform.processor() or platform.machine()
        try:
            with open("/proc/cpuinfo") as f:
                cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
        except OSError:
            pass
        return Machine(cpu, os.cpu_count() or 0, platform.python_version(), platform.platform(), build.describe())


@dataclass(slots=True)
class BenchRun:
    started_ns: int
    seconds: float
    quick: bool
    repeats: int
    machine: Machine
    workloads: list[str]
    rows: list[Row] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)  # workload ("NT OR-1" for theirs) -> what went wrong
    skipped: dict[str, str] = field(default_factory=dict)  # workload (NT) -> why it could not run on this install

    def row(self, workload: str, name: str, variant: str = OPTIMISED) -> Row | None:
        """The row of that figure; a `variant` ending in a space matches any variant it starts (any version
        of another system)."""
        return next(
            (
                r
                for r in self.rows
                if (r.workload, r.name) == (workload, name)
                and (r.variant == variant or (variant.endswith(" ") and r.variant.startswith(variant)))
            ),
            None,
        )


def nt_side(name: str) -> str:
    """The key of NautilusTrader's run of our workload `name`: what the loader loads and a failure is filed under."""
    return f"{NT} {name}"


RUNNABLE: dict[str, str] = {**WORKLOADS, **{nt_side(name): spec for name, spec in NT_WORKLOADS.items()}}


def load(key: str) -> Workload:
    module, _, function = RUNNABLE[key].partition(":")
    return getattr(importlib.import_module(module), function)


def parse_only(text: str | None) -> list[str]:
    """`--only MD-1,OR-1,NT` -> the workloads in the order they run; an unknown name is an error naming it."""
    known = [*WORKLOADS, NT]
    if text is None:
        return known
    wanted = [w.strip().upper() for w in text.split(",") if w.strip()]
    unknown = [w for w in wanted if w not in known]
    if unknown or not wanted:
        raise ValueError(f"--only={text!r}: unknown workload(s) {', '.join(unknown) or '(none given)'}; "
                         f"expected some of {', '.join(known)}")  # fmt: skip
    if NT in wanted and not any(w in NT_WORKLOADS for w in wanted):
        raise ValueError(f"--only={text!r}: {NT} runs in rounds with {' or '.join(NT_WORKLOADS)}; name one of them too")
    return [w for w in known if w in wanted]


def collect(figures_per_repeat: Sequence[list[Figure]]) -> list[Row]:
    """Rows from the figures of each repeat, each row's values in the order of the repeats."""
    rows: dict[tuple[str, str, str], Row] = {}
    for figures in figures_per_repeat:
        for f in figures:
            key = (f.workload, f.name, f.variant)
            row = rows.get(key)
            if row is None:
                row = rows[key] = Row(f.workload, f.name, f.variant, f.unit, f.higher_is_better, [])
            row.values.append(f.value)
    return list(rows.values())


def run_bench(
    names: Sequence[str],
    *,
    quick: bool,
    repeats: int,
    progress: Progress | None = None,
    loader: Callable[[str], Workload] = load,
) -> BenchRun:
    """Each workload in `names` `repeats` times; with NT among them, in rounds with NautilusTrader's run
    of the same work (see `_rounds`)."""
    if repeats < 1:
        raise ValueError(f"repeats={repeats!r}: must be at least 1")
    started, t0 = time.time_ns(), time.perf_counter()
    run = BenchRun(started, 0.0, quick, repeats, Machine.this(), list(names))
    for name in names:
        if name == NT:
            continue  # it runs in the rounds of the workloads it repeats
        sides = [name]
        if NT in names and name in NT_WORKLOADS and NT not in run.skipped:
            sides.append(nt_side(name))
        _rounds(run, name, sides, quick=quick, repeats=repeats, progress=progress, loader=loader)
    run.seconds = time.perf_counter() - t0
    return run


def _rounds(
    run: BenchRun,
    name: str,
    sides: list[str],
    *,
    quick: bool,
    repeats: int,
    progress: Progress | None,
    loader: Callable[[str], Workload],
) -> None:
    """`repeats` rounds of one workload: in each, every side runs once (ours, and NautilusTrader's when it
    is compared), in the order ours, theirs in even rounds and theirs, ours in odd ones, as
    benchmarks/or1_ab.py alternates its sides. The n-th value of each side's rows is from round n,
    which is what a ratio pairs up. A side that is skipped or fails drops out with none of its
    figures kept; when that side is ours, so does the whole workload."""
    workloads = {side: w for side in sides if (w := _attempt(run, side, partial(loader, side))) is not None}
    live = list(workloads)
    figures: dict[str, list[list[Figure]]] = {side: [] for side in live}
    for i in range(repeats):
        if name not in live:
            break
        if progress:
            progress(name, i, repeats)
        in_turn = list(live) if i % 2 == 0 else live[::-1]  # copies: a side may drop out of `live` in this round
        for side in in_turn:
            # each run starts without the garbage of the ones before it: a trading core left for the
            # cycle collector (~120k objects after OR-1's variants) made a gen-2 pass inside the next
            # run's timing cost its paced p99 65 ms instead of 0.9 ms (measured)
            gc.collect()
            got = _attempt(run, side, partial(workloads[side], quick))
            if got is None:
                live.remove(side)
            else:
                figures[side].append(got)
    if name in live:
        for side in live:
            run.rows += collect(figures[side])


def _attempt(run: BenchRun, side: str, call: Callable[[], T]) -> T | None:
    """`call()`, or None with the reason filed: skipped (an optional extra is missing: under NT for
    NautilusTrader's sides) or failed (one broken workload must not cost the others their figures)."""
    try:
        return call()
    except WorkloadSkipped as exc:
        run.skipped[NT if side.startswith(f"{NT} ") else side] = str(exc)
    except Exception as exc:
        log.error("workload %s failed:\n%s", side, traceback.format_exc())
        run.failures[side] = f"{type(exc).__name__}: {exc}"
    return None
