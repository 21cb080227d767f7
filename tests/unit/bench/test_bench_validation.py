"""The harness and the validation report: figures become rows with medians and spreads, in rounds
alternating with NautilusTrader's, targets judge only what was measured in this run, and the
checklist is ticked by evidence alone."""

import json

import pytest

from alluse.bench.figures import OPTIMISED, Figure
from alluse.bench.harness import collect, parse_only, run_bench
from alluse.bench.targets import TARGETS, Target, verdict
from alluse.bench.validation import CHECKLIST, Item, evaluate, to_json, to_markdown, write_reports

NAUTILUS = "NautilusTrader 9.9"


def or1(p50: float, variant: str = OPTIMISED) -> Figure:
    return Figure("OR-1", "latency p50", p50, "us", variant)


def fake_loader(figures_by_workload):
    """Each workload (or "NT OR-1", NautilusTrader's side) returns its figures for one repeat after another."""

    def load(name):
        source = figures_by_workload[name]
        if isinstance(source, Exception):
            raise source
        it = iter(source)
        return lambda quick: next(it)

    return load


def test_rows_carry_every_repeat_in_order_and_a_target_judges_only_the_optimised_variant():
    slow_variant = "journal: a commit per event"
    repeats = [[or1(p50), or1(before, slow_variant)] for p50, before in ((40, 90), (60, 110), (45, 100))]
    fast, slow = collect(repeats)
    assert (fast.values, fast.median, fast.low, fast.high) == ([40, 60, 45], 45, 40, 60)
    assert (slow.variant, slow.median) == (slow_variant, 100)
    run = run_bench(["OR-1"], quick=False, repeats=3, loader=fake_loader({"OR-1": repeats}))
    v = verdict(run, Target("OR-1", "latency p50", "<=", 50, "us", absolute="for the test"))
    assert (v.ours.variant, v.per_round, v.judged, v.status) == (OPTIMISED, [40, 60, 45], 45, "pass")
    assert verdict(run, Target("OR-1", "latency p50", "<=", 44, "us", absolute="for the test")).status == "fail"


def test_a_failed_workload_is_reported_and_its_targets_are_not_measured():
    md1 = [[Figure("MD-1", "throughput", 2e6, "quotes/s", higher_is_better=True)]]
    load = fake_loader({"OR-1": RuntimeError("disk full"), "MD-1": md1})
    run = run_bench(["MD-1", "OR-1"], quick=False, repeats=1, loader=load)
    assert run.failures == {"OR-1": "RuntimeError: disk full"}
    assert run.row("MD-1", "throughput").values == [2e6]
    item = Item("order path", targets=(("OR-1", "latency p50"),))
    result = evaluate(item, run, {})
    assert result.status == "not measured" and "disk full" in result.evidence[0].detail


def test_an_item_without_evidence_cannot_exist_and_one_without_a_measurement_is_never_passed():
    with pytest.raises(ValueError, match="names no measurement and no test"):
        Item("trust me")
    run = run_bench([], quick=False, repeats=1, loader=fake_loader({}))
    for item in CHECKLIST:
        assert evaluate(item, run, {}).status == "not measured"  # nothing ran: nothing is ticked


def with_nautilus(ours_p50: float, their_p50: float):
    """A loader for OR-1 and NautilusTrader's OR-1, one repeat each."""
    return fake_loader({"OR-1": [[or1(ours_p50)]], "NT OR-1": [[or1(their_p50, NAUTILUS)]]})


def test_items_pass_only_when_every_piece_of_evidence_passed():
    run = run_bench(["OR-1", "NT"], quick=False, repeats=1, loader=with_nautilus(40, 240))  # 6x better
    both = Item("x", targets=(("OR-1", "latency p50"),), tests=("tests/a.py",))
    assert evaluate(both, run, {"tests/a.py": ("passed", "1 passed")}).status == "passed"
    assert evaluate(both, run, {"tests/a.py": ("failed", "1 of 1 failed")}).status == "failed"
    assert evaluate(both, run, {}).status == "not measured"  # the test did not run
    slow = run_bench(["OR-1", "NT"], quick=False, repeats=1, loader=with_nautilus(80, 240))  # 3x better
    assert evaluate(both, slow, {"tests/a.py": ("passed", "1 passed")}).status == "failed"


def test_the_reports_hold_the_figures_of_the_run_that_wrote_them(tmp_path):
    load = fake_loader({"OR-1": [[or1(41.5), or1(97.25, "journal: a commit per event")]]})
    run = run_bench(["OR-1"], quick=False, repeats=1, loader=load)
    checklist = [evaluate(i, run, {}) for i in CHECKLIST]
    md, js = write_reports(run, checklist, tmp_path / "out")
    data = json.loads(js.read_text())
    (row,) = [r for r in data["rows"] if r["variant"] == OPTIMISED]
    assert row["values"] == [41.5] and row["median"] == 41.5
    (p50,) = [t for t in data["targets"] if t["figure"] == "latency p50"]
    assert (p50["ours"], p50["status"], p50["reference"]["median"]) == (41.5, "not judged", None)
    (gain,) = data["before_after"]
    assert gain["times_better"] == pytest.approx(97.25 / 41.5)
    text = md.read_text()
    assert "41.5 us" in text and "97.2 us" in text and run.machine.cpu in text
    assert to_markdown(run, checklist) == text and to_json(run, checklist) == js.read_text()
    assert "- [x]" not in text  # no item has all its evidence in this run


