"""Writes a report's files: dashboard.png, report.json, summary.md, summary.txt.

The output dir is checked for writing before any work is done, and each file is written to a
temporary name and renamed, so a failure never leaves a half-written file under the real name."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from alluse.analytics import summary
from alluse.analytics.report import to_json
from alluse.analytics.results import Report, SeriesData, Skipped

log = logging.getLogger("alluse.analytics")

DASHBOARD_FILE = "dashboard.png"
REPORT_FILE = "report.json"
SUMMARY_MD = "summary.md"
SUMMARY_TXT = "summary.txt"


class ReportOutputError(Exception):
    """The output dir cannot be written; the message names it and the reason."""


@dataclass(slots=True)
class ReportFiles:
    dashboard: Path | None  # None: drawing failed (the report's `skipped` says why)
    report: Path
    summary_md: Path
    summary_txt: Path


def check_writable(out_dir: Path) -> None:
    """Fails early, naming the dir, if it cannot be created or written."""
    probe = out_dir / ".alluse-write-probe"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ReportOutputError(f"out={str(out_dir)!r}: cannot write there ({exc.strerror or exc})") from None


def _replace(path: Path, write) -> Path:
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")  # keeps the suffix: savefig picks the format by it
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ReportOutputError(f"{path}: cannot write ({exc.strerror or exc})") from None
    except BaseException:  # a drawing bug, Ctrl-C: no half-written file left behind either
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_report(report: Report, series: Mapping[str, SeriesData], out_dir: Path) -> ReportFiles:
    """The dashboard first, so a drawing failure is recorded in the JSON and summaries written after it."""
    from alluse.analytics.dashboard import render_dashboard  # matplotlib: only when a report is written

    check_writable(out_dir)
    dashboard: Path | None
    try:
        dashboard = _replace(out_dir / DASHBOARD_FILE, lambda p: render_dashboard(p, report, series))
    except ReportOutputError as exc:
        report.skipped.append(Skipped("dashboard", None, str(exc)))
        dashboard = None
    except Exception as exc:  # a drawing bug must not cost the operator the report itself
        log.exception("dashboard drawing failed")
        report.skipped.append(Skipped("dashboard", None, f"drawing failed: {type(exc).__name__}: {exc}"))
        dashboard = None
    return ReportFiles(
        dashboard=dashboard,
        report=_replace(out_dir / REPORT_FILE, lambda p: p.write_bytes(to_json(report))),
        summary_md=_replace(out_dir / SUMMARY_MD, lambda p: p.write_text(summary.markdown(report))),
        summary_txt=_replace(out_dir / SUMMARY_TXT, lambda p: p.write_text(summary.text(report))),
    )
