"""The harness and the validation report: figures become rows with medians and spreads, targets judge
only what was measured in this run, and the checklist is ticked by evidence alone."""

import json

import pytest

from alluse.bench.figures import OPTIMISED, Figure
from alluse.bench.harness import collect, parse_only, run_bench
from alluse.bench.validation import CHECKLIST, Item, evaluate, to_json, to_markdown, write_reports


def or1(p50: float, variant: str = OPTIMISED) -> Figure:
    return Figure("OR-1", "latency p50", p50, "us", variant)


def fake_loader(figures_by_workload):
    def load(name):
        source = figures_by_workload[name]
        if isinstance(source, Exception):
            raise source
        it = iter(source)
        return lambda quick: next(it)

    return load


def test_rows_carry_every_repeat_and_the_target_judges_only_the_optimised_variant():
    slow_variant = "journal: a commit per event"
    rows = collect([[or1(p50), or1(before, slow_variant)] for p50, before in ((40, 90), (60, 110), (45, 100))])
    fast, slow = rows
    assert (fast.values, fast.median, fast.low, fast.high) == ([40, 60, 45], 45, 40, 60)
    assert fast.target is not None and fast.target.limit == 50 and fast.status == "pass"
    assert slow.target is None and slow.status == "no target" and slow.median == 100
    assert collect([[or1(51)]])[0].status == "fail"


def test_a_failed_workload_is_reported_and_its_targets_are_not_measured():
    load = fake_loader({"OR-1": RuntimeError("disk full"), "MD-1": [[Figure("MD-1", "throughput", 2e6, "quotes/s",
                                                                            higher_is_better=True)]]})  # fmt: skip
    run = run_bench(["MD-1", "OR-1"], quick=False, repeats=1, loader=load)
    assert run.failures == {"OR-1": "RuntimeError: disk full"}
    assert run.row("MD-1", "throughput").status == "pass"
    item = Item("order path", targets=(("OR-1", "latency p50"),))
    result = evaluate(item, run, {})
    assert result.status == "not measured" and "disk full" in result.evidence[0].detail


def test_an_item_without_evidence_cannot_exist_and_one_without_a_measurement_is_never_passed():
    with pytest.raises(ValueError, match="names no measurement and no test"):
        Item("trust me")
    run = run_bench([], quick=False, repeats=1, loader=fake_loader({}))
    for item in CHECKLIST:
        assert evaluate(item, run, {}).status == "not measured"  # nothing ran: nothing is ticked


def test_items_pass_only_when_every_piece_of_evidence_passed():
    load = fake_loader({"OR-1": [[or1(40)]]})
    run = run_bench(["OR-1"], quick=False, repeats=1, loader=load)
    both = Item("x", targets=(("OR-1", "latency p50"),), tests=("tests/a.py",))
    assert evaluate(both, run, {"tests/a.py": ("passed", "1 passed")}).status == "passed"
    assert evaluate(both, run, {"tests/a.py": ("failed", "1 of 1 failed")}).status == "failed"
    assert evaluate(both, run, {}).status == "not measured"  # the test did not run
    slow = run_bench(["OR-1"], quick=False, repeats=1, loader=fake_loader({"OR-1": [[or1(80)]]}))
    assert evaluate(both, slow, {"tests/a.py": ("passed", "1 passed")}).status == "failed"


def test_the_reports_hold_the_figures_of_the_run_that_wrote_them(tmp_path):
    load = fake_loader({"OR-1": [[or1(41.5), or1(97.25, "journal: a commit per event")]]})
    run = run_bench(["OR-1"], quick=False, repeats=1, loader=load)
    checklist = [evaluate(i, run, {}) for i in CHECKLIST]
    md, js = write_reports(run, checklist, tmp_path / "out")
    data = json.loads(js.read_text())
    (row,) = [r for r in data["rows"] if r["variant"] == OPTIMISED]
    assert row["values"] == [41.5] and row["status"] == "pass"
    (gain,) = data["before_after"]
    assert gain["times_better"] == pytest.approx(97.25 / 41.5)
    text = md.read_text()
    assert "41.5 us" in text and "97.2 us" in text and run.machine.cpu in text
    assert to_markdown(run, checklist) == text and to_json(run, checklist) == js.read_text()
    assert "- [x]" not in text  # no item has all its evidence in this run


