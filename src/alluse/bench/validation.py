"""The validation report: every target and goal with the figure it judges and that figure's reference,
both measured in this run (targets.py), what each optimisation buys (the same work with it switched
off, same run), and a production-readiness checklist whose items are ticked only by their evidence:
the targets they name must have been measured and met, and the tests they name must have run and
passed in this run.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from alluse.bench.figures import OPTIMISED, OTHER_SYSTEM
from alluse.bench.harness import NT, BenchRun, Row
from alluse.bench.targets import (
    GOALS,
    PASS,
    TARGETS,
    TIMES_BETTER,
    Verdict,
    judge,
    judged_text,
    number,
    relate,
    verdict,
)
from alluse.common.clock import ns_to_datetime

TESTS_DIR = Path(__file__).resolve().parents[3] / "tests"  # the source checkout (`pip install -e .`)


@dataclass(slots=True, frozen=True)
class Item:
    """A checklist item and what proves it: targets as (workload, figure) and tests as paths under tests/
    (a file, or file::test name)."""

    text: str
    targets: tuple[tuple[str, str], ...] = ()
    tests: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.targets and not self.tests:
            raise ValueError(f"checklist item {self.text!r}: names no measurement and no test; nothing could tick it")


@dataclass(slots=True)
class Evidence:
    ref: str  # "OR-1 latency p50 <= 50 us" or a test id
    status: str  # "passed" | "failed" | "not measured" | "not run"
    detail: str


@dataclass(slots=True)
class ItemResult:
    text: str
    status: str  # "passed" only when every piece of evidence passed in this run
    evidence: list[Evidence]


CHECKLIST: tuple[Item, ...] = (
    Item("Market data keeps up: quote throughput well ahead of NautilusTrader's, and at 100k quotes/s a p99 close "
         "to a bare paced loop's (on the reference machine: a million quotes a second, 20 us)",
         targets=(("MD-1", "throughput"), ("MD-2", "latency p99"))),
    Item("The order path is fast with its journal: p50 and throughput ahead of NautilusTrader's by the margins of "
         "p50 <= 50 us on the reference machine and of the pre-renovation code's worst recorded run, p99 no worse "
         "than NautilusTrader's; paced, p99 <= 500 us",
         targets=(("OR-1", "latency p50"), ("OR-1", "latency p99"), ("OR-1", "throughput"),
                  ("OR-1", "paced latency p99 at 2,500 orders/s"))),
    Item("Journal before send: an order is on disk before the broker sees it",
         tests=("tests/unit/execution/test_oms.py::test_submit_journals_before_the_broker_and_fills_reach_the_ledger",
                "tests/unit/execution/test_oms.py::test_with_the_intent_log_a_failed_commit_stops_new_orders",
                "tests/unit/execution/test_oms.py::test_a_full_log_is_committed_and_started_over",
                "tests/unit/execution/test_journal.py::test_an_intent_is_durable_in_the_log",
                "tests/unit/execution/test_journal.py::test_a_restart_commits_the_intents_a_crashed_process_left",
                "tests/unit/execution/test_journal.py::test_a_torn_last_record_is_ignored",
                "tests/unit/execution/test_journal.py::test_without_the_intent_log_an_intent_is_committed_at_once")),
    Item("Broker faults lose, duplicate or misclassify no order",
         targets=(("ER-1", "lost"), ("ER-1", "duplicated"), ("ER-1", "misclassified")),
         tests=("tests/property/test_oms_venue_stateful.py",)),
    Item("kill -9 at any moment loses and duplicates nothing",
         targets=(("CR-1", "lost"), ("CR-1", "duplicated")), tests=("tests/e2e/test_cr1_crash.py",)),
    Item("Bad input is refused naming the field and the value, and nothing is written",
         tests=("tests/unit/execution/test_oms.py::test_bad_orders_are_refused_naming_the_field",
                "tests/e2e/test_cli_run.py::test_bad_config_key_is_a_clear_error")),
    Item("The feed's instrumentation costs MD-1 at most 5% (the collector's share is a figure of its own) and a "
         "broken metrics store raises an alert while trading goes on",
         targets=(("MON-1", "instrumentation overhead"),),
         tests=("tests/e2e/test_monitoring_run.py::test_a_metrics_db_that_is_not_a_database",)),
    Item("The report and dashboard over 24 h of metrics build in at most 30 s",
         targets=(("AN-1", "report and dashboard"),)),
)  # fmt: skip


def _outcome(case: ET.Element) -> str | None:
    """None: passed; else "failure", "error" or "skipped"."""
    return next((k.tag for k in case if k.tag in ("failure", "error", "skipped")), None)


def run_tests(ids: Sequence[str], tests_dir: Path = TESTS_DIR) -> dict[str, tuple[str, str]]:
    """Runs the named tests in one pytest process: id -> (status, detail). A test id matches every test
    collected from that file (or whose name starts with the given name), and passes only if all passed."""
    root = tests_dir.parent
    if not tests_dir.is_dir():
        return {i: ("not run", f"no tests/ beside the package ({tests_dir})") for i in ids}
    files = sorted({i.split("::")[0] for i in ids})
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "junit.xml"
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}", *files],
            cwd=root, capture_output=True, text=True,
        )  # fmt: skip
        if not xml.exists():
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-1:] or ["no output"]
            return {i: ("not run", f"pytest did not run: {tail[0]}") for i in ids}
        cases = [
            (c.get("classname", ""), c.get("name", ""), _outcome(c)) for c in ET.parse(xml).getroot().iter("testcase")
        ]
    out = {}
    for i in ids:
        file, _, name = i.partition("::")
        module = file.removesuffix(".py").replace("/", ".")
        # a test class (hypothesis' state machines) puts its name after the module's
        mine = [
            (n, bad)
            for cls, n, bad in cases
            if (cls == module or cls.startswith(module + ".")) and n.startswith(name)  # or a class in it
        ]
        failed = [n for n, bad in mine if bad in ("failure", "error")]
        if not mine:
            out[i] = ("not run", "no such test collected")
        elif failed:
            out[i] = ("failed", f"{len(failed)} of {len(mine)} failed: {', '.join(failed[:3])}")
        elif all(bad == "skipped" for _, bad in mine):
            out[i] = ("not run", f"all {len(mine)} skipped")
        else:
            out[i] = ("passed", f"{len(mine)} passed")
    return out


def _target_evidence(run: BenchRun, workload: str, name: str) -> Evidence:
    target = next((t for t in TARGETS if (t.workload, t.name) == (workload, name)), None)
    if target is None:
        return Evidence(f"{workload} {name}", "not measured", "no such target")
    v = verdict(run, target)
    ref = target.describe()
    if v.judged is None:  # not measured, or its reference was not: neither passed nor failed
        return Evidence(ref, "not measured", f"{v.status}: {v.why}")
    which = "median" if target.judge == "median" else f"worst of {len(v.per_round)}:"
    value = f"{which} {judged_text(target, v.judged)}"
    if run.quick:  # smaller than the workload the target is set for: shown, never ticked
        return Evidence(ref, "not measured", f"quick run (reduced size): {value}")
    return Evidence(ref, "passed" if v.status == PASS else "failed", value)


def evaluate(item: Item, run: BenchRun, tests: Mapping[str, tuple[str, str]]) -> ItemResult:
    evidence = [_target_evidence(run, w, n) for w, n in item.targets]
    evidence += [Evidence(t, *tests.get(t, ("not run", "tests not run (--no-tests or --quick)"))) for t in item.tests]
    statuses = {e.status for e in evidence}
    if statuses == {"passed"}:
        status = "passed"
    elif "failed" in statuses:
        status = "failed"
    else:
        status = "not measured"
    return ItemResult(item.text, status, evidence)


def _row_json(r: Row) -> dict:
    return {
        "workload": r.workload, "figure": r.name, "variant": r.variant, "unit": r.unit, "values": r.values,
        "median": r.median, "min": r.low, "max": r.high,
    }  # fmt: skip


def _verdict_json(v: Verdict) -> dict:
    t, ref = v.target, v.target.reference
    return {
        "workload": t.workload, "figure": t.name, "unit": t.unit, "target": t.describe(),
        "ours": None if v.ours is None else v.ours.median,
        "reference": None if ref is None else {
            "figure": ref.name, "how": ref.how, "variant": None if v.reference is None else v.reference.variant,
            "median": None if v.reference is None else v.reference.median,
        },
        "absolute": t.absolute or None, "comparison": t.comparison, "limit": t.limit, "judge": t.judge,
        "per_round": v.per_round, "judged": v.judged, "status": v.status, "why": v.why or None,
    }  # fmt: skip


def _against_optimised(run: BenchRun, keep: Callable[[str], bool]) -> list[tuple[Row, Row, float]]:
    """(our optimised row, the other row, how many times better ours is) for every other row `keep` picks:
    the median of the rounds' ratios, each round's two figures measured next to each other, as a target
    judges them."""
    out = []
    for other in run.rows:
        if other.variant == OPTIMISED or not keep(other.variant):
            continue
        ours = run.row(other.workload, other.name)
        if ours is None or 0 in ours.values or 0 in other.values:
            continue
        rounds = zip(ours.values, other.values, strict=False)
        gain = statistics.median(relate(TIMES_BETTER, o, t, ours.higher_is_better) for o, t in rounds)
        out.append((ours, other, gain))
    return out


def before_after(run: BenchRun) -> list[tuple[Row, Row, float]]:
    """Per figure with a "before" variant: what the optimisation switched off in it buys."""
    return _against_optimised(run, lambda variant: not variant.startswith(OTHER_SYSTEM))


def side_by_side(run: BenchRun) -> list[tuple[Row, Row, float]]:
    """Per figure measured through the other system too: same run, same work."""
    return _against_optimised(run, lambda variant: variant.startswith(OTHER_SYSTEM))


def to_json(run: BenchRun, checklist: Sequence[ItemResult]) -> str:
    return json.dumps(
        {
            "schema_version": 2,
            "started": ns_to_datetime(run.started_ns).isoformat(),
            "seconds": run.seconds,
            "quick": run.quick,
            "repeats": run.repeats,
            "machine": {
                "cpu": run.machine.cpu,
                "cores": run.machine.cores,
                "python": run.machine.python,
                "system": run.machine.system,
                "build": run.machine.build,
            },  # fmt: skip
            "workloads": run.workloads,
            "failures": run.failures,
            "skipped": run.skipped,
            "targets": [_verdict_json(v) for v in judge(run, TARGETS)],
            "goals": [_verdict_json(v) for v in judge(run, GOALS)],
            "rows": [_row_json(r) for r in run.rows],
            "before_after": [
                {
                    "workload": a.workload,
                    "figure": a.name,
                    "before": b.variant,
                    "optimised": a.median,
                    "before_value": b.median,
                    "unit": a.unit,
                    "times_better": g,
                }
                for a, b, g in before_after(run)
            ],  # fmt: skip
            "side_by_side": [
                {
                    "workload": o.workload,
                    "figure": o.name,
                    "ours": o.median,
                    "other": t.variant,
                    "other_value": t.median,
                    "unit": o.unit,
                    "times_better": r,
                }
                for o, t, r in side_by_side(run)
            ],  # fmt: skip
            "checklist": [
                {
                    "item": i.text,
                    "status": i.status,
                    "evidence": [{"ref": e.ref, "status": e.status, "detail": e.detail} for e in i.evidence],
                }
                for i in checklist
            ],  # fmt: skip
        },
        indent=2,
    )


VERDICT_COLUMNS = ("workload", "figure", "ours", "reference", "judged: median (min - max)", "limit", "status")


def verdict_cells(v: Verdict) -> tuple[str, ...]:
    """A target's or goal's row, as VERDICT_COLUMNS: both absolute figures (medians over the rounds), the
    quantity judged, the limit, and the status with what was missing when it could not be judged."""
    t = v.target
    ours = "-" if v.ours is None else f"{number(v.ours.median)} {v.ours.unit}"
    if t.reference is None:
        reference = f"none: {t.absolute}"
    elif v.reference is None:
        reference = f"{t.reference.label}: not measured"
    else:
        r = v.reference
        reference = f"{r.variant if r.variant != OPTIMISED else r.name}: {number(r.median)} {r.unit}"
    status = f"{v.status}: {v.why}" if v.why else v.status
    return (t.workload, t.name, ours, reference, v.judged_text(), t.limit_text(), status)


def _verdict_table(verdicts: Sequence[Verdict]) -> list[str]:
    lines = ["| " + " | ".join(VERDICT_COLUMNS) + " |", "|" + "---|" * len(VERDICT_COLUMNS)]
    for v in verdicts:
        *cells, _ = verdict_cells(v)
        why = f": {v.why}" if v.why else ""
        lines.append("| " + " | ".join([*cells, f"**{v.status}**{why}"]) + " |")
    return lines


def to_markdown(run: BenchRun, checklist: Sequence[ItemResult]) -> str:
    m = run.machine
    when = f"{ns_to_datetime(run.started_ns):%Y-%m-%d %H:%M} UTC"
    lines = [
        "# Validation report",
        "",
        f"{when}, {'quick' if run.quick else 'full'} run, {run.repeats} repeat(s), {run.seconds:.0f} s; "
        f"{m.cpu}, {m.cores} cores, Python {m.python}, {m.system}; {m.build}.",
        "",
        "## Targets",
        "",
        "Each target judges a figure of this run against a reference measured in the same run, in rounds "
        "alternating with ours: NautilusTrader on the same work (how many times better ours is) or a floor the "
        "run measures (how far above it ours is). The judged quantity is the median over the rounds, each round's "
        "two figures measured next to each other; the figures beside it are each side's median. A target with "
        "no reference is absolute, and says why. Not judged: its reference was not measured (neither passed "
        "nor failed). Where the limits come from: docs/performance.md.",
        "",
        *_verdict_table(judge(run, TARGETS)),
        *(f"\nFailed: {side}: {why}" for side, why in run.failures.items()),
        "",
        "## Goals",
        "",
        "The next performance goals, judged as the targets are; where they stand never fails the run.",
        "",
        *_verdict_table(judge(run, GOALS)),
    ]
    lines += ["", "## What each optimisation buys (same run)", ""]
    lines += ["| workload | figure | optimised | with it switched off | x better |", "|---|---|---|---|---|"]
    for a, b, gain in before_after(run):
        before = f"{b.variant}: {number(b.median)} {b.unit}"
        lines.append(f"| {a.workload} | {a.name} | {number(a.median)} {a.unit} | {before} | {gain:.2f} |")
    lines += ["", "## All figures", "", "| workload | figure | variant | median | min | max | repeats |",
              "|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in run.rows:
        lines.append(f"| {r.workload} | {r.name} | {r.variant} | {number(r.median)} {r.unit} | {number(r.low)} | "
                     f"{number(r.high)} | {len(r.values)} |")  # fmt: skip
    lines += ["", "## Production-readiness checklist", ""]
    for item in checklist:
        box = "x" if item.status == "passed" else " "
        lines.append(f"- [{box}] **{item.text}** ({item.status})")
        lines += [f"  - {e.status}: {e.ref} ({e.detail})" for e in item.evidence]
    lines += ["", "## Side by side with NautilusTrader (same run, same work)", ""]
    if NT in run.skipped:
        lines.append(f"Skipped: {run.skipped[NT]}.")
    elif NT not in run.workloads:
        lines.append("Not in this run (`--only` left out NT).")
    else:
        lines += ["| workload | figure | ours | NautilusTrader | x better |", "|---|---|---|---|---|"]
        for ours, theirs, ratio in side_by_side(run):
            lines.append(f"| {ours.workload} | {ours.name} | {number(ours.median)} {ours.unit} | "
                         f"{number(theirs.median)} {theirs.unit} ({theirs.variant}) | {ratio:.2f} |")  # fmt: skip
        lines += ["", "NautilusTrader keeps no journal (inside ours, every order is made durable in the intent "
                      "log before it is sent, and the group commits to SQLite count in the throughput), builds "
                      "and checks its quote objects outside the timed loop, and takes one quote per call; "
                      "see src/alluse/bench/nautilus.py."]  # fmt: skip
    lines.append("")
    return "\n".join(lines)


def write_reports(run: BenchRun, checklist: Sequence[ItemResult], out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    md, js = out_dir / "validation.md", out_dir / "validation.json"
    md.write_text(to_markdown(run, checklist))
    js.write_text(to_json(run, checklist))
    return md, js
