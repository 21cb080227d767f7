"""`alluse run`: the paper-trading system on the simulated market, and the run summary it prints."""

from __future__ import annotations

import argparse
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING

from alluse.cli.inputs import check_writable_dir
from alluse.cli.output import console, error, money
from alluse.cli.record import describe_replay, load_replay, print_replay
from alluse.cli.report import write_report

if TYPE_CHECKING:  # imported by the command itself: `alluse --help` and `alluse halt` need neither
    from alluse.app.config import Config
    from alluse.app.run_summary import RunSummary


def register(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("run", help="run the paper-trading system on the simulated market")
    run.add_argument("--config", type=Path, help="TOML config file (defaults otherwise)")
    run.add_argument("--duration", type=float, help="wall-clock seconds to run (default 60; inf: until stopped)")
    run.add_argument("--speed", type=float, help="simulated seconds per wall second (default 8000)")
    run.add_argument("--seed", type=int, help="random seed of the simulated market")
    run.add_argument("--data-dir", type=Path, help="where the journal lives (default ./data)")
    run.add_argument("--metrics-port", type=int, help="serve /metrics and /health on this port (0 = any free port)")
    run.add_argument("--replay", type=Path, metavar="FILE_OR_DIR",
                     help="replay recorded quotes (.csv, .csv.gz or a directory of them; docs/replay.md) "
                          "instead of the simulated market")  # fmt: skip
    run.add_argument("--json", action="store_true", help="end with the run summary as one JSON document, not tables")
    run.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    import asyncio
    import math

    from rich.markup import escape
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from alluse import build
    from alluse.app.config import load_config
    from alluse.app.run_summary import build_summary
    from alluse.app.system import run_live
    from alluse.common.clock import ns_to_datetime

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
    recording = None if args.replay is None else load_replay(args.replay)  # a bad file: refused before the run
    check_writable_dir("run.data_dir", Path(config.run.data_dir))
    source = "the simulated market" if recording is None else describe_replay(recording)
    endless = math.isinf(config.run.duration_s)  # until Ctrl-C or SIGTERM
    length = "until stopped" if endless else f"{config.run.duration_s:g}s wall"
    console.print(
        f"[bold]ALL-USE[/] paper trading on {source}: {length} at "
        f"{config.run.speed:g}x, seed {config.run.seed}, data dir {config.run.data_dir}  (Ctrl-C stops cleanly)"
    )
    console.print(f"build: {build.describe()}", highlight=False)

    progress = Progress(
        TextColumn("[bold]trading"),
        BarColumn(),
        TimeElapsedColumn() if endless else TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
        console=console,
        transient=True,
    )
    task = progress.add_task("run", total=None if endless else config.run.duration_s, status="starting")

    announced: list[bool] = []

    api = None
    if config.monitoring.metrics_port is not None:
        from alluse.rpc.server import ApiServer

        api = ApiServer(config.monitoring.metrics_host, config.monitoring.metrics_port)

    def show(system, elapsed: float) -> None:
        if not announced and api is not None:
            announced.append(True)
            url = f"http://{api.host}:{api.port}"
            console.print(f"serving {url}/api/v1 (schema {url}/docs), {url}/metrics and {url}/health", highlight=False,
                          soft_wrap=True)  # a URL is never broken across lines
            if api.new_token is not None:  # made at this first start: shown this once
                console.print(f"API token for the controls (shown once; kept in {config.run.data_dir}/api.token, "
                              f"mode 0600; `alluse token --rotate` replaces it): {api.new_token}",
                              markup=False, highlight=False, soft_wrap=True)  # fmt: skip
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
        system = await run_live(config, stop, on_progress=show, on_alert=alert, replay=recording, api=api)
        try:  # in the loop: a networked broker's accounts are read while it is still connected
            return system, build_summary(system, time.perf_counter() - t0, system.sim_start_ns)
        finally:
            system.close()
            await system.c.disconnect()

    t0 = time.perf_counter()
    wall_start_ns = time.time_ns()
    with progress:
        system, summary = asyncio.run(main_task())
    ctrl_c = _AfterTrading()
    previous = signal.signal(signal.SIGINT, ctrl_c)  # the run has stopped: what it did is printed whole
    try:
        if not args.json:
            _print_summary(summary)
        if recording is not None:
            print_replay(system)
        _print_alerts(fired, system)
        _report_on_exit(config, wall_start_ns, ctrl_c)  # Ctrl-C stops the report alone
        if args.json:  # the last line on stdout: `alluse run --json | tail -n 1` is the summary
            _print_summary(summary, as_json=True)
    finally:
        signal.signal(signal.SIGINT, previous)
    return 0 if summary.consistent else 1


class ReportInterrupted(BaseException):
    """Ctrl-C during the run's report. Not a KeyboardInterrupt: under `python -m`, CPython exits by SIGINT at
    the end of any process in which a KeyboardInterrupt crossed code run through PyRun_String (as Cython's
    import-time helpers in the report's libraries do), even one caught; the run's exit code must be its own.
    A BaseException, so the libraries' `except Exception` cannot swallow it."""


class _AfterTrading:
    """The SIGINT handler once trading has stopped (the run's own handler turned Ctrl-C into a clean stop): a
    Ctrl-C never cuts the summary short; it is noted, and it stops the report, whether it comes before the
    report or during it (raised only while the report runs, so there is no moment it escapes)."""

    def __init__(self) -> None:
        self.pressed = False
        self.in_report = False

    def __call__(self, _signum: int, _frame: object) -> None:
        self.pressed = True
        if self.in_report:
            raise ReportInterrupted


def _report_on_exit(config: Config, wall_start_ns: int, ctrl_c: _AfterTrading) -> None:
    """The run's own report, over this run's metrics. A report that cannot be written is said loudly but
    does not fail the run: the exit code speaks for the book (journal, ledger and venue agree). A Ctrl-C since
    trading stopped stops it alone."""
    if not (config.analytics.report_on_exit and config.monitoring.enabled and config.monitoring.store):
        console.print("report: off (analytics.report_on_exit, or no metrics store)")
        return
    data_dir = Path(config.run.data_dir)
    try:
        ctrl_c.in_report = True  # from here a Ctrl-C raises, inside this try
        if ctrl_c.pressed:
            raise ReportInterrupted
        write_report(config, data_dir, data_dir / config.analytics.report_dir, since_ns=wall_start_ns)
    except ReportInterrupted:  # no file is left half-written (analytics/outputs.py); the summary stands
        error(f"interrupted (Ctrl-C); `alluse report --data-dir {data_dir}` writes it", label="report")
    finally:
        ctrl_c.in_report = False


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


def _print_summary(s: RunSummary, as_json: bool = False) -> None:
    """The summary as tables, or with `as_json` as one JSON document on one line (money as exact strings,
    `app.run_summary.summary_json`)."""
    from rich.table import Table

    from alluse.cli.book import print_book, print_json

    if as_json:
        from alluse.app.run_summary import summary_json

        print_json(summary_json(s))
        return
    console.rule("[bold]run summary")
    console.print(
        f"wall {s.wall_seconds:.1f}s; simulated {s.sim_start} -> {s.sim_end} UTC; session {s.session}; "
        f"recovered {s.recovered_orders} orders from the journal ({s.recovered_open_resolved} open ones resolved)"
    )
    if not s.reproducible:
        console.print("not reproducible: on the wall clock, timers fire when the machine gets to them (a rerun with "
                      "the same seed differs); `alluse backtest` runs on the virtual clock and reproduces")  # fmt: skip
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
        f"commissions {money(s.commissions_this_run)}; risk denials: "
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

    print_book(s.book, "positions")

    q = s.quality
    console.print(
        f"execution quality: fills {q.fills}, mean slippage vs arrival mid {_opt(q.mean_slippage_bps, '.1f')} bps "
        f"(positive = worse), median submit-to-fill {_duration(q.median_latency_ms)} (simulated time), "
        f"fill ratio {_opt(q.fill_ratio, '.1%')}, venue reject rate {_opt(q.reject_rate, '.1%')}"
    )
    verdict = "[green]consistent[/]" if s.consistent else "[red]INCONSISTENT[/]: " + "; ".join(s.consistency_detail)
    console.print(f"positions and cash: live ledger vs the journal's fills vs the venue's own records: {verdict}")
    console.print(f"journal: {s.journal_path}")
