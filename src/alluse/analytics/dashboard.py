"""The report as one picture: seven panels, where a manager reads health and an operator where to look.

Drawn with matplotlib's object API (no pyplot), so there is no global figure state and rendering is safe
off the main thread. Long series are reduced to one min/mean/max per horizontal pixel before drawing: a
day of 1 s samples would cost seconds per line and show nothing more, while the band keeps every spike.
Every panel copes with its data missing by drawing its frame and saying why, using the report's own
`Skipped` reasons where it has them, so a short or broken run still yields a complete page.
"""

from __future__ import annotations

import logging
import textwrap
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

import matplotlib.dates as mdates
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.gridspec import GridSpecFromSubplotSpec, SubplotSpec
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from alluse.analytics import catalog
from alluse.analytics.grading import score_text
from alluse.analytics.results import NS_PER_HOUR, NS_PER_S, Forecast, Report, SeriesData, Trend
from alluse.analytics.units import display, p_text, short_name, unit_of, utc_text

log = logging.getLogger("alluse.analytics")

FIGSIZE_IN = (16.0, 20.0)
DPI = 96
PIXEL_BINS = 600  # about the pixel width of a half-width panel: finer bins could not be seen
TREND_BINS = 240  # trend lines are read for their drift, so a smoother mean is easier to follow
MAX_TABLE_ROWS = 12
MAX_TRENDS = 4
MAX_FORECASTS = 3
FORECAST_HISTORY_HORIZONS = 3.0  # history shown before a forecast, in multiples of its horizon

_NS_PER_DAY = 86_400 * NS_PER_S
_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")
_STATUS_COLORS = {"healthy": "#2e7d32", "degraded": "#f9a825", "unhealthy": "#c62828"}
_CHECK_COLORS = {"met": "#c8e6c9", "near": "#ffe082", "missed": "#ef9a9a"}
_GRADE_COLORS = {"A": "#2e7d32", "B": "#7cb342", "C": "#f9a825", "D": "#ef6c00", "E": "#d84315", "F": "#c62828"}
_NO_DATA_COLOR = "#9e9e9e"
_TITLE_SIZE = 13
_LABEL_SIZE = 10
_TICK_SIZE = 9
_LEGEND_SIZE = 8.5


def render_dashboard(path: Path, report: Report, series: Mapping[str, SeriesData]) -> None:
    """Write the dashboard PNG to `path`; an OSError writing it propagates for the caller to report."""
    fig = _build_figure(report, series)
    fig.savefig(path, format="png", dpi=DPI)
    log.info("dashboard written to %s", path)


def _build_figure(report: Report, series: Mapping[str, SeriesData]) -> Figure:
    fig = Figure(figsize=FIGSIZE_IN, dpi=DPI, facecolor="white")
    _header(fig, report)
    outer = fig.add_gridspec(
        4, 2, left=0.055, right=0.945, top=0.915, bottom=0.03, hspace=0.4, wspace=0.3, height_ratios=(1, 1, 1, 0.9)
    )
    _panel_trading(fig, outer[0, 0], report, series)
    _panel_market_data(fig, outer[0, 1], report, series)
    _panel_resources(fig, outer[1, 0], report, series)
    _panel_stats(fig, outer[1, 1], report)
    _panel_trends(fig, outer[2, 0], report, series)
    _panel_anomalies(fig, outer[2, 1], report, series)
    _panel_forecasts(fig, outer[3, :], report, series)
    return fig


# ---------------------------------------------------------------------------------------------- data shaping


@dataclass(slots=True)
class _Envelope:
    """What one series draws: bin centres (matplotlib date numbers) and each bin's mean, min and max,
    with NaN rows where the series has a gap so the line breaks instead of bridging it."""

    x: np.ndarray
    mean: np.ndarray
    lo: np.ndarray
    hi: np.ndarray


