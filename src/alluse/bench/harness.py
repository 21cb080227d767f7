"""Runs the benchmark workloads, repeats them, and turns their figures into rows with a median, a
spread and a verdict against the targets (figures.TARGETS). Every number in a row comes from the
repeats of this run; a workload that fails leaves its targets "not measured", never passed.
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

from alluse import build
from alluse.bench.figures import OPTIMISED, TARGETS, Figure, Target, WorkloadSkipped

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
    # MD-1 and OR-1 through NautilusTrader (the `compare` extra), for side-by-side ratios
    "NT": "alluse.bench.nautilus:compare_figures",
}

Workload = Callable[[bool], list[Figure]]
Progress = Callable[[str, int, int], None]  # (workload, repeat index, repeats) as each run starts


@dataclass(slots=True)
class Row:
    """One figure of one variant over the repeats."""

    workload: str
    name: str
    variant: str
    unit: str
    higher_is_better: bool
    values: list[float]
    target: Target | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)

    @property
    def judged(self) -> float:
        """What the target holds to: the median, or the worst repeat for a target judged so."""
        if self.target is None or self.target.judge != "worst":
            return self.median
        return self.high if self.target.comparison == "<=" else self.low

    @property
    def status(self) -> str:
        """ "pass"/"fail" against its target, "no target" (a before variant, or a figure shown for context)."""
        if self.target is None:
            return "no target"
        return "pass" if self.target.met_by(self.judged) else "fail"


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
    failures: dict[str, str] = field(default_factory=dict)  # workload -> what went wrong
    skipped: dict[str, str] = field(default_factory=dict)  # workload -> why it could not run on this install

    def row(self, workload: str, name: str, variant: str = OPTIMISED) -> Row | None:
        return next(
            (r for r in self.rows if (r.workload, r.name, r.variant) == (workload, name, variant)),
            None,
        )


def load(name: str) -> Workload:
    module, _, function = WORKLOADS[name].partition(":")
    return getattr(importlib.import_module(module), function)


def parse_only(text: str | None) -> list[str]:
    """`--only MD-1,OR-1` -> the workloads in the order they run; an unknown name is an error naming it."""
    if text is None:
        return list(WORKLOADS)
    wanted = [w.strip().upper() for w in text.split(",") if w.strip()]
    unknown = [w for w in wanted if w not in WORKLOADS]
    if unknown or not wanted:
        raise ValueError(f"--only={text!r}: unknown workload(s) {', '.join(unknown) or '(none given)'}; "
                         f"expected some of {', '.join(WORKLOADS)}")  # fmt: skip
    return [w for w in WORKLOADS if w in wanted]


def collect(figures_per_repeat: Sequence[list[Figure]], targets: Sequence[Target] = TARGETS) -> list[Row]:
    """Rows from the figures of each repeat; the target of (workload, name) judges the optimised variant."""
    rows: dict[tuple[str, str, str], Row] = {}
    for figures in figures_per_repeat:
        for f in figures:
            key = (f.workload, f.name, f.variant)
            row = rows.get(key)
            if row is None:
                target = None
                if f.variant == OPTIMISED:
                    target = next((t for t in targets if (t.workload, t.name) == (f.workload, f.name)), None)
                row = rows[key] = Row(f.workload, f.name, f.variant, f.unit, f.higher_is_better, [], target)
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
    if repeats < 1:
        raise ValueError(f"repeats={repeats!r}: must be at least 1")
    started, t0 = time.time_ns(), time.perf_counter()
    run = BenchRun(started, 0.0, quick, repeats, Machine.this(), list(names))
    for name in names:
        per_repeat = []
        try:
            workload = loader(name)
            for i in range(repeats):
                if progress:
                    progress(name, i, repeats)
                # each run starts without the garbage of the ones before it: a trading core left for the
                # cycle collector (~120k objects after OR-1's variants) made a gen-2 pass inside the next
                # run's timing cost its paced p99 65 ms instead of 0.9 ms (measured)
                gc.collect()
                per_repeat.append(workload(quick))
        except WorkloadSkipped as exc:
            run.skipped[name] = str(exc)
            continue
        except Exception as exc:  # one broken workload must not cost the others their figures
            log.error("workload %s failed:\n%s", name, traceback.format_exc())
            run.failures[name] = f"{type(exc).__name__}: {exc}"
            continue
        run.rows += collect(per_repeat)
    run.seconds = time.perf_counter() - t0
    return run
