"""What a benchmark workload reports, and the targets the validation report holds it to.

A workload is a function `(quick: bool) -> list[Figure]` that runs once and returns every figure it
measured, its "before" variants (the same work with an optimisation switched off through a real
config option) included, so before and after always come from the same run. The harness repeats
it and reports the median and spread of each figure.
"""

from __future__ import annotations

from dataclasses import dataclass

OPTIMISED = "optimised"  # the default configuration: what the targets judge
OTHER_SYSTEM = "NautilusTrader "  # variants measured through another system (side by side, not a "before")


class WorkloadSkipped(Exception):
    """The workload cannot run on this install (an optional extra is missing): the report says so and
    why, and it is neither a failure nor a pass."""


@dataclass(slots=True, frozen=True)
class Figure:
    workload: str  # "MD-1", ...
    name: str  # "throughput", "latency p99", "lost", ...
    value: float
    unit: str  # "quotes/s", "us", "orders/s", "%", "s", "orders"
    variant: str = OPTIMISED  # or what is switched off, e.g. "journal: a commit per event"
    higher_is_better: bool = False


@dataclass(slots=True, frozen=True)
class Target:
    workload: str
    name: str
    comparison: str  # "<=" or ">="
    limit: float
    unit: str
    # "median" of the repeats, or "worst": a count that must hold in every repeat (a loss in one
    # repeat out of three is a loss, which the median would hide)
    judge: str = "median"

    def met_by(self, value: float) -> bool:
        return value <= self.limit if self.comparison == "<=" else value >= self.limit

    def describe(self) -> str:
        limit = f"{self.limit:,.0f}" if abs(self.limit) >= 100 else f"{self.limit:g}"
        every = " in every repeat" if self.judge == "worst" else ""
        return f"{self.workload} {self.name} {self.comparison} {limit} {self.unit}{every}"


# Issue #6's targets on the 2-core reference machine (ARCHITECTURE.md, "Benchmark workloads").
TARGETS: tuple[Target, ...] = (
    Target("MD-1", "throughput", ">=", 1_000_000, "quotes/s"),
    Target("MD-2", "latency p99", "<=", 20, "us"),
    Target("OR-1", "latency p50", "<=", 50, "us"),
    Target("OR-1", "latency p99", "<=", 500, "us"),
    Target("OR-1", "throughput", ">=", 20_000, "orders/s"),
    # the same path paced at a steady rate, timed from each order's due time (no coordinated omission)
    Target("OR-1", "paced latency p99 at 2,500 orders/s", "<=", 500, "us"),
    Target("ER-1", "lost", "<=", 0, "orders", "worst"),
    Target("ER-1", "duplicated", "<=", 0, "orders", "worst"),
    Target("ER-1", "misclassified", "<=", 0, "orders", "worst"),
    Target("CR-1", "lost", "<=", 0, "orders", "worst"),
    Target("CR-1", "duplicated", "<=", 0, "orders", "worst"),
    Target("MON-1", "instrumentation overhead", "<=", 5, "%"),
    Target("AN-1", "report and dashboard", "<=", 30, "s"),
)
