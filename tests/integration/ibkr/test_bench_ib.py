"""IB-1 and MD-3 measure both sides, ours and bare ib_async, on the same gateway: every figure the goals judge
is there for both, and the counts behind them are real (orders filled, quotes received)."""

from __future__ import annotations

from alluse.bench.figures import BARE_IB_ASYNC, OPTIMISED
from alluse.bench.ib import ib1_figures, md3_figures


def test_ib1_reports_each_figure_for_both_sides() -> None:
    figures = {(f.name, f.variant): f.value for f in ib1_figures(True, n=20)}
    for name in ("latency p50", "latency p99", "throughput"):
        assert figures[(name, OPTIMISED)] > 0 and figures[(name, BARE_IB_ASYNC)] > 0
    assert figures[("latency p99", OPTIMISED)] >= figures[("latency p50", OPTIMISED)]


def test_md3_reports_the_rate_of_both_sides() -> None:
    figures = {(f.name, f.variant): f.value for f in md3_figures(True, n=2_000)}
    assert figures[("throughput", OPTIMISED)] > 0 and figures[("throughput", BARE_IB_ASYNC)] > 0
