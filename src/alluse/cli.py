"""The `alluse` command. The only place that prints."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from alluse import build
from alluse.app.config import Config, ConfigError, load_config
from alluse.common.clock import datetime_to_ns, ns_to_datetime
from alluse.execution.journal import Journal, JournalError
from alluse.monitoring.alert_history import ALERTS_FILE, AlertHistory, AlertHistoryError
from alluse.monitoring.http import MetricsServerError
from alluse.monitoring.notifiers import NotifierError
from alluse.monitoring.store import METRICS_FILE, MetricsStore, MetricsStoreError

# piped output (CI logs, `| less`) gets a wide table instead of rich's 80-column default
console = Console(width=None if sys.stdout.isatty() else 132)
err = Console(stderr=True)


def _money(x: Decimal | float | None) -> str:
    return "-" if x is None else f"{Decimal(x):,.2f}"


def _opt(x: float | None, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def _duration(ms: float | None) -> str:
    if ms is None:
        return "-"
    if ms < 1000:
        return f"{ms:.1f} ms"
    if ms < 120_000:
        return f"{ms / 1000:.1f} s"
    return f"{ms / 60_000:.1f} min"


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alluse", description="ALL-USE market integration")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-v info, -vv debug)")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the paper-trading system on the simulated market")
    run.add_argument("--config", type=Path, help="TOML config file (defaults otherwise)")
    run.add_argument("--duration", type=float, help="wall-clock seconds to run (default 60)")
    run.add_argument("--speed", type=float, help="simulated seconds per wall second (default 8000)")
    run.add_argument("--seed", type=int, help="random seed of the simulated market")
    run.add_argument("--data-dir", type=Path, help="where the journal lives (default ./data)")
    run.add_argument("--metrics-port", type=int, help="serve /metrics and /health on this port (0 = any free port)")

    alerts = sub.add_parser("alerts", help="alert history of a data dir")
    alerts.add_argument("--data-dir", type=Path, default=Path("data"))
    alerts.add_argument("--state", choices=["firing", "resolved"], help="only this state")
    alerts.add_argument("--severity", choices=["info", "warning", "critical"])
    alerts.add_argument("--limit", type=int, default=50, help="newest N events (default 50)")

    metrics = sub.add_parser("metrics", help="latest metric values, or one series over a time range")
    metrics.add_argument("--data-dir", type=Path, default=Path("data"))
    metrics.add_argument("--series", help="one series (as listed), e.g. 'alluse_order_latency_seconds:p99'")
    metrics.add_argument("--prefix", default="alluse_", help="with no --series: only series starting with this")
    metrics.add_argument("--minutes", type=float, default=10.0, help="with --series: how far back (default 10)")

    report = sub.add_parser("report", help="analyse a data dir's metrics: dashboard PNG, JSON report, graded summary")
    report.add_argument("--config", type=Path, help="TOML config file: its [analytics] section (defaults otherwise)")
    report.add_argument("--data-dir", type=Path, default=Path("data"))
    span = report.add_mutually_exclusive_group()
    span.add_argument("--hours", type=float, help="the last H hours of data (default 24)")
    span.add_argument("--since", help="from this UTC time (ISO 8601, e.g. 2026-11-26T09:30) to the newest sample")
    report.add_argument("--out", type=Path, help="where the files go (default DATA_DIR/report)")
    report.add_argument("--schema", action="store_true", help="print the JSON report's schema and exit")

    bench = sub.add_parser("bench", help="run the benchmark workloads and write the validation report")
    bench.add_argument("--quick", action="store_true", help="small sizes, 1 repeat, no tests: under a minute")
    bench.add_argument("--only", help="comma-separated workloads, e.g. MD-1,OR-1 (default: all)")
    bench.add_argument("--repeats", type=int, help="runs of each workload (default 3, 1 with --quick)")
    bench.add_argument("--out", type=Path, default=Path("bench-results"), help="validation.md/.json go here")
    tests = bench.add_mutually_exclusive_group()
    tests.add_argument("--tests", dest="tests", action="store_true", default=None, help="run the checklist's tests")
    tests.add_argument("--no-tests", dest="tests", action="store_false", help="do not (the default with --quick)")

    halt = sub.add_parser("halt", help="stop new orders on an account (all by default); working ones are cancelled")
    resume = sub.add_parser("resume", help="let an account trade again")
    for p in (halt, resume):
        p.add_argument("--data-dir", type=Path, default=Path("data"))
        p.add_argument("--account", action="append", help="the account (repeatable; default: every account)")
        p.add_argument("--reason", default="operator", help="recorded with the change")
    halt.add_argument("--reducing", action="store_true", help="REDUCING instead of HALTED: only closing orders")

    for name, help_text in (
        ("orders", "list the orders in a data dir's journal"),
        ("positions", "show positions and cash from a data dir's journal"),
    ):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--data-dir", type=Path, default=Path("data"))
        if name == "orders":
            p.add_argument("--status", help="only orders in this status (e.g. FILLED)")
            p.add_argument("--limit", type=int, default=50, help="newest N orders (default 50, 0 = all)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "orders":
            return _orders(args)
        if args.command in ("halt", "resume"):
            return _set_trading_state(args)
        if args.command == "alerts":
            return _alerts(args)
        if args.command == "metrics":
            return _metrics(args)
        if args.command == "report":
            return _report(args)
        if args.command == "bench":
            return _bench(args)
        return _positions(args)
    except (ConfigError, JournalError, MetricsServerError, MetricsStoreError, AlertHistoryError, NotifierError) as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        return 2


# ---------------------------------------------------------------------------- run


def _run(args: argparse.Namespace) -> int:
    from alluse.app.run_summary import build_summary
    from alluse.app.system import run_live

    overrides = {
        "monitoring": {"metrics_port": args.metrics_port},
        "run": {
            "duration_s": args.duration,
            "speed": args.speed,
            "seed": args.seed,
            "data_dir": None if args.data_dir is None else str(args.data_dir),
        },
    }
    config = load_config(args.config, overrides)
    console.print(
        f"[bold]ALL-USE[/] paper trading on the simulated market: {config.run.duration_s:g}s wall at "
        f"{config.run.speed:g}x, seed {config.run.seed}, data dir {config.run.data_dir}  (Ctrl-C stops cleanly)"
    )
    console.print(f"build: {build.describe()}", highlight=False)

    progress = Progress(
        TextColumn("[bold]trading"),
        BarColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
        console=console,
        transient=True,
    )
    task = progress.add_task("run", total=config.run.duration_s, status="starting")

    announced = []

    def show(system, elapsed: float) -> None:
        m = system.monitoring
        if not announced and m is not None and config.monitoring.metrics_port is not None:
            announced.append(True)
            host = config.monitoring.metrics_host
            console.print(f"serving http://{host}:{m.server.port}/metrics and /health", highlight=False)
        c = system.c
        progress.update(
            task,
            completed=elapsed,
            status=(
                f"{ns_to_datetime(system.clock.now_ns()):%a %H:%M} sim | quotes {c.engine.accepted:,} | "
                f"orders {c.oms.counters.submitted + c.oms.counters.denied} | fills {len(c.quality.records)}"
            ),
        )

    fired = []

    def alert(event) -> None:
        fired.append(event)
        colour = {"critical": "red", "warning": "yellow"}.get(event.severity, "cyan")
        console.print(f"[{colour}]alert[/] {escape(event.summary())}", highlight=False)

    async def main_task():
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        return await run_live(config, stop, on_progress=show, on_alert=alert)

    t0 = time.perf_counter()
    wall_start_ns = time.time_ns()
    with progress:
        system = asyncio.run(main_task())
    try:
        summary = build_summary(system, time.perf_counter() - t0, system.sim_start_ns)
    finally:
        system.close()
    _print_summary(config, summary)
    _print_alerts(fired, system)
    _report_on_exit(config, wall_start_ns)
    return 0 if summary.consistent else 1


def _report_on_exit(config: Config, wall_start_ns: int) -> None:
    """The run's own report, over this run's metrics. A report that cannot be written is said loudly but
    does not fail the run: the exit code speaks for the book (journal, ledger and venue agree)."""
    if not (config.analytics.report_on_exit and config.monitoring.enabled and config.monitoring.store):
        console.print("report: off (analytics.report_on_exit, or no metrics store)")
        return
    data_dir = Path(config.run.data_dir)
    _write_report(config, data_dir, data_dir / config.analytics.report_dir, since_ns=wall_start_ns)


def _print_alerts(fired, system) -> None:
    m = system.monitoring
    if m is None:
        console.print("monitoring: off")
        return
    firing = m.alerts.firing()
    console.print(
        f"alerts this run: {len(fired)} events ("
        + (", ".join(f"{e.rule} {e.state.value.lower()}" for e in fired) or "none")
        + f"); firing at the end: {', '.join(a.rule.name for a in firing) or 'none'}"
    )
    if m.store is not None:
        console.print(
            f"metrics: {m.store.written_samples:,} samples stored in {m.store.path}, "
            f"{m.store.dropped_samples:,} dropped; `alluse metrics` and `alluse alerts` read them"
        )


def _print_summary(config: Config, s) -> None:  # s: RunSummary
    console.rule("[bold]run summary")
    console.print(
        f"wall {s.wall_seconds:.1f}s; simulated {s.sim_start} -> {s.sim_end} UTC; session {s.session}; "
        f"recovered {s.recovered_orders} orders from the journal ({s.recovered_open_resolved} open ones resolved)"
    )
    md = Table(title="market data", show_header=True)
    md.add_column("quotes accepted", justify="right")
    md.add_column("rejected", justify="right")
    md.add_column("rejected by reason")
    md.add_column("cache", justify="left")
    rejected = {k: v for k, v in s.quotes_rejected.items() if v}
    md.add_row(
        f"{s.quotes_accepted:,}",
        f"{sum(rejected.values()):,}",
        ", ".join(f"{k}={v}" for k, v in rejected.items()) or "none",
        ", ".join(f"{k}={v:,}" for k, v in s.cache.items()),
    )
    console.print(md)

    orders = Table(title="orders this run (final state)")
    for col in ("state", "orders"):
        orders.add_column(col, justify="right" if col == "orders" else "left")
    for state, n in sorted(s.orders_this_run.items()):
        orders.add_row(state, str(n))
    orders.add_row("[bold]total", f"[bold]{sum(s.orders_this_run.values())}")
    console.print(orders)
    console.print(
        f"fills {s.fills_this_run}, settlements (expiry/assignment) {s.settlements_this_run}, "
        f"commissions {_money(s.commissions_this_run)}; risk denials: "
        + (", ".join(f"{k}={v}" for k, v in s.risk_denials.items()) or "none")
    )
    if s.strategy:
        console.print("strategy: " + ", ".join(f"{k}={v}" for k, v in s.strategy.items()))
    console.print(
        "execution: "
        + (", ".join(f"{k.replace('_', ' ')} {v}" for k, v in s.execution.items()) or "no retries, no faults met")
        + (f"; faults injected by the venue: {', '.join(f'{k}={v}' for k, v in s.faults_injected.items())}"
           if s.faults_injected else "")
    )  # fmt: skip
    console.print("trading states: " + ", ".join(f"{a} {st}" for a, st in s.trading_states.items()))

    pos = Table(title="positions")
    for col in ("account", "instrument", "qty", "avg cost", "mark (mid)", "unrealized"):
        pos.add_column(col, justify="left" if col in ("account", "instrument") else "right")
    for p in s.positions:
        pos.add_row(
            p.account, p.instrument_id, str(p.quantity), _money(p.avg_cost), _opt(p.mark, ".2f"), _money(p.unrealized)
        )
    if not s.positions:
        pos.add_row("-", "no open positions", "", "", "", "")
    console.print(pos)

    acc = Table(title="accounts")
    for col in ("account", "deposits", "cash", "commissions", "realized P&L", "unrealized P&L", "fills"):
        acc.add_column(col, justify="left" if col == "account" else "right")
    for a in s.accounts:
        acc.add_row(
            a.account,
            _money(a.deposits),
            _money(a.cash),
            _money(a.commissions),
            _money(a.realized_pnl),
            _money(a.unrealized_pnl),
            str(a.fills),
        )
    console.print(acc)

    q = s.quality
    console.print(
        f"execution quality: fills {q.fills}, mean slippage vs arrival mid {_opt(q.mean_slippage_bps, '.1f')} bps "
        f"(positive = worse), median submit-to-fill {_duration(q.median_latency_ms)} (simulated time), "
        f"fill ratio {_opt(q.fill_ratio, '.1%')}, venue reject rate {_opt(q.reject_rate, '.1%')}"
    )
    verdict = "[green]consistent[/]" if s.consistent else "[red]INCONSISTENT[/]: " + "; ".join(s.consistency_detail)
    console.print(f"positions and cash: live ledger vs the journal's fills vs the venue's own records: {verdict}")
    console.print(f"journal: {s.journal_path}")


# ---------------------------------------------------------------------------- journal readers


def _open_journal(data_dir: Path) -> Journal:
    return Journal(data_dir / "journal.db", readonly=True)


def _set_trading_state(args: argparse.Namespace) -> int:
    """Journaled, so a running system picks it up within a second and a restart keeps it."""
    state = "ACTIVE" if args.command == "resume" else ("REDUCING" if args.reducing else "HALTED")
    path = args.data_dir / "journal.db"
    if not path.exists():
        raise JournalError(f"journal {path}: no such file (has the system run with --data-dir {args.data_dir}?)")
    journal = Journal(path, intent_log=False)  # a running system owns the log; this commits directly
    try:
        known = sorted(journal.load().deposits)
        accounts = args.account or known
        unknown = [a for a in accounts if a not in known]
        if unknown:
            err.print(f"[bold red]error:[/] account={unknown[0]!r}: not in this journal (known: {', '.join(known)})")
            return 2
        # stamped on the journal's own clock (simulated time in a simulated run), so an operator's
        # command never moves simulated time; the wall time goes into the reason
        ts = journal.last_event_ts() or 0
        reason = f"{args.reason} (operator, {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC)"
        for account in accounts:
            journal.record_trading_state(account, state, reason, "cli", ts)
    finally:
        journal.close()
    console.print(f"{', '.join(accounts)} -> {state} ({args.reason})")
    return 0


def _alerts(args: argparse.Namespace) -> int:
    if args.limit < 1:
        err.print(f"[bold red]error:[/] limit={args.limit}: must be at least 1")
        return 2
    history = AlertHistory(args.data_dir / ALERTS_FILE, readonly=True)
    try:
        events = history.history(state=args.state, severity=args.severity, limit=args.limit)
    finally:
        history.close()
    table = Table(title=f"alerts in {args.data_dir / ALERTS_FILE} (newest first)")
    for col in ("time (UTC)", "rule", "severity", "state", "value", "threshold", "description"):
        table.add_column(col)
    for e in events:
        table.add_row(f"{ns_to_datetime(e.ts_ns):%Y-%m-%d %H:%M:%S}", e.rule, e.severity, e.state.value,
                      f"{e.value:g}", f"{e.comparison} {e.threshold:g}", e.description)  # fmt: skip
    console.print(table)
    return 0


def _bench(args: argparse.Namespace) -> int:
    from alluse.bench.harness import parse_only, run_bench
    from alluse.bench.targets import run_failed
    from alluse.bench.validation import CHECKLIST, evaluate, run_tests, write_reports

    try:
        names = parse_only(args.only)
    except ValueError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        return 2
    repeats = args.repeats if args.repeats is not None else (1 if args.quick else 3)
    if repeats < 1:
        err.print(f"[bold red]error:[/] --repeats={repeats}: must be at least 1")
        return 2
    logging.getLogger("alluse").setLevel(logging.ERROR)  # the workloads inject faults on purpose
    # redrawn only between runs: rich's refresh thread (10 a second) would take the GIL in the middle of
    # the measurements (it put MD-2's p99 at 30 us instead of 11 and its p99.9 at 0.8 ms instead of 0.05)
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


def _print_bench(run, checklist) -> None:
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


def _parse_since(text: str) -> int:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--since={text!r}: not an ISO 8601 time (e.g. 2026-11-26T09:30)") from None
    return datetime_to_ns(when)  # naive: UTC


def _report(args: argparse.Namespace) -> int:
    from alluse.analytics import REPORT_SCHEMA

    if args.schema:
        print(json.dumps(REPORT_SCHEMA, indent=2))  # plain: rich would wrap long lines
        return 0
    config = load_config(args.config)
    if args.hours is not None and not args.hours > 0:
        err.print(f"[bold red]error:[/] --hours={args.hours!r}: must be a positive number of hours")
        return 2
    try:
        since_ns = None if args.since is None else _parse_since(args.since)
    except ValueError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        return 2
    out = args.out if args.out is not None else args.data_dir / config.analytics.report_dir
    return 0 if _write_report(config, args.data_dir, out, hours=args.hours, since_ns=since_ns) else 2


def _write_report(
    config: Config, data_dir: Path, out: Path, *, hours: float | None = None, since_ns: int | None = None
) -> bool:
    from rich.markdown import Markdown

    from alluse.analytics import ReportInputError, ReportOutputError, generate_report
    from alluse.analytics.summary import markdown

    parts = ("loading", "statistics", "trends", "anomalies", "forecasts", "grade", "dashboard")
    progress = Progress(
        TextColumn("[bold]report"), BarColumn(), TextColumn("{task.fields[part]}"), console=err, transient=True
    )
    task = progress.add_task("report", total=len(parts), part="")

    def advance(part: str) -> None:
        progress.update(task, completed=parts.index(part), part=part)

    try:
        with progress:
            report, files = generate_report(
                data_dir, out, config.analytics, generated_ns=time.time_ns(), hours=hours, since_ns=since_ns,
                progress=advance,
            )  # fmt: skip
    except (ReportInputError, ReportOutputError) as exc:
        err.print(f"[bold red]report error:[/] {exc}", highlight=False)
        return False
    console.print(Markdown(markdown(report)))
    written = [p for p in (files.dashboard, files.report, files.summary_md, files.summary_txt) if p is not None]
    console.print("report files: " + ", ".join(str(p) for p in written), highlight=False)
    return True


def _metrics(args: argparse.Namespace) -> int:
    reader = MetricsStore.open_readonly(args.data_dir / METRICS_FILE)
    try:
        if args.series:
            end = time.time_ns()
            points = reader.query(args.series, end - int(args.minutes * 60e9), end)
            table = Table(title=f"{args.series}, last {args.minutes:g} minutes ({len(points)} points)")
            table.add_column("time (UTC)")
            table.add_column("value", justify="right")
            for ts, value in points:
                table.add_row(f"{ns_to_datetime(ts):%Y-%m-%d %H:%M:%S}", f"{value:.6g}")
        else:
            latest = reader.latest(args.prefix)
            table = Table(title=f"latest values in {args.data_dir / METRICS_FILE} ({len(latest)} series)")
            for col in ("series", "value", "at (UTC)"):
                table.add_column(col, justify="right" if col == "value" else "left")
            for name, (ts, value) in sorted(latest.items()):
                table.add_row(name, f"{value:.6g}", f"{ns_to_datetime(ts):%H:%M:%S}")
    finally:
        reader.close()
    console.print(table)
    return 0


def _orders(args: argparse.Namespace) -> int:
    journal = _open_journal(args.data_dir)
    try:
        orders = list(journal.load().orders.values())
    finally:
        journal.close()
    if args.status:
        orders = [o for o in orders if o.status.value == args.status.upper()]
    if args.limit:
        orders = orders[-args.limit :]
    table = Table(title=f"orders in {args.data_dir / 'journal.db'}")
    for col in (
        "client order id",
        "account",
        "instrument",
        "side",
        "qty",
        "type",
        "limit",
        "status",
        "filled",
        "avg px",
        "tag",
        "reason",
    ):
        table.add_column(col)
    for o in orders:
        table.add_row(
            o.client_order_id,
            o.account,
            o.instrument_id,
            o.side.value,
            str(o.quantity),
            o.order_type.value,
            _money(o.limit_price),
            o.status.value,
            str(o.filled_qty),
            _money(o.avg_fill_price) if o.filled_qty else "-",
            o.tag,
            o.reason,
        )
    console.print(table)
    return 0


def _positions(args: argparse.Namespace) -> int:
    from alluse.app.run_summary import ledger_from_journal

    ledger = ledger_from_journal(args.data_dir / "journal.db")
    table = Table(title=f"positions in {args.data_dir / 'journal.db'}")
    for col in ("account", "instrument", "qty", "avg cost", "realized P&L"):
        table.add_column(col)
    for p in sorted(ledger.open_positions(), key=lambda p: (p.account, p.instrument_id)):
        table.add_row(p.account, p.instrument_id, str(p.quantity), _money(p.avg_cost), _money(p.realized_pnl))
    console.print(table)
    cash = Table(title="cash")
    for col in ("account", "deposits", "cash", "commissions", "fills"):
        cash.add_column(col)
    for a in ledger.accounts():
        t = ledger.totals(a, lambda _: None)
        cash.add_row(a, _money(t.deposits), _money(t.cash), _money(t.commissions), str(t.fills))
    console.print(cash)
    return 0


if __name__ == "__main__":
    sys.exit(main())