def _envelope(data: SeriesData, bins: int) -> _Envelope | None:
    """Per-bin mean/min/max of the finite samples; raw samples when there are too few to need it.

    A gap is a stretch with no finite sample longer than five nominal sample intervals (or two bins),
    so NaN runs and collector outages both show as breaks. None when the series has no finite sample."""
    ts_all = np.asarray(data.ts_ns, dtype=np.int64)
    values = np.asarray(data.values, dtype=np.float64)
    finite = np.isfinite(values)
    ts, v = ts_all[finite], values[finite]
    if ts.size == 0:
        return None
    cadence = float(np.median(np.diff(ts_all))) if ts_all.size > 1 else 0.0
    if ts.size <= 2 * bins:
        x_ns, mean, lo, hi, width = ts.astype(np.float64), v, v, v, 0.0
    else:
        width = max(1, -(-int(ts[-1] - ts[0] + 1) // bins))
        idx = (ts - ts[0]) // width
        starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])
        counts = np.diff(np.r_[starts, ts.size])
        mean = np.add.reduceat(v, starts) / counts
        lo = np.minimum.reduceat(v, starts)
        hi = np.maximum.reduceat(v, starts)
        x_ns = ts[0] + (idx[starts] + 0.5) * width
    gap = max(5.0 * cadence, 2.0 * width)
    cut = np.flatnonzero(np.diff(x_ns) > gap) + 1 if gap > 0 else np.empty(0, dtype=np.intp)
    if cut.size:
        x_ns = np.insert(x_ns, cut, (x_ns[cut - 1] + x_ns[cut]) / 2)
        mean, lo, hi = (np.insert(a.astype(np.float64), cut, np.nan) for a in (mean, lo, hi))
    return _Envelope(_to_days(x_ns), mean, lo, hi)


def _bin_means(data: SeriesData, start_ns: int, end_ns: int, step_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """Means of the finite samples in [start_ns, end_ns) on bins of step_ns: what a forecast model saw."""
    ts = np.asarray(data.ts_ns, dtype=np.int64)
    v = np.asarray(data.values, dtype=np.float64)
    keep = np.isfinite(v) & (ts >= start_ns) & (ts < end_ns)
    ts, v = ts[keep], v[keep]
    if ts.size == 0:
        return np.empty(0), np.empty(0)
    idx = (ts - start_ns) // step_ns
    starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])
    means = np.add.reduceat(v, starts) / np.diff(np.r_[starts, ts.size])
    return _to_days(start_ns + (idx[starts] + 0.5) * step_ns), means


def _to_days(ns: np.ndarray | float) -> np.ndarray:
    """Epoch nanoseconds as matplotlib date numbers (respecting its configured epoch)."""
    return np.asarray(ns, dtype=np.float64) / _NS_PER_DAY + _EPOCH_DAYS


_EPOCH_DAYS = float(mdates.date2num(np.datetime64(0, "ns")))


def _finite(data: SeriesData) -> tuple[np.ndarray, np.ndarray]:
    """The samples that are readings (times, values): non-finite values are gaps."""
    values = np.asarray(data.values, dtype=np.float64)
    keep = np.isfinite(values)
    return np.asarray(data.ts_ns, dtype=np.int64)[keep], values[keep]


def _has_data(series: Mapping[str, SeriesData], name: str) -> bool:
    data = series.get(name)
    return data is not None and bool(np.isfinite(np.asarray(data.values, dtype=np.float64)).any())


def _duration(ns: int) -> str:
    hours = ns / NS_PER_HOUR
    return f"{hours:.1f} h" if hours >= 1 else f"{ns / (60 * NS_PER_S):.0f} min"


def _skip_reason(report: Report, part: str) -> str | None:
    """The report's own reason a whole part is missing, else the first per-series one, else why the
    report has no data at all (an empty store skips no part by name: there was nothing to skip)."""
    whole = [sk.reason for sk in report.skipped if sk.part == part and sk.series is None]
    if whole:
        return whole[0]
    each = [sk for sk in report.skipped if sk.part == part]
    if each:
        more = f" (and {len(each) - 1} more)" if len(each) > 1 else ""
        return f"{short_name(each[0].series or '')}: {each[0].reason}{more}"
    return None if part == "data" else _skip_reason(report, "data")


