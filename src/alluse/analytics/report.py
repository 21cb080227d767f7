"""Builds a report from a window of metrics: statistics, trends, anomalies, forecasts, grade, insights.

The JSON form is the `Report` dataclass serialised by pydantic; `REPORT_SCHEMA` is its JSON Schema
(docs/report.schema.json is this, written by `alluse report --schema`, and a test keeps them equal).
Bump SCHEMA_VERSION when a field changes meaning or goes away.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Callable, Sequence

import numpy as np
from pydantic import TypeAdapter

from alluse.analytics import anomalies as anomaly_part
from alluse.analytics.catalog import KEY_SERIES
from alluse.analytics.config import AnalyticsConfig, TargetConfig
from alluse.analytics.data import ReportInput
from alluse.analytics.forecasts import forecast
from alluse.analytics.grading import DEFAULT_TARGETS, grade
from alluse.analytics.grid import align, choose_step_ns
from alluse.analytics.insights import insights
from alluse.analytics.results import Forecast, Grid, Report, SeriesData, SeriesStats, Skipped, Trend
from alluse.analytics.stats import series_stats
from alluse.analytics.trends import fit_trend
from alluse.analytics.warmup import warmup_spans, without_warmup

log = logging.getLogger("alluse.analytics")

SCHEMA_VERSION = 1
_ADAPTER = TypeAdapter(Report)
REPORT_SCHEMA = _ADAPTER.json_schema()

Progress = Callable[[str], None]  # called as each part starts, with the part's name


def to_json(report: Report) -> bytes:
    return _ADAPTER.dump_json(report, indent=2)


def from_json(data: bytes | str) -> Report:
    return _ADAPTER.validate_json(data)


def targets_of(config: AnalyticsConfig) -> Sequence[TargetConfig]:
    return DEFAULT_TARGETS if config.targets is None else config.targets


def forecast_names(names: Sequence[str], patterns: Sequence[str] | None) -> list[str]:
    """The series to forecast: the key series by default, else those matching any fnmatch pattern."""
    if patterns is None:
        present = set(names)
        return [n for n in KEY_SERIES if n in present]
    return [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns)]


def _split(results: list, kind: type) -> tuple[list, list[Skipped]]:
    return [r for r in results if isinstance(r, kind)], [r for r in results if isinstance(r, Skipped)]


def _forecasts(grid: Grid, names: list[str], config: AnalyticsConfig) -> tuple[list[Forecast], list[Skipped]]:
    column = {name: j for j, name in enumerate(grid.names)}
    results = [
        forecast(
            name,
            grid.times_ns,
            grid.values[:, column[name]],
            step_ns=grid.step_ns,
            horizon_s=config.forecast_horizon_s,
            history_points=config.forecast_history_points,
            min_points=2 * config.min_points,
            min_history_s=config.min_forecast_history_s,
        )
        for name in names
    ]
    return _split(results, Forecast)


def _trends(series: list[SeriesData], steady: list[SeriesData], config: AnalyticsConfig) -> list[Trend | Skipped]:
    """A trend per series, fitted on its steady part; one too short says what the warm-up took from it."""
    out = []
    for whole, part in zip(series, steady, strict=True):
        fit = fit_trend(
            part, alpha=config.trend_alpha, min_points=config.min_points, min_span_s=config.min_trend_span_s
        )
        if isinstance(fit, Skipped) and part is not whole:
            left_out = int(np.count_nonzero(np.isfinite(whole.values)) - np.count_nonzero(np.isfinite(part.values)))
            fit.reason += f"; {left_out} more samples lay in the warm-up"
        out.append(fit)
    return out


def build_report(
    data: ReportInput, config: AnalyticsConfig, *, generated_ns: int, progress: Progress | None = None
) -> Report:
    step = progress or (lambda part: None)
    series: list[SeriesData] = data.series
    skipped = list(data.skipped)
    warmups = warmup_spans(data.run_starts, config.warmup_s, data.window)
    steady = without_warmup(series, warmups)  # trends, anomalies and forecasts; the statistics see everything

    step("statistics")
    stats, missing = _split([series_stats(s) for s in series], SeriesStats)
    skipped += missing

    step("trends")
    trends, missing = _split(_trends(series, steady, config), Trend)
    skipped += missing

    anomalies = None
    forecasts: list[Forecast] = []
    if series and not any(np.isfinite(s.values).any() for s in steady):
        skipped += [
            Skipped(part, None, f"every sample lies in a warm-up (the first {config.warmup_s:g} s of a run)")
            for part in ("anomalies", "forecasts")
        ]
    elif series:
        grid = align(steady, data.window, choose_step_ns(steady, data.window, config.max_grid_rows))
        step("anomalies")
        found = anomaly_part.find_anomalies(
            grid,
            contamination=config.contamination,
            robust_threshold=config.robust_threshold,
            seed=config.seed,
            min_rows=2 * config.min_points,
        )
        if isinstance(found, Skipped):
            skipped.append(found)
        else:
            anomalies = found
        step("forecasts")
        names = forecast_names(grid.names, config.forecast_series)
        if not names:
            skipped.append(Skipped("forecasts", None, "none of the series to forecast has data in the window"))
        forecasts, missing = _forecasts(grid, names, config)
        skipped += missing
    else:
        skipped += [Skipped(part, None, "no series in the window") for part in ("anomalies", "forecasts")]

    step("grade")
    targets = targets_of(config)
    critical = sum(1 for a in data.alerts if a.severity == "critical" and a.state == "firing")
    graded = grade({s.series: s for s in stats}, targets, critical_alerts=critical)
    return Report(
        schema_version=SCHEMA_VERSION,
        generated_ns=generated_ns,
        window=data.window,
        sample_count=sum(int(s.values.size) for s in series),
        rebuilt_sample_count=sum(s.rebuilt for s in series),
        series_count=len(series),
        stats=stats,
        trends=trends,
        anomalies=anomalies,
        forecasts=forecasts,
        alerts=data.alerts,
        grade=graded,
        insights=insights(trends, anomalies, forecasts, targets),
        skipped=skipped,
        warmup_s=config.warmup_s,
        warmups=warmups,
    )