def test_only_names_known_workloads():
    assert parse_only("or-1, MD-1") == ["MD-1", "OR-1"]
    assert parse_only("nt,or-1") == ["OR-1", "NT"]
    assert parse_only(None)[0] == "MD-1" and parse_only(None)[-1] == "NT"
    with pytest.raises(ValueError, match="unknown workload\\(s\\) XX-9"):
        parse_only("OR-1,XX-9")
    with pytest.raises(ValueError, match="NT runs in rounds with MD-1 or OR-1"):
        parse_only("NT,MD-2")


def test_test_evidence_comes_from_running_the_tests():
    from alluse.bench.validation import run_tests

    got = run_tests(["tests/unit/execution/test_retry.py", "tests/unit/execution/test_retry.py::test_no_such_test"])
    assert got["tests/unit/execution/test_retry.py"][0] == "passed"
    assert got["tests/unit/execution/test_retry.py::test_no_such_test"] == ("not run", "no such test collected")


def test_a_quick_run_shows_its_figures_but_ticks_nothing():
    run = run_bench(["OR-1", "NT"], quick=True, repeats=1, loader=with_nautilus(40, 240))
    (p50,) = [t for t in json.loads(to_json(run, []))["targets"] if t["figure"] == "latency p50"]
    assert p50["status"] == "pass"  # the table still judges the figure
    result = evaluate(Item("x", targets=(("OR-1", "latency p50"),)), run, {})
    assert result.status == "not measured" and "quick run" in result.evidence[0].detail
    assert "6.00x" in result.evidence[0].detail


def test_a_count_that_must_be_zero_fails_when_any_repeat_missed_it():
    """The median of [0, 2, 0] lost orders is 0; a loss in one repeat is still a loss."""

    def lost(n):
        return Figure("CR-1", "lost", n, "orders")

    run = run_bench(["CR-1"], quick=False, repeats=3, loader=fake_loader({"CR-1": [[lost(0)], [lost(2)], [lost(0)]]}))
    lost_target = next(t for t in TARGETS if (t.workload, t.name) == ("CR-1", "lost"))
    v = verdict(run, lost_target)
    assert (v.ours.median, v.judged, v.status) == (0, 2, "fail")
    result = evaluate(Item("x", targets=(("CR-1", "lost"),)), run, {})
    (evidence,) = result.evidence
    assert result.status == "failed" and evidence.detail == "worst of 3: 2 orders"
    assert evidence.ref == "CR-1 lost <= 0 orders in every repeat"
    (target_json,) = [t for t in json.loads(to_json(run, [result]))["targets"] if t["figure"] == "lost"]
    assert (target_json["ours"], target_json["judged"], target_json["status"]) == (0, 2, "fail")
    assert "<= 0 orders, every repeat | **fail** |" in to_markdown(run, [result])
    clean = run_bench(["CR-1"], quick=False, repeats=2, loader=fake_loader({"CR-1": [[lost(0)], [lost(0)]]}))
    assert verdict(clean, lost_target).status == "pass"
    p50 = Target("OR-1", "latency p50", "<=", 50, "us", absolute="for the test")
    noisy = run_bench(["OR-1"], quick=False, repeats=3, loader=fake_loader({"OR-1": [[or1(40)], [or1(90)], [or1(45)]]}))
    assert verdict(noisy, p50).status == "pass"  # a latency is judged on its median


def test_the_checklist_names_only_targets_and_test_files_that_exist():
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
    from alluse.bench.validation import before_after, side_by_side

    def load(name):
        if name == "NT OR-1":

            def missing(quick):
                raise WorkloadSkipped("NautilusTrader is not installed (the compare extra)")

            return missing
        return lambda quick: [or1(130)]

    run = run_bench(["OR-1", "NT"], quick=False, repeats=1, loader=load)
    assert run.failures == {} and "not installed" in run.skipped["NT"]
    assert "Skipped: NautilusTrader is not installed" in to_markdown(run, [])
    load = fake_loader({"OR-1": [[or1(130)], [or1(100)]], "NT OR-1": [[or1(260, NAUTILUS)], [or1(400, NAUTILUS)]]})
    run = run_bench(["OR-1", "NT"], quick=False, repeats=2, loader=load)
    ((ours, other, ratio),) = side_by_side(run)
    # the median of the rounds' ratios (2 and 4), not the ratio of the medians (330 / 115)
    assert (ours.median, other.median, ratio) == (115, 330, 3.0)
    assert before_after(run) == []  # another system is not a "before"
