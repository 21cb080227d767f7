"""`alluse report`: analyse a data dir's metrics into a dashboard, a JSON report and a graded summary.
`alluse run` writes the same report over its own metrics when it ends (`write_report`)."""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from alluse.cli.inputs import add_data_dir, check_span
from alluse.cli.output import console, err, error

if TYPE_CHECKING:  # analytics (pandas, scikit-learn) loads only when a report is made
    from alluse.app.config import Config


def register(sub: argparse._SubParsersAction) -> None:
    report = sub.add_parser("report", help="analyse a data dir's metrics: dashboard PNG, JSON report, graded summary")
    report.add_argument("--config", type=Path, help="TOML config file: its [analytics] section (defaults otherwise)")
    add_data_dir(report)
    span = report.add_mutually_exclusive_group()
    span.add_argument("--hours", type=float, help="the last H hours of data (default 24)")
    span.add_argument("--since", help="from this UTC time (ISO 8601, e.g. 2026-11-26T09:30) to the newest sample")
    report.add_argument("--out", type=Path, help="where the files go (default DATA_DIR/report)")
    report.add_argument("--schema", action="store_true", help="print the JSON report's schema and exit")
    report.set_defaults(func=report_command)


def report_command(args: argparse.Namespace) -> int:
    from alluse.analytics.report import REPORT_SCHEMA
    from alluse.app.config import load_config
    from alluse.common.clock import NS

    if args.schema:
        print(json.dumps(REPORT_SCHEMA, indent=2))  # plain: rich would wrap long lines
        return 0
    config = load_config(args.config)
    if args.hours is not None:
        check_span("--hours", args.hours, "hours", 3600 * NS)
    since_ns = None if args.since is None else _parse_since(args.since)
    out = args.out if args.out is not None else args.data_dir / config.analytics.report_dir
    return 0 if write_report(config, args.data_dir, out, hours=args.hours, since_ns=since_ns) else 2


def _parse_since(text: str) -> int:
    from alluse.common.clock import datetime_to_ns
    from alluse.model import InvalidInput

    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput("--since", text, "not an ISO 8601 time (e.g. 2026-11-26T09:30)") from None
    ns = datetime_to_ns(when)  # naive: UTC
    if ns < 0:  # no data is older, and from before 1678 the nanoseconds overflow
        raise InvalidInput("--since", text, "before 1970")
    return ns


def write_report(
    config: Config, data_dir: Path, out: Path, *, hours: float | None = None, since_ns: int | None = None
) -> bool:
    """Print the graded summary and the files written; False (said on stderr) when the store cannot be
    read or the files cannot be written."""
    from rich.markdown import Markdown
    from rich.progress import BarColumn, Progress, TextColumn

    from alluse.analytics.data import ReportInputError
    from alluse.analytics.generate import generate_report
    from alluse.analytics.outputs import ReportOutputError
    from alluse.analytics.summary import markdown

    parts = ("loading", "statistics", "trends", "anomalies", "forecasts", "grade", "dashboard")
    progress = Progress(
        TextColumn("[bold]report"), BarColumn(), TextColumn("{task.fields[part]}"), console=err, transient=True,
        disable=not err.is_interactive,  # piped, rich would leave an empty line on stderr where the bar was
    )  # fmt: skip
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
        error(str(exc), label="report error")
        return False
    console.print(Markdown(markdown(report)))
    written = [p for p in (files.dashboard, files.report, files.summary_md, files.summary_txt) if p is not None]
    console.print("report files: " + ", ".join(str(p) for p in written), highlight=False)
    return True
