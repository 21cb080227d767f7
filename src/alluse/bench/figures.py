"""What a benchmark workload reports (the targets that judge it are in targets.py).

A workload is a function `(quick: bool) -> list[Figure]` that runs once and returns every figure it
measured, its "before" variants (the same work with an optimisation switched off through a real
config option) included, so before and after always come from the same run. The harness repeats
it and reports the median and spread of each figure.
"""

from __future__ import annotations

from dataclasses import dataclass

OPTIMISED = "optimised"  # the default configuration: what the targets judge
OTHER_SYSTEM = "NautilusTrader "  # variants measured through another system (side by side, not a "before")
BARE_IB_ASYNC = "bare ib_async"  # IB-1, MD-3: the same work through ib_async alone, on the same gateway


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
