"""Targets judged against the same run: a ratio to NautilusTrader's figure or a distance from a floor,
measured in alternating rounds; goals that never fail a run; "not judged" when the reference is missing."""

import numpy as np
import pytest

from alluse.bench import md, or1
from alluse.bench.figures import OTHER_SYSTEM, Figure, WorkloadSkipped
from alluse.bench.harness import run_bench
from alluse.bench.targets import (
    ABOVE,
    FAIL,
    GOALS,
    MET,
    NOT_JUDGED,
    NOT_MET,
    PASS,
    TARGETS,
    TIMES_BETTER,
    Reference,
    Target,
    judge,
    run_failed,
    verdict,
)
from alluse.bench.validation import CHECKLIST, evaluate, to_markdown

NAUTILUS = f"{OTHER_SYSTEM}9.9"


def p50(value, variant="optimised"):
    return Figure("OR-1", "latency p50", value, "us", variant)


def rate(value, variant="optimised"):
    return Figure("OR-1", "throughput", value, "orders/s", variant, higher_is_better=True)


def loader(figures):
    """figures: workload key ("OR-1", "NT OR-1", ...) -> the figures of each round, in order."""

    def load(key):
        rounds = iter(figures[key])
        return lambda quick: next(rounds)

    return load


def or1_run(ours, theirs, repeats=1):
    """OR-1 and NautilusTrader's OR-1, `ours` and `theirs` as (p50 us, orders/s) per round."""
    figures = {
        "OR-1": [[p50(a), rate(b)] for a, b in ours],
        "NT OR-1": [[p50(a, NAUTILUS), rate(b, NAUTILUS)] for a, b in theirs],
    }
    return run_bench(["OR-1", "NT"], quick=False, repeats=repeats, loader=loader(figures))


def target(workload, name, *, goal=False):
    return next(t for t in (GOALS if goal else TARGETS) if (t.workload, t.name) == (workload, name))


def test_a_ratio_to_nautilus_passes_and_fails_both_ways():
    p50_target, rate_target = target("OR-1", "latency p50"), target("OR-1", "throughput")
    assert (p50_target.limit, rate_target.limit) == (4.81, 4.9)
    # lower is better: theirs / ours; higher is better: ours / theirs
    fast = or1_run(ours=[(40, 20_000)], theirs=[(240, 3_000)])  # 6x and 6.67x
    slow = or1_run(ours=[(60, 14_400)], theirs=[(240, 3_000)])  # 4x and 4.8x
    assert [(verdict(fast, t).judged, verdict(fast, t).status) for t in (p50_target, rate_target)] == [
        (6.0, PASS),
        (pytest.approx(20_000 / 3_000), PASS),
    ]
    assert [(verdict(slow, t).judged, verdict(slow, t).status) for t in (p50_target, rate_target)] == [
        (4.0, FAIL),
        (pytest.approx(4.8), FAIL),
    ]
    # the same code on a machine twice as slow, NautilusTrader slowed alike: the same verdicts
    halved = or1_run(ours=[(80, 10_000)], theirs=[(480, 1_500)])
    assert [verdict(halved, t).judged for t in (p50_target, rate_target)] == [6.0, pytest.approx(20_000 / 3_000)]
    assert not run_failed(fast) and not run_failed(halved) and run_failed(slow)


def test_a_floor_target_judges_the_distance_above_the_floor():
    md2 = target("MD-2", "latency p99")
    assert (md2.reference.how, md2.limit) == (ABOVE, 18.9)

    def md2_run(p99, floor):
        figures = [Figure("MD-2", "latency p99", p99, "us"), Figure("MD-2", md2.reference.name, floor, "us")]
        return run_bench(["MD-2"], quick=False, repeats=1, loader=loader({"MD-2": [figures]}))

    assert verdict(md2_run(45, 30), md2).status == PASS  # a pausing VM: +15 us above its own floor
    assert verdict(md2_run(25, 1), md2).status == FAIL  # a quiet machine: +24 us is the engine's own
    assert verdict(md2_run(25, 1), md2).judged == 24


def test_a_goal_that_is_not_met_does_not_fail_the_run():
    run = or1_run(ours=[(40, 20_000)], theirs=[(240, 3_000)])  # 6x: the target is met, the 10x goal is not
    assert verdict(run, target("OR-1", "latency p50")).status == PASS
    goal = verdict(run, target("OR-1", "latency p50", goal=True))
    assert (goal.judged, goal.status) == (6.0, NOT_MET)
    assert not run_failed(run)
    assert verdict(or1_run(ours=[(20, 30_000)], theirs=[(240, 3_000)]), goal.target).status == MET
    row = "| OR-1 | latency p50 | 40 us | NautilusTrader 9.9: 240 us | 6.00x (6.00 - 6.00) | >= 10x | **not met** |"
    assert row in to_markdown(run, [])


