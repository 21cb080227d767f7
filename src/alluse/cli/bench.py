"""`alluse bench`: run the benchmark workloads and write the validation report."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from alluse.cli.inputs import check_count, check_writable_dir
from alluse.cli.output import console, err, error

if TYPE_CHECKING:  # the harness loads only when the bench runs
    from alluse.bench.harness import BenchRun
    from alluse.bench.validation import ItemResult


def register(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser("bench", help="run the benchmark workloads and write the validation report")
    bench.add_argument("--quick", action="store_true", help="small sizes, 1 repeat, no tests: under a minute")
    bench.add_argument("--only", help="comma-separated workloads, e.g. MD-1,OR-1 (default: all)")
    bench.add_argument("--repeats", type=int, help="runs of each workload (default 3, 1 with --quick)")
    bench.add_argument("--out", type=Path, default=Path("bench-results"), help="validation.md/.json go here")
    tests = bench.add_mutually_exclusive_group()
    tests.add_argument("--tests", dest="tests", action="store_true", default=None, help="run the checklist's tests")
    tests.add_argument("--no-tests", dest="tests", action="store_false", help="do not (the default with --quick)")
    bench.set_defaults(func=bench_command)


def bench_command(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from alluse.bench.harness import parse_only, run_bench
    from alluse.bench.targets import run_failed
    from alluse.bench.validation import CHECKLIST, evaluate, run_tests, write_reports

    try:
        names = parse_only(args.only)
    except ValueError as exc:  # names the option and the workloads it does not know
        error(str(exc))
        return 2
    repeats = args.repeats if args.repeats is not None else (1 if args.quick else 3)
    check_count("--repeats", repeats, 1)
    check_writable_dir("--out", args.out)  # before the workloads run, not after
    logging.getLogger("alluse").setLevel(logging.ERROR)  # the workloads inject faults on purpose
    # redrawn only between runs: rich's refresh thread (10 a second) would take the GIL in the middle of
    # the measurements (docs/performance.md)
    progress = Progress(
        TextColumn("[bold]bench"), BarColumn(), TextColumn("{task.fields[what]}"), TimeRemainingColumn(),
        console=err, transient=True, auto_refresh=False,
    )  # fmt: skip
    task = progress.add_task("bench", total=len(names) * repeats, what="")
    steps = {name: i for i, name in enumerate(names)}

    def advance(name: str, i: int, n: int) -> None:
        progress.update(task, completed=steps[name] * n + i, what=f"{name} run {i + 1}/{n}")
        progress.refresh()

    with progress:
        run = run_bench(names, quick=args.quick, repeats=repeats, progress=advance)
    wanted = sorted({t for item in CHECKLIST for t in item.tests})
    with_tests = (not args.quick) if args.tests is None else args.tests
    if with_tests:
        with console.status("running the checklist's tests"):
            tests = run_tests(wanted)
    else:
        tests = {}
    checklist = [evaluate(item, run, tests) for item in CHECKLIST]
    _print_bench(run, checklist)
    md, js = write_reports(run, checklist, args.out)
    console.print(f"validation report: {md}, {js}", highlight=False)
    return 1 if run_failed(run) else 0


def _print_bench(run: BenchRun, checklist: list[ItemResult]) -> None:
    from rich.markup import escape
    from rich.table import Table

    from alluse.bench.targets import GOALS, TARGETS, judge, number
    from alluse.bench.validation import VERDICT_COLUMNS, before_after, side_by_side, verdict_cells

    m = run.machine
    table = Table(title=f"benchmarks: {'quick' if run.quick else 'full'}, {run.repeats} repeat(s), {run.seconds:.0f} s "
                        f"on {m.cpu} ({m.cores} cores), Python {m.python}")  # fmt: skip
    for col in ("workload", "figure", "variant", "median", "spread (min - max)"):
        table.add_column(col, justify="right" if col in ("median",) else "left")
    for r in run.rows:
        table.add_row(r.workload, r.name, r.variant, f"{number(r.median)} {r.unit}",
                      f"{number(r.low)} - {number(r.high)}")  # fmt: skip
    for name, why in run.failures.items():
        table.add_row(name, "(workload failed)", "-", "-", f"[red]not measured[/]: {escape(why)}")
    console.print(table)
    colour = {"pass": "green", "met": "green", "fail": "red", "not met": "yellow"}
    for title, targets in (("targets, judged against the same run", TARGETS), ("goals (never fail the run)", GOALS)):
        verdicts = Table(title=title)
        for col in VERDICT_COLUMNS:
            verdicts.add_column(col)
        for v in judge(run, targets):
            *cells, status = verdict_cells(v)
            verdicts.add_row(*map(escape, cells), f"[{colour.get(v.status, 'dim')}]{escape(status)}[/]")
        console.print(verdicts)
    for after, before, gain in before_after(run):
        console.print(f"  {after.workload} {after.name}: {number(after.median)} {after.unit} optimised vs "
                      f"{number(before.median)} with {before.variant} ({gain:.2f}x)", highlight=False)  # fmt: skip
    for ours, theirs, ratio in side_by_side(run):
        console.print(f"  {ours.workload} {ours.name}: ours {number(ours.median)} {ours.unit} vs "
                      f"{number(theirs.median)} {theirs.variant} ({ratio:.2f}x)", highlight=False)  # fmt: skip
    for name, why in run.skipped.items():
        console.print(f"  {name} skipped: {escape(why)}", highlight=False)
    for item in checklist:
        mark = {"passed": "[green]x[/]", "failed": "[red]![/]"}.get(item.status, " ")
        console.print(f"\\[{mark}] {escape(item.text)} ({item.status})", highlight=False)