# ---------------------------------------------------------------------------------------------- drawing helpers


def _message(ax: Axes, text: str) -> None:
    """An empty panel frame that says why it is empty.

    Ticks are hidden rather than removed: a stacked panel's rows share one x locator, and emptying it
    here would empty the time axis of the row that does have data."""
    ax.tick_params(left=False, labelleft=False, bottom=False, labelbottom=False)
    ax.text(
        0.5,
        0.5,
        textwrap.fill(text, 70),
        transform=ax.transAxes,
        ha="center",
        va="center",
        fontsize=11,
        color="#555555",
    )


def _title(ax: Axes, text: str) -> None:
    ax.set_title(text, loc="left", fontsize=_TITLE_SIZE, fontweight="bold", pad=8)


def _time_axis(ax: Axes, start_ns: int | None = None, end_ns: int | None = None) -> None:
    """UTC date ticks with the concise formatter (dates at day boundaries, times between).

    Over the report window the header already names the dates, so the offset label (which names the
    last tick's date: the window's end, not its day) is left out there."""
    ax.xaxis_date(tz=UTC)
    locator = mdates.AutoDateLocator(tz=UTC, minticks=4, maxticks=9)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=UTC, show_offset=start_ns is None))
    if start_ns is not None and end_ns is not None and end_ns > start_ns:
        ax.set_xlim(float(_to_days(start_ns)), float(_to_days(end_ns)))
    ax.tick_params(labelsize=_TICK_SIZE)
    ax.grid(True, alpha=0.3)


def _plot(
    ax: Axes, data: SeriesData, color: str, label: str, bins: int = PIXEL_BINS, band_alpha: float = 0.18
) -> Line2D | None:
    """The series' per-pixel mean as a line over a light min..max band, in its display unit."""
    env = _envelope(data, bins)
    if env is None:
        return None
    factor = unit_of(data.name)[0]
    if np.any(env.hi > env.lo):
        ax.fill_between(env.x, env.lo * factor, env.hi * factor, color=color, alpha=band_alpha, linewidth=0)
    marker = "." if np.isfinite(env.mean).sum() < 60 else None
    (line,) = ax.plot(env.x, env.mean * factor, color=color, linewidth=1.1, marker=marker, label=label)
    return line


def _scale_y(ax: Axes, names: Iterable[str], series: Mapping[str, SeriesData]) -> None:
    """Start at zero when the data already reaches down near it, so a small wiggle does not look like a
    cliff; otherwise (a hit ratio near 100 %, memory at 150 MiB) zoom in so its drift stays visible.
    Leave headroom at the top for the legend."""
    finite = [_finite(series[n])[1] for n in names if _has_data(series, n)]
    lows, highs = [v.min() for v in finite], [v.max() for v in finite]
    if lows and min(lows) >= 0 and min(lows) <= 0.5 * max(highs):
        ax.set_ylim(bottom=0)
    _headroom(ax, 0.25)


def _headroom(ax: Axes, share: float) -> None:
    """Raise the top of the y axis by `share` of its range so the legend sits above the data."""
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo, hi + share * (hi - lo))


def _axis_label(what: str, name: str) -> str:
    unit = unit_of(name)[1]
    return f"{what} ({unit})" if unit else what


# What the other analytics pictures (backtest_panel.py) draw with, so every page has the same look.
COLORS = _COLORS
TITLE_SIZE, LABEL_SIZE, TICK_SIZE, LEGEND_SIZE = _TITLE_SIZE, _LABEL_SIZE, _TICK_SIZE, _LEGEND_SIZE
title, message, time_axis, headroom, to_days = _title, _message, _time_axis, _headroom, _to_days


@dataclass(slots=True, frozen=True)
class _Side:
    """One y axis of a time panel: the series it draws and what its label calls them."""

    names: tuple[str, ...]
    what: str


