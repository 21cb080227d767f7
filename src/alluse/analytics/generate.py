"""The analytics front door: read a data dir's metrics and alerts, analyse them, write the report files."""

from __future__ import annotations

from pathlib import Path

from alluse.analytics.config import AnalyticsConfig
from alluse.analytics.data import metrics_store_path, read_data_dir
from alluse.analytics.outputs import ReportFiles, check_writable, write_report
from alluse.analytics.report import Progress, build_report
from alluse.analytics.results import Report


def generate_report(
    data_dir: Path,
    out_dir: Path,
    config: AnalyticsConfig,
    *,
    generated_ns: int,
    hours: float | None = None,
    since_ns: int | None = None,
    progress: Progress | None = None,
) -> tuple[Report, ReportFiles]:
    """Reads data_dir's metrics and alerts over the window, analyses them, writes the files to out_dir."""
    metrics_store_path(data_dir)  # a wrong data dir: said before the output dir is made for it
    check_writable(out_dir)  # before minutes of work, not after
    if progress:
        progress("loading")
    data = read_data_dir(data_dir, hours=hours, since_ns=since_ns, warmup_s=config.warmup_s)
    report = build_report(data, config, generated_ns=generated_ns, progress=progress)
    if progress:
        progress("dashboard")
    files = write_report(report, {s.name: s for s in data.series}, out_dir)
    return report, files