def test_only_names_known_workloads():
    assert parse_only("or-1, MD-1") == ["MD-1", "OR-1"]
    assert parse_only(None)[0] == "MD-1"
    with pytest.raises(ValueError, match="unknown workload\\(s\\) XX-9"):
        parse_only("OR-1,XX-9")


def test_test_evidence_comes_from_running_the_tests():
    from alluse.bench.validation import run_tests

    got = run_tests(["tests/unit/execution/test_retry.py", "tests/unit/execution/test_retry.py::test_no_such_test"])
    assert got["tests/unit/execution/test_retry.py"][0] == "passed"
    assert got["tests/unit/execution/test_retry.py::test_no_such_test"] == ("not run", "no such test collected")


def test_a_quick_run_shows_its_figures_but_ticks_nothing():
    run = run_bench(["OR-1"], quick=True, repeats=1, loader=fake_loader({"OR-1": [[or1(40)]]}))
    assert run.row("OR-1", "latency p50").status == "pass"  # the table still judges the figure
    result = evaluate(Item("x", targets=(("OR-1", "latency p50"),)), run, {})
    assert result.status == "not measured" and "quick run" in result.evidence[0].detail


def test_a_count_that_must_be_zero_fails_when_any_repeat_missed_it():
    """The median of [0, 2, 0] lost orders is 0; a loss in one repeat is still a loss."""

    def lost(n):
        return Figure("CR-1", "lost", n, "orders")

    run = run_bench(["CR-1"], quick=False, repeats=3, loader=fake_loader({"CR-1": [[lost(0)], [lost(2)], [lost(0)]]}))
    row = run.row("CR-1", "lost")
    assert (row.median, row.judged, row.status) == (0, 2, "fail")
    result = evaluate(Item("x", targets=(("CR-1", "lost"),)), run, {})
    (evidence,) = result.evidence
    assert result.status == "failed" and evidence.detail == "worst of 3: 2 orders"
    assert evidence.ref == "CR-1 lost <= 0 orders in every repeat"
    (row_json,) = json.loads(to_json(run, [result]))["rows"]
    assert (row_json["median"], row_json["judged"], row_json["status"]) == (0, 2, "fail")
    assert "<= 0 orders, every repeat | **fail**" in to_markdown(run, [result])
    assert collect([[lost(0)], [lost(0)]])[0].status == "pass"
    assert collect([[or1(40)], [or1(90)], [or1(45)]])[0].status == "pass"  # a latency is judged on its median


def test_the_checklist_names_only_targets_and_test_files_that_exist():
    from alluse.bench.figures import TARGETS
    from alluse.bench.validation import TESTS_DIR

    known = {(t.workload, t.name) for t in TARGETS}
    assert [t for item in CHECKLIST for t in item.targets if t not in known] == []
    files = {t.split("::")[0] for item in CHECKLIST for t in item.tests}
    assert [f for f in files if not (TESTS_DIR.parent / f).is_file()] == []
    named = [t.split("::") for item in CHECKLIST for t in item.tests if "::" in t]  # a renamed test unticks its item
    source = {f: (TESTS_DIR.parent / f).read_text() for f, _ in named}
    assert [f"{f}::{name}" for f, name in named if f"\ndef {name}" not in source[f]] == []


def test_a_missing_extra_is_skipped_not_failed_and_side_by_side_ratios_come_from_the_run():
    from alluse.bench.figures import WorkloadSkipped
    from alluse.bench.validation import side_by_side, to_markdown

    def load(name):
        if name == "NT":

            def missing(quick):
                raise WorkloadSkipped("NautilusTrader is not installed: pip install -e '.[compare]'")

            return missing
        return lambda quick: [or1(130)]

    run = run_bench(["OR-1", "NT"], quick=False, repeats=1, loader=load)
    assert run.failures == {} and "not installed" in run.skipped["NT"]
    assert "Skipped: NautilusTrader is not installed" in to_markdown(run, [])
    theirs = Figure("OR-1", "latency p50", 260.0, "us", "NautilusTrader 9.9")
    run = run_bench(
        ["OR-1", "NT"], quick=False, repeats=1, loader=lambda n: lambda q: [or1(130)] if n == "OR-1" else [theirs]
    )
    ((ours, other, ratio),) = side_by_side(run)
    assert (ours.median, other.median, ratio) == (130, 260, 2.0)
    from alluse.bench.validation import before_after

    assert before_after(run) == []  # another system is not a "before"