def _time_panel(
    ax: Axes,
    report: Report,
    series: Mapping[str, SeriesData],
    left: _Side,
    right: _Side | None,
    colors: Sequence[str],
) -> bool:
    """Left series on `ax`, right series on a twin axis, one legend; False (and a message) when none has data."""
    sides = [left] + ([right] if right else [])
    present = [[n for n in side.names if _has_data(series, n)] for side in sides]
    absent = [short_name(n) for side in sides for n in side.names if not _has_data(series, n)]
    if not any(present):
        _message(ax, f"no data in the window for {', '.join(absent)}")
        return False
    _time_axis(ax, report.window.start_ns, report.window.end_ns)
    handles: list[Line2D] = []
    color_iter = iter(colors)
    for i, (side, names) in enumerate(zip(sides, present, strict=True)):
        if i > 0 and not names:
            continue
        target = ax if i == 0 else ax.twinx()
        for name in names:
            line = _plot(target, series[name], next(color_iter), short_name(name), band_alpha=0.18 if i == 0 else 0.1)
            if line is not None:
                handles.append(line)
        if names:
            target.set_ylabel(_axis_label(side.what, names[0]), fontsize=_LABEL_SIZE)
            target.tick_params(labelsize=_TICK_SIZE)
            _scale_y(target, names, series)
    if absent:  # said in the legend, where it cannot collide with it
        handles.append(Line2D([], [], linestyle="none", label=textwrap.fill("no data: " + ", ".join(absent), 60)))
    ncol = 1 if absent else min(2, len(handles))
    legend = ax.legend(handles=handles, loc="upper left", fontsize=_LEGEND_SIZE, ncol=ncol, framealpha=0.85)
    if absent:
        legend.get_texts()[-1].set_color("#b71c1c")
    return True


def _stacked_panel(
    fig: Figure,
    spec: SubplotSpec,
    report: Report,
    series: Mapping[str, SeriesData],
    title: str,
    main: tuple[_Side, _Side, Sequence[str]],
    extra: tuple[_Side, str],
) -> None:
    """A panel split into a main row (left and twin axis) and a short row, sharing the time axis:
    a third unit gets its own row rather than a third y axis nobody can read."""
    inner = GridSpecFromSubplotSpec(2, 1, subplot_spec=spec, height_ratios=(2.2, 1), hspace=0.08)
    top = fig.add_subplot(inner[0])
    bottom = fig.add_subplot(inner[1], sharex=top)
    _title(top, title)
    drew_top = _time_panel(top, report, series, main[0], main[1], main[2])
    drew_bottom = _time_panel(bottom, report, series, extra[0], None, (extra[1],))
    top.tick_params(labelbottom=False)
    if drew_top and not drew_bottom:  # the message row still carries the shared time axis
        bottom.tick_params(bottom=True, labelbottom=True)


# ---------------------------------------------------------------------------------------------- header


def _header(fig: Figure, report: Report) -> None:
    """Title line (window and grade) and one coloured box per component: health readable at a glance."""
    w = report.window
    if w.end_ns > w.start_ns:
        span = f"{utc_text(w.start_ns)} → {utc_text(w.end_ns)} UTC  ({_duration(w.end_ns - w.start_ns)})"
    else:  # an empty store has no window: not 1970-01-01 (its path, often long, is in the panels)
        span = "no window: no samples in the metrics store"
    fig.text(
        0.03,
        0.982,
        f"ALL-USE metrics  ·  {span}",
        fontsize=18,
        fontweight="bold",
        va="center",
    )
    grade = report.grade
    score = f"{score_text(grade.score)}/100" if grade.score is not None else "no score"
    fig.text(
        0.97,
        0.982,
        f"Grade {grade.letter}  ·  {score}",
        fontsize=18,
        fontweight="bold",
        color="white",
        ha="right",
        va="center",
        bbox={"boxstyle": "round,pad=0.35", "facecolor": _GRADE_COLORS.get(grade.letter, _NO_DATA_COLOR)},
    )
    fig.text(
        0.03,
        0.962,
        f"{report.series_count} series  ·  {report.sample_count:,} samples  ·  "
        f"critical alerts fired: {grade.critical_alerts}  ·  generated {utc_text(report.generated_ns)} UTC",
        fontsize=11,
        color="#444444",
        va="center",
    )
    components = grade.components
    if not components:
        fig.text(0.03, 0.942, "no component checks in the report", fontsize=11, color="#444444", va="center")
        return
    step = 0.94 / len(components)
    for i, comp in enumerate(components):
        shown = score_text(comp.score) if comp.score is not None else "–"
        color = _STATUS_COLORS.get(comp.status, _NO_DATA_COLOR)
        fig.text(
            0.03 + step * (i + 0.5),
            0.942,
            f"{comp.component}: {comp.status} {shown}",
            fontsize=11,
            ha="center",
            va="center",
            color="black" if comp.status == "degraded" else "white",
            bbox={"boxstyle": "round,pad=0.3", "facecolor": color, "edgecolor": "none"},
        )


