"""Analytics: turns the metrics history into a report (statistics, trends, anomalies, forecasts,
a 7-panel dashboard, a JSON report and a graded executive summary).

The front door is `generate_report`. Heavy libraries (scikit-learn, statsmodels, matplotlib) are
imported only by the modules here, which nothing on the trading path imports.
"""

from __future__ import annotations

from pathlib import Path

from alluse.analytics.data import ReportInputError, read_data_dir
from alluse.analytics.outputs import ReportFiles, ReportOutputError, check_writable, write_report
from alluse.analytics.report import REPORT_SCHEMA, SCHEMA_VERSION, Progress, build_report
from alluse.analytics.results import Report
from alluse.app.config import AnalyticsConfig

__all__ = [
    "REPORT_SCHEMA",
    "SCHEMA_VERSION",
    "Report",
    "ReportFiles",
    "ReportInputError",
    "ReportOutputError",
    "generate_report",
]


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
    check_writable(out_dir)  # before minutes of work, not after
    if progress:
        progress("loading")
    data = read_data_dir(data_dir, hours=hours, since_ns=since_ns)
    report = build_report(data, config, generated_ns=generated_ns, progress=progress)
    if progress:
        progress("dashboard")
    files = write_report(report, {s.name: s for s in data.series}, out_dir)
    return report, files