def test_without_nautilus_its_targets_and_goals_are_not_judged_which_is_neither_pass_nor_fail():
    def load(key):
        if key == "NT OR-1":

            def missing(quick):
                raise WorkloadSkipped("NautilusTrader is not installed (the compare extra)")

            return missing
        return lambda quick: [p50(40), rate(20_000)]

    run = run_bench(["OR-1", "NT"], quick=False, repeats=2, loader=load)
    for t in (target("OR-1", "latency p50"), target("OR-1", "latency p50", goal=True)):
        v = verdict(run, t)
        assert (v.status, v.judged, v.why) == (NOT_JUDGED, None, "NautilusTrader is not installed (the compare extra)")
    assert not run_failed(run)
    text = to_markdown(run, [])
    row = "| 40 us | NautilusTrader: not measured | - | >= 4.81x | **not judged**: NautilusTrader is not installed"
    assert row in text
    (order_path,) = [evaluate(item, run, {}) for item in CHECKLIST if ("OR-1", "latency p50") in item.targets]
    assert order_path.status == "not measured"
    assert "not judged: NautilusTrader is not installed" in order_path.evidence[0].detail
    # left out by --only, or failed: said so, and a failed run fails
    alone = run_bench(["OR-1"], quick=False, repeats=1, loader=load)
    assert "not in this run" in verdict(alone, target("OR-1", "latency p50")).why

    def broken(key):
        if key == "NT OR-1":
            return lambda quick: 1 / 0
        return lambda quick: [p50(40), rate(20_000)]

    failed = run_bench(["OR-1", "NT"], quick=False, repeats=1, loader=broken)
    v = verdict(failed, target("OR-1", "latency p50"))
    assert (v.status, v.why) == (NOT_JUDGED, "NautilusTrader's run failed: ZeroDivisionError: division by zero")
    assert run_failed(failed)


def test_ours_and_nautilus_run_in_alternating_rounds_and_a_ratio_pairs_each_round():
    calls, progress = [], []

    def load(key):
        def workload(quick):
            calls.append(key)
            k = calls.count(key)  # round k of this side
            if key == "MD-2":
                return [Figure("MD-2", "latency p99", 5.0, "us")]
            return [p50(240.0 if key.startswith("NT") else 40.0 * k, NAUTILUS if key.startswith("NT") else "optimised")]

        return workload

    run = run_bench(["OR-1", "MD-2", "NT"], quick=False, repeats=3, loader=load, progress=lambda *a: progress.append(a))
    assert calls == ["OR-1", "NT OR-1", "NT OR-1", "OR-1", "OR-1", "NT OR-1", "MD-2", "MD-2", "MD-2"]
    assert progress == [("OR-1", i, 3) for i in range(3)] + [("MD-2", i, 3) for i in range(3)]
    v = verdict(run, target("OR-1", "latency p50"))
    assert v.ours.values == [40, 80, 120] and v.reference.values == [240, 240, 240]
    assert v.per_round == [6, 3, 2] and v.judged == 3  # the rounds' ratios, not 240 / median(ours) alone


def test_when_ours_fails_in_a_later_round_none_of_the_workloads_figures_are_kept():
    rounds = iter([[p50(40)], RuntimeError("disk full")])

    def load(key):
        if key == "NT OR-1":
            return lambda quick: [p50(240, NAUTILUS)]

        def ours(quick):
            got = next(rounds)
            if isinstance(got, Exception):
                raise got
            return got

        return ours

    run = run_bench(["OR-1", "NT"], quick=False, repeats=3, loader=load)
    assert run.failures == {"OR-1": "RuntimeError: disk full"} and run.rows == []
    assert verdict(run, target("OR-1", "latency p50")).status == "not measured" and run_failed(run)


def test_the_report_prints_both_absolute_figures_the_ratio_the_limit_and_the_status():
    run = or1_run(ours=[(40, 20_000), (44, 19_000)], theirs=[(240, 3_000), (242, 3_100)], repeats=2)
    text = to_markdown(run, [])
    assert "| workload | figure | ours | reference | judged: median (min - max) | limit | status |" in text
    row = "| OR-1 | latency p50 | 42 us | NautilusTrader 9.9: 241 us | 5.75x (5.50 - 6.00) | >= 4.81x | **pass** |"
    assert row in text  # each side's median, the median of the rounds' ratios (6 and 5.5) and their spread
    paced = target("OR-1", "paced latency p99 at 2,500 orders/s")
    assert paced.reference is None and "machine-dependent" in paced.absolute


def test_every_target_has_a_reference_or_says_why_not_and_its_reference_is_a_figure_the_run_reports():
    with pytest.raises(ValueError, match="a reference or says why it is absolute"):
        Target("OR-1", "latency p50", "<=", 50, "us")
    with pytest.raises(ValueError, match="a reference or says why it is absolute"):
        Target("OR-1", "latency p50", ">=", 5, "us", Reference("latency p50", NAUTILUS, TIMES_BETTER, "x"), "both")
    reported = {("MD-2", f.name) for f in md.md2_figures(True, n=2_000)}
    reported |= {("MD-1", f.name) for f in md.md1_figures(True, n=2_000)}
    reported |= {("OR-1", f.name) for f in or1.result_figures(or1.Or1Result(np.arange(1, 10), 10**6, 0), "x")}
    reported |= {("IB-1", "latency p50"), ("MD-3", "throughput")}  # proven in tests/integration/ibkr/test_bench_ib.py
    reported |= {("BT-1", "quote events per second")}  # proven in tests/unit/bench/test_bench_bt1.py
    referenced = {(t.workload, t.reference.name) for t in (*TARGETS, *GOALS) if t.reference is not None}
    assert referenced <= reported  # NautilusTrader's figures carry our names (nautilus.py builds them so)
    alone = {"IB-1", "MD-3", "LM-1", "BT-1", "UI-1"}  # goals of their own (#14, #15, #17); the others tighten a target
    assert {(t.workload, t.name) for t in GOALS if t.workload not in alone} <= {(t.workload, t.name) for t in TARGETS}
    assert all(t.goal for t in GOALS) and not any(t.goal for t in TARGETS)
    assert judge(run_bench([], quick=False, repeats=1, loader=loader({})), TARGETS) == []