# ---------------------------------------------------------------------------------------------- panels 1-3


def _panel_trading(fig: Figure, spec: SubplotSpec, report: Report, series: Mapping[str, SeriesData]) -> None:
    ax = fig.add_subplot(spec)
    _title(ax, "1  Trading: venue ack and own submit latency, error ratio")
    _time_panel(
        ax,
        report,
        series,
        _Side(catalog.PANEL_TRADING[:-1], "latency"),
        _Side(catalog.PANEL_TRADING[-1:], "error ratio"),
        ("#1f77b4", "#ff7f0e", "#9467bd", "#2ca02c", "#d62728"),
    )


def _panel_market_data(fig: Figure, spec: SubplotSpec, report: Report, series: Mapping[str, SeriesData]) -> None:
    throughput, p50, p99, hit = catalog.PANEL_MARKET_DATA
    _stacked_panel(
        fig,
        spec,
        report,
        series,
        "2  Market data: throughput, feed latency, cache hit ratio",
        (_Side((throughput,), "quotes accepted"), _Side((p50, p99), "feed latency"), ("#2ca02c", "#1f77b4", "#d62728")),
        (_Side((hit,), "cache hit ratio"), "#8c564b"),
    )


def _panel_resources(fig: Figure, spec: SubplotSpec, report: Report, series: Mapping[str, SeriesData]) -> None:
    cpu, rss, lag = catalog.PANEL_RESOURCES
    _stacked_panel(
        fig,
        spec,
        report,
        series,
        "3  System resources: CPU, memory, event loop lag",
        (_Side((cpu,), "process CPU"), _Side((rss,), "RSS"), ("#1f77b4", "#9467bd")),
        (_Side((lag,), "event loop lag"), "#e377c2"),
    )


# ---------------------------------------------------------------------------------------------- panel 4


def _table_order(names: Sequence[str]) -> list[str]:
    """Key series first (their catalog order), then the rest as the report lists them, running totals last."""
    key = [n for n in catalog.KEY_SERIES if n in names]
    rest = [n for n in names if n not in key]
    rest.sort(key=catalog.is_cumulative)
    return (key + rest)[:MAX_TABLE_ROWS]


