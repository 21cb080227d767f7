"""`alluse backtest`: the whole system on the virtual clock over a span of sessions, and what each account made."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from alluse.cli.inputs import check_writable_dir
from alluse.cli.output import console, money

if TYPE_CHECKING:
    from alluse.app.backtest import BacktestResult

RESULTS_FILE = "backtest.json"


def register(sub: argparse._SubParsersAction) -> None:
    bt = sub.add_parser("backtest", help="run the system on the virtual clock from --start to --end (reproducible)")
    bt.add_argument("--start", required=True, type=_day("--start"), help="first day (YYYY-MM-DD)")
    bt.add_argument("--end", required=True, type=_day("--end"), help="last day (YYYY-MM-DD), included")
    bt.add_argument("--seed", type=int, help="random seed of the simulated market (default: the config's)")
    bt.add_argument("--config", type=Path, help="TOML config file (defaults otherwise)")
    bt.add_argument("--data-dir", type=Path, default=Path("data/backtest"), help="a new directory for its journal")
    bt.add_argument("--replay", type=Path, help="recorded quotes instead of the simulated market (docs/replay.md)")
    bt.add_argument("--json", action="store_true", help="end with the summary and results as one JSON document")
    bt.set_defaults(func=backtest_command)


def _day(option: str):
    def parse(text: str) -> date:
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{option} {text!r}: not a date (YYYY-MM-DD)") from None

    return parse


def backtest_command(args: argparse.Namespace) -> int:
    import json

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from alluse.app.backtest import journal_digest, run_backtest
    from alluse.app.config import load_config
    from alluse.app.options_book import to_json_value
    from alluse.app.run_summary import build_summary, summary_json
    from alluse.cli.book import print_json
    from alluse.cli.record import load_replay, print_replay
    from alluse.cli.run import _print_summary

    config = load_config(args.config, {"run": {"seed": args.seed, "data_dir": str(args.data_dir)}})
    check_writable_dir("--data-dir", args.data_dir)
    recording = None if args.replay is None else load_replay(args.replay)
    console.print(f"[bold]ALL-USE[/] backtest {args.start} -> {args.end}, seed {config.run.seed}, "
                  f"{'replay of ' + str(args.replay) if recording else 'simulated market'}, "
                  f"calendar {config.market.calendar}, data dir {args.data_dir}", highlight=False)  # fmt: skip
    progress = Progress(TextColumn("[bold]sessions"), BarColumn(), MofNCompleteColumn(), console=console,
                        transient=True)  # fmt: skip
    task = progress.add_task("backtest", total=None)
    with progress:
        system, result = run_backtest(config, args.data_dir, args.start, args.end, replay=recording,
                                      on_session=lambda done, total: progress.update(task, completed=done,
                                                                                     total=total))  # fmt: skip
    try:
        summary = build_summary(system, result.wall_seconds, system.sim_start_ns)
    finally:
        system.close()
    result.digest = journal_digest(args.data_dir)
    document = {"summary": summary_json(summary), "backtest": to_json_value(result)}
    (args.data_dir / RESULTS_FILE).write_text(json.dumps(document, indent=1))
    picture = write_picture(args.data_dir, document["backtest"])
    if args.json:
        print_json(document)
        return 0 if summary.consistent else 1
    _print_summary(summary)
    if recording is not None:
        print_replay(system)
    print_results(result)
    console.print(f"results: {args.data_dir / RESULTS_FILE} (the summary and these figures, with the equity curve)")
    if picture is not None:
        console.print(f"equity curve and drawdown: {picture}", highlight=False, soft_wrap=True)
    return 0 if summary.consistent else 1


PICTURE_FILE = "backtest.png"


def write_picture(data_dir: Path, backtest: object) -> Path | None:
    """The results drawn as DATA_DIR/backtest.png; None (said on stderr) when it cannot be: the results are
    already written, so a picture that fails costs the run nothing else."""
    from alluse.analytics.backtest_panel import render_backtest  # matplotlib: not for `alluse --help`
    from alluse.cli.output import error

    path = data_dir / PICTURE_FILE
    try:
        render_backtest(path, backtest)
    except Exception as exc:  # a drawing bug must not cost the operator the results
        error(f"{path}: not written ({type(exc).__name__}: {exc})", label="backtest picture")
        return None
    return path


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:+.2%}"


def print_results(r: BacktestResult) -> None:
    from rich.table import Table

    rate = r.sessions / r.wall_seconds if r.wall_seconds > 0 else float("inf")
    table = Table(title=f"backtest {r.start} -> {r.end}: {r.sessions} sessions in {r.wall_seconds:.1f} s wall "
                        f"({rate:.1f} sessions/s), {r.quote_events:,} quotes, seed {r.seed}")  # fmt: skip
    table.add_column("")
    for a in r.accounts:
        table.add_column(a.account, justify="right")
    rows = (
        ("equity at the end", lambda a: money(a.final_equity)),
        ("total return", lambda a: _pct(a.total_return)),
        ("annualized return", lambda a: _pct(a.annualized_return)),
        ("max drawdown (closes)", lambda a: f"{a.max_drawdown:.2%} ({money(a.max_drawdown_amount)})"),
        ("premium collected", lambda a: money(a.premium_collected)),
        ("puts assigned", lambda a: str(a.assignments)),
        ("covered calls written", lambda a: str(a.calls_written)),
        ("called away", lambda a: str(a.called_away)),
        ("option trades closed", lambda a: str(a.option_trades)),
        ("win rate", lambda a: "-" if a.win_rate is None else f"{a.win_rate:.0%} ({a.wins}/{a.option_trades})"),
    )
    for label, cell in rows:
        table.add_row(label, *(cell(a) for a in r.accounts))
    console.print(table)
    console.print("reproducible: the same config, seed, dates and replay file give the same journal; "
                  f"journal digest {r.digest[:16]}", highlight=False)  # fmt: skip