def _ellipsize(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    half = (limit - 1) // 2
    return f"{text[:half]}…{text[-(limit - 1 - half) :]}"


def _panel_stats(fig: Figure, spec: SubplotSpec, report: Report) -> None:
    ax = fig.add_subplot(spec)
    _title(ax, "4  Statistics over the window")
    by_name = {st.series: st for st in report.stats}
    if not by_name:
        _message(ax, f"no statistics: {_skip_reason(report, 'stats') or 'no series with data in the window'}")
        return
    ax.axis("off")
    columns = ("count", "mean", "p50", "p95", "p99", "max")
    checks = {(c.series, c.statistic): c.status for comp in report.grade.components for c in comp.checks if c.series}
    rows = _table_order(list(by_name))
    cells = [
        [_ellipsize(short_name(n), 44), f"{by_name[n].count:,}"]
        + [display(n, getattr(by_name[n], col)) for col in columns[1:]]
        for n in rows
    ]
    height = min(0.92, 0.07 * (len(rows) + 1))
    table = ax.table(
        cellText=cells,
        colLabels=("series", *columns),
        colWidths=(0.4, *([0.1] * len(columns))),
        cellLoc="right",
        bbox=(0.0, 1.0 - height, 1.0, height),  # type: ignore[arg-type]  # documented [x, y, w, h]; stubs say Bbox only
    )
    table.auto_set_font_size(False)
    table.set_fontsize(8.5)
    for (r, c), cell in table.get_celld().items():
        cell.set_edgecolor("#cccccc")
        if r == 0:
            cell.set_facecolor("#eeeeee")
            cell.set_text_props(fontweight="bold")
            continue
        if c == 0:
            cell.PAD = 0.02
            name = cell.get_text().get_text()
            # a long labelled name shrinks to fit rather than run into the next column
            cell.set_text_props(ha="left", fontsize=max(6.5, 8.5 * min(1.0, 34 / len(name))))
            continue
        status = checks.get((rows[r - 1], columns[c - 1]))
        if status in _CHECK_COLORS:
            cell.set_facecolor(_CHECK_COLORS[status])
    shown = f"{len(rows)} of {len(by_name)} series" if len(by_name) > len(rows) else f"{len(rows)} series"
    legend = [Patch(facecolor=col, edgecolor="#cccccc", label=f"grade check {st}") for st, col in _CHECK_COLORS.items()]
    ax.legend(
        handles=legend,
        loc="upper left",
        bbox_to_anchor=(0.0, 1.0 - height - 0.02),
        ncol=3,
        fontsize=_LEGEND_SIZE,
        frameon=False,
        title=f"{shown}; values in display units",
        title_fontsize=_LEGEND_SIZE,
    )


# ---------------------------------------------------------------------------------------------- panel 5


def _pick_trends(trends: Sequence[Trend]) -> list[Trend]:
    """Significant trends, worsening ones first, then by how much they moved relative to their level."""
    significant = [t for t in trends if t.significant]
    significant.sort(key=lambda t: (not t.worsening, -abs(t.relative_change or 0.0)))
    return significant[:MAX_TRENDS]


def _panel_trends(fig: Figure, spec: SubplotSpec, report: Report, series: Mapping[str, SeriesData]) -> None:
    ax = fig.add_subplot(spec)
    _title(ax, "5  Significant trends (worsening first)")
    chosen = [t for t in _pick_trends(report.trends) if _has_data(series, t.series)]
    if not chosen:
        if report.trends:
            text = f"no significant trend among {len(report.trends)} series fitted"
        else:
            text = f"no trends: {_skip_reason(report, 'trends') or 'none computed (see report)'}"
        _message(ax, text)
        return
    _time_axis(ax, report.window.start_ns, report.window.end_ns)
    for trend, color in zip(chosen, _COLORS, strict=False):
        data = series[trend.series]
        ts, values = _finite(data)
        mean, std = float(values.mean()), float(values.std())
        scale = std if std > 0 else 1.0  # a constant series: its deviation from the mean, unscaled
        env = _envelope(data, TREND_BINS)
        if env is None:
            continue
        ax.plot(env.x, (env.mean - mean) / scale, color=color, linewidth=0.9, alpha=0.55)
        ends = np.array([max(trend.t0_ns, int(ts[0])), int(ts[-1])], dtype=np.float64)
        fitted = trend.intercept + trend.slope_per_hour * (ends - trend.t0_ns) / NS_PER_HOUR
        sign = "+" if trend.slope_per_hour > 0 else ""
        mark = "  ▲ WORSENING" if trend.worsening else ""
        ax.plot(
            _to_days(ends),
            (fitted - mean) / scale,
            color=color,
            linewidth=3.0 if trend.worsening else 2.0,
            linestyle="-" if trend.worsening else "--",
            label=f"{short_name(trend.series)}: {sign}{display(trend.series, trend.slope_per_hour)}/h, "
            f"{p_text(trend.p_value)}{mark}",
        )
    ax.set_ylabel("z-score: (value − mean) / std", fontsize=_LABEL_SIZE)
    ax.tick_params(labelsize=_TICK_SIZE)
    _headroom(ax, 0.45)
    ax.legend(
        loc="upper left",
        fontsize=_LEGEND_SIZE,
        framealpha=0.9,
        title="thin: binned data  ·  thick: fitted trend",
        title_fontsize=_LEGEND_SIZE,
    )


# ---------------------------------------------------------------------------------------------- panel 6


def _pick_anomaly_series(report: Report, series: Mapping[str, SeriesData]) -> str | None:
    """The series most often the top standout of an anomalous window, then most often any standout,
    then with the most robust outliers; only series with data to draw."""
    an = report.anomalies
    if an is None:
        return None
    top = Counter(w.standouts[0].series for w in an.windows if w.standouts)
    anywhere = Counter(sd.series for w in an.windows for sd in w.standouts)
    outliers = Counter(o.series for o in an.outliers)
    candidates = [n for n in set(anywhere) | set(outliers) if _has_data(series, n)]
    if not candidates:
        return None
    return max(sorted(candidates), key=lambda n: (top[n], anywhere[n], outliers[n]))


def _panel_anomalies(fig: Figure, spec: SubplotSpec, report: Report, series: Mapping[str, SeriesData]) -> None:
    ax = fig.add_subplot(spec)
    an = report.anomalies
    name = _pick_anomaly_series(report, series)
    _title(ax, f"6  Anomalies{': ' + short_name(name) if name else ''}")
    if an is None:
        _message(ax, f"no anomaly detection: {_skip_reason(report, 'anomalies') or 'not run (see report)'}")
        return
    if name is None:
        if an.windows or an.outliers:
            text = "anomalies found, but none of their series has data to draw"
        else:
            text = f"no anomalous windows or outliers among {len(an.series_used)} series"
        _message(ax, text)
        return
    _time_axis(ax, report.window.start_ns, report.window.end_ns)
    factor, unit = unit_of(name)
    handles: list[Line2D | Patch] = []
    line = _plot(ax, series[name], "#1f77b4", short_name(name))
    if line is not None:
        handles.append(line)
    if an.windows:
        scores = np.array([w.score for w in an.windows], dtype=np.float64)
        ok = np.isfinite(scores)
        scores = np.where(ok, scores, scores[ok].min() if ok.any() else 0.0)  # an unscored window: faintest
        span = np.ptp(scores)
        alphas = 0.12 + 0.38 * ((scores - scores.min()) / span if span > 0 else np.full(scores.size, 0.6))
        lo_day, hi_day = ax.get_xlim()
        min_width = (hi_day - lo_day) / 250  # a one-minute window in a day would be under a pixel wide
        for w, alpha in zip(an.windows, alphas, strict=True):
            a, b = float(_to_days(w.start_ns)), float(_to_days(w.end_ns))
            pad = max(0.0, (min_width - (b - a)) / 2)
            ax.axvspan(a - pad, b + pad, color="#ff7043", alpha=float(alpha), linewidth=0)
        handles.append(
            Patch(facecolor="#ff7043", alpha=0.4, label=f"{len(an.windows)} anomalous windows (darker = higher score)")
        )
    mine = [o for o in an.outliers if o.series == name]
    if mine:
        total = max(an.outlier_counts.get(name, 0), len(mine))
        shown = f"{len(mine)} of {total} outliers" if total > len(mine) else f"{len(mine)} outliers"
        (marks,) = ax.plot(
            _to_days(np.array([o.ts_ns for o in mine], dtype=np.float64)),
            np.array([o.value for o in mine]) * factor,
            linestyle="none",
            marker="x",
            markersize=7,
            markeredgewidth=1.8,
            color="#b71c1c",
            label=f"{shown} (|robust z| > {an.robust_threshold:g})",
        )
        handles.append(marks)
    standout = sum(1 for w in an.windows if any(sd.series == name for sd in w.standouts))
    ax.set_ylabel(_axis_label(short_name(name).split(":")[0].split("{")[0], name), fontsize=_LABEL_SIZE)
    _headroom(ax, 0.3)
    ax.legend(
        handles=handles,
        loc="upper left",
        fontsize=_LEGEND_SIZE,
        framealpha=0.9,
        title=f"a standout in {standout} of {len(an.windows)} windows",
        title_fontsize=_LEGEND_SIZE,
    )


# ---------------------------------------------------------------------------------------------- panel 7


def _pick_forecasts(forecasts: Sequence[Forecast]) -> list[Forecast]:
    """Key series in catalog order, then any others as the report lists them."""
    order = {name: i for i, name in enumerate(catalog.KEY_SERIES)}
    ranked = sorted(enumerate(forecasts), key=lambda p: (order.get(p[1].series, len(order)), p[0]))
    return [f for _, f in ranked if f.ts_ns][:MAX_FORECASTS]


def _panel_forecasts(fig: Figure, spec: SubplotSpec, report: Report, series: Mapping[str, SeriesData]) -> None:
    chosen = _pick_forecasts(report.forecasts)
    if not chosen:
        ax = fig.add_subplot(spec)
        _title(ax, "7  Forecasts")
        _message(ax, f"no forecasts: {_skip_reason(report, 'forecasts') or 'none in the report'}")
        return
    inner = GridSpecFromSubplotSpec(1, MAX_FORECASTS, subplot_spec=spec, wspace=0.28)
    for i, fc in enumerate(chosen):
        ax = fig.add_subplot(inner[i])
        if i == 0:
            ax.text(
                0.0,
                1.17,
                "7  Forecasts (80% and 95% bands)",
                transform=ax.transAxes,
                fontsize=_TITLE_SIZE,
                fontweight="bold",
                va="bottom",
            )
        _draw_forecast(ax, fc, series.get(fc.series))
    if len(chosen) < MAX_FORECASTS:
        ax = fig.add_subplot(inner[len(chosen) :])
        ax.axis("off")
        ax.text(
            0.5,
            0.5,
            f"{len(report.forecasts)} forecast(s) in the report",
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize=11,
            color="#555555",
        )


def _draw_forecast(ax: Axes, fc: Forecast, data: SeriesData | None) -> None:
    factor, unit = unit_of(fc.series)
    ax.set_title(
        f"{short_name(fc.series)}\n{fc.model}  ·  held-out MAE {display(fc.series, fc.holdout_mae)}",
        fontsize=10,
    )
    _time_axis(ax)
    start = fc.ts_ns[0]
    step_ns = max(1, int(fc.step_s * 1e9))
    history_ns = int(FORECAST_HISTORY_HORIZONS * max(fc.horizon_s, fc.step_s) * 1e9)
    if data is not None:
        hx, hy = _bin_means(data, start - history_ns, start, step_ns)
        if hx.size:
            ax.plot(hx, hy * factor, color="#444444", linewidth=1.0, label="history")
    x = _to_days(np.asarray(fc.ts_ns, dtype=np.float64))
    for lo, hi, colour, alpha, label in (
        (fc.lo95, fc.hi95, "#90caf9", 0.45, "95%"),
        (fc.lo80, fc.hi80, "#42a5f5", 0.55, "80%"),
    ):
        ax.fill_between(
            x, np.asarray(lo) * factor, np.asarray(hi) * factor, color=colour, alpha=alpha, linewidth=0, label=label
        )
    ax.plot(x, np.asarray(fc.mean) * factor, color="#0d47a1", linewidth=1.6, label="forecast")
    ax.axvline(float(_to_days(start)), color="#777777", linewidth=0.8, linestyle=":")
    if unit:
        ax.set_ylabel(unit, fontsize=_LABEL_SIZE)
    ax.legend(loc="upper left", fontsize=7.5, framealpha=0.85, ncol=2)
