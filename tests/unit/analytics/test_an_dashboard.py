"""Dashboard: a full report renders a PNG of the promised size, missing parts become messages, nasty series
(NaN gaps, constant, mid-window, single point) draw, and the per-pixel reduction keeps every extreme."""

from __future__ import annotations

import struct
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_rgba
from matplotlib.text import Text

from alluse.analytics import catalog, dashboard, units
from alluse.analytics.results import (
    NS_PER_HOUR,
    NS_PER_S,
    Anomalies,
    AnomalyWindow,
    Check,
    ComponentHealth,
    Forecast,
    Grade,
    Outlier,
    Report,
    SeriesData,
    SeriesStats,
    Skipped,
    Standout,
    Trend,
    Window,
)
from alluse.common.metrics import derived
from alluse.monitoring import series as s

START_NS = 1_714_521_600 * NS_PER_S  # 2024-05-01 00:00:00 UTC
DAY_S = 86_400
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EXTRA_SERIES = (
    s.STALE_QUOTE_RATIO,
    s.DAILY_LOSS_LIMIT_USED_RATIO,
    s.QUOTE_AGE_SECONDS,
    s.METRICS_STORE_HEALTHY,
    s.BROKER_CONNECTED,
    s.ALERTS_FIRING,
    s.ALERT_NOTIFICATIONS_TOTAL,
    derived("alluse_order_ack_latency_seconds", "rate"),
)
ALL_NAMES = (*catalog.PANEL_TRADING, *catalog.PANEL_MARKET_DATA, *catalog.PANEL_RESOURCES, *EXTRA_SERIES)


# ---------------------------------------------------------------------------------------------- builders


def make_series(points: int = DAY_S, step_s: float = 1.0, seed: int = 7) -> dict[str, SeriesData]:
    """Twenty plausible series over a day: a latency step at 15:00 for 20 minutes, a few NaN gaps,
    a slow latency and memory creep."""
    rng = np.random.default_rng(seed)
    ts = START_NS + (np.arange(points) * step_s * NS_PER_S).astype(np.int64)
    hours = (ts - START_NS) / NS_PER_HOUR
    day = np.sin(2 * np.pi * hours / 24)
    spike = ((hours > 15) & (hours < 15 + 1 / 3)).astype(float)
    base_ms = 2.0 + 0.03 * hours + 4.0 * spike
    values = {
        catalog.ORDER_LATENCY_PERCENTILES[0]: base_ms / 1e3 + rng.gamma(2, 0.1, points) / 1e3,
        catalog.ORDER_LATENCY_PERCENTILES[1]: 2 * base_ms / 1e3 + rng.gamma(2, 0.3, points) / 1e3,
        catalog.ORDER_LATENCY_PERCENTILES[2]: 4 * base_ms / 1e3 + rng.gamma(2, 0.8, points) / 1e3,
        s.TRADING_ERROR_RATIO: np.where(rng.random(points) < 0.01, rng.uniform(0.005, 0.03, points), 0.0)
        + 0.02 * spike,
        s.QUOTES_ACCEPTED_RATE: 400 + 150 * day + rng.normal(0, 20, points),
        catalog.FEED_LATENCY_P50: (0.3 + rng.gamma(2, 0.02, points)) / 1e3,
        s.FEED_LATENCY_P99: (1.5 + rng.gamma(2, 0.2, points) + 3 * spike) / 1e3,
        s.CACHE_HIT_RATIO: np.clip(0.97 + rng.normal(0, 0.005, points) - 0.1 * spike, 0, 1),
        s.PROCESS_CPU_PERCENT: 20 + 8 * day + rng.normal(0, 2, points),
        s.PROCESS_RSS_BYTES: (150 + 0.8 * hours + rng.normal(0, 0.3, points)) * 2**20,
        s.EVENT_LOOP_LAG_SECONDS: (1.0 + rng.gamma(1.5, 0.3, points) + 5 * spike) / 1e3,
        s.ORDER_SUBMIT_P99: (0.06 + rng.gamma(2, 0.01, points)) / 1e3,  # drawn last: the others' draws stay put
    }
    for i, name in enumerate(EXTRA_SERIES):
        scale = 0.01 if name.endswith("_ratio") else 0.1 if "_seconds" in name else 10.0
        values[name] = np.abs(rng.normal(1 + 0.1 * i, 0.2, points)) * scale
    for name, v in values.items():
        gap = rng.integers(0, points - 50)
        v[gap : gap + 40] = np.nan
        values[name] = v
    return {name: SeriesData(name, ts, v) for name, v in values.items()}


def make_stats(series: dict[str, SeriesData]) -> list[SeriesStats]:
    out = []
    for name, d in series.items():
        ok = np.isfinite(d.values)
        v, t = d.values[ok], d.ts_ns[ok]
        p50, p95, p99 = np.percentile(v, [50, 95, 99])
        out.append(
            SeriesStats(
                name,
                int(v.size),
                float(v.mean()),
                float(v.std()),
                float(v.min()),
                float(p50),
                float(p95),
                float(p99),
                float(v.max()),
                int(t[0]),
                int(t[-1]),
            )
        )
    return out


def make_trend(d: SeriesData, p_value: float, worse: bool | None) -> Trend:
    ok = np.isfinite(d.values)
    hours = (d.ts_ns[ok] - d.ts_ns[0]) / NS_PER_HOUR
    slope, intercept = np.polyfit(hours, d.values[ok], 1)
    mean = float(d.values[ok].mean())
    significant = p_value < 0.05
    return Trend(
        series=d.name,
        n=int(ok.sum()),
        n_effective=float(ok.sum()),
        t0_ns=int(d.ts_ns[0]),
        slope_per_hour=float(slope),
        intercept=float(intercept),
        r2=0.5,
        p_value=p_value,
        significant=significant,
        direction=("rising" if slope > 0 else "falling") if significant else "flat",
        relative_change=float(slope * hours[-1] / abs(mean)),
        higher_is_worse=worse,
        worsening=(significant and (slope > 0) == worse) if worse is not None else None,
    )


def make_forecast(d: SeriesData, step_s: float = 60.0, horizon: int = 30) -> Forecast:
    last = int(d.ts_ns[-1])
    ts = [last + NS_PER_S + int(k * step_s * NS_PER_S) for k in range(horizon)]  # the bin after the history
    level = float(np.nanmean(d.values[-600:]))
    spread = float(np.nanstd(d.values[-600:])) * np.sqrt(np.arange(1, horizon + 1) / 4)
    return Forecast(
        series=d.name,
        model="ETS(A,Ad,N)",
        criterion="lowest held-out MAE",
        candidates={"ETS(A,Ad,N)": 0.1},
        step_s=step_s,
        horizon_s=horizon * step_s,
        requested_horizon_s=horizon * step_s,
        history_points=720,
        notes=[],
        ts_ns=ts,
        mean=[level] * horizon,
        lo80=list(level - 1.28 * spread),
        hi80=list(level + 1.28 * spread),
        lo95=list(level - 1.96 * spread),
        hi95=list(level + 1.96 * spread),
        holdout_points=30,
        holdout_mae=level * 0.05,
        holdout_relative_mae=0.05,
        holdout_coverage95=0.93,
    )


def make_grade(letter: str = "B", score: float | None = 84.0) -> Grade:
    p99 = catalog.ORDER_LATENCY_PERCENTILES[2]
    checks = [
        Check("trading", "order ack p99", p99, "p99", "at_most", 0.01, 0.2, 0.0112, 0.5, "near"),
        Check("trading", "error ratio", s.TRADING_ERROR_RATIO, "mean", "at_most", 0.01, 0.2, 0.001, 1.0, "met"),
        Check("market_data", "cache hits", s.CACHE_HIT_RATIO, "mean", "at_least", 0.99, 0.01, 0.97, 0.0, "missed"),
    ]
    return Grade(
        letter=letter,
        score=score,
        rubric="mean of component scores",
        critical_alerts=0,
        components=[
            ComponentHealth("trading", 75.0, "degraded", checks[:2]),
            ComponentHealth("market_data", 0.0, "unhealthy", checks[2:]),
            ComponentHealth("resources", 100.0, "healthy", []),
            ComponentHealth("monitoring", None, "no data", []),
        ],
    )


def make_report(series: dict[str, SeriesData]) -> Report:
    p99 = catalog.ORDER_LATENCY_PERCENTILES[2]
    spike_start = START_NS + 15 * NS_PER_HOUR
    windows = [
        AnomalyWindow(
            spike_start + k * 60 * NS_PER_S,
            spike_start + (k + 1) * 60 * NS_PER_S,
            0.7 - 0.01 * k,
            [Standout(p99, 0.02, 9.0), Standout(s.EVENT_LOOP_LAG_SECONDS, 0.006, 7.0)],
        )
        for k in range(0, 20, 2)
    ] + [
        AnomalyWindow(
            START_NS + 4 * NS_PER_HOUR,
            START_NS + 4 * NS_PER_HOUR + 60 * NS_PER_S,
            0.55,
            [Standout(s.PROCESS_CPU_PERCENT, 40.0, 6.0)],
        )
    ]
    d = series[p99]
    top = np.argsort(np.nan_to_num(d.values, nan=-1.0))[-8:]
    outliers = [Outlier(p99, int(d.ts_ns[i]), float(d.values[i]), 8.0) for i in top]
    trends = [
        make_trend(series[p99], 1e-9, True),
        make_trend(series[s.PROCESS_RSS_BYTES], 1e-12, True),
        make_trend(series[s.QUOTES_ACCEPTED_RATE], 0.004, False),
        make_trend(series[s.CACHE_HIT_RATIO], 0.02, False),
        make_trend(series[s.PROCESS_CPU_PERCENT], 0.4, True),
    ]
    return Report(
        schema_version=1,
        generated_ns=START_NS + DAY_S * NS_PER_S + 5 * NS_PER_S,
        window=Window(START_NS, START_NS + DAY_S * NS_PER_S),
        sample_count=sum(v.values.size for v in series.values()),
        rebuilt_sample_count=0,
        series_count=len(series),
        stats=make_stats(series),
        trends=trends,
        anomalies=Anomalies(60.0, 0.1, 5.0, list(series), windows, outliers, {p99: len(outliers)}),
        forecasts=[make_forecast(series[n]) for n in (s.PROCESS_RSS_BYTES, p99, s.CACHE_HIT_RATIO, s.FEED_LATENCY_P99)],
        alerts=[],
        grade=make_grade(),
        insights=[],
    )


def empty_report() -> Report:
    return Report(
        schema_version=1,
        generated_ns=START_NS,
        window=Window(START_NS, START_NS + 120 * NS_PER_S),
        sample_count=0,
        rebuilt_sample_count=0,
        series_count=0,
        stats=[],
        trends=[],
        anomalies=None,
        forecasts=[],
        alerts=[],
        grade=Grade("n/a", None, "mean of component scores", [], 0),
        insights=[],
        skipped=[
            Skipped("anomalies", None, "window too short: 2 grid bins, need at least 20"),
            Skipped("forecasts", None, "window too short: 2 bins of history, need at least 20"),
        ],
    )


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_SIGNATURE
    return struct.unpack(">II", head[16:24])


def figure_text(report: Report, series: dict[str, SeriesData]) -> str:
    fig = dashboard._build_figure(report, series)
    return "\n".join(t.get_text() for t in fig.findobj(Text))


@pytest.fixture(scope="module")
def hour_series() -> dict[str, SeriesData]:
    return make_series(points=3600 * 24 // 10, step_s=10.0)


# ---------------------------------------------------------------------------------------------- rendering


def test_full_report_renders_png_of_promised_size(tmp_path: Path, hour_series: dict[str, SeriesData]) -> None:
    out = tmp_path / "dash.png"
    dashboard.render_dashboard(out, make_report(hour_series), hour_series)
    assert png_size(out) == (16 * 96, 20 * 96)


def test_full_report_says_window_grade_and_picks(hour_series: dict[str, SeriesData]) -> None:
    text = figure_text(make_report(hour_series), hour_series)
    assert "2024-05-01 00:00:00 → 2024-05-02 00:00:00 UTC  (24.0 h)" in text
    assert "Grade B  ·  84/100" in text
    assert "6  Anomalies: order_ack_latency_seconds:p99" in text  # top standout of 10 of 11 windows
    assert "a standout in 10 of 11 windows" in text
    assert "▲ WORSENING" in text
    assert "no data:" not in text  # every panel series is present
    assert "held-out MAE" in text


def test_empty_report_draws_messages_not_an_exception(tmp_path: Path) -> None:
    report = empty_report()
    out = tmp_path / "empty.png"
    dashboard.render_dashboard(out, report, {})
    assert png_size(out) == (1536, 1920)
    text = figure_text(report, {})
    assert "no forecasts: window too short: 2 bins of history" in text
    assert "no anomaly detection: window too short: 2 grid bins" in text
    assert "no statistics:" in text
    assert "no trends:" in text
    assert "no data in the window for order_ack_latency_seconds:p50" in text
    assert "Grade n/a  ·  no score" in text
    assert "(2 min)" in text
    assert "no component checks in the report" in text


def test_unwritable_path_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        dashboard.render_dashboard(tmp_path / "missing" / "dash.png", empty_report(), {})
    with pytest.raises(OSError):
        dashboard.render_dashboard(tmp_path, empty_report(), {})  # a directory


def test_day_of_twenty_series_renders(tmp_path: Path) -> None:
    series = make_series()
    assert len(series) == 20 and all(d.values.size == DAY_S for d in series.values())
    report = make_report(series)
    began = time.perf_counter()
    dashboard.render_dashboard(tmp_path / "day.png", report, series)
    print(f"dashboard for 20 x {DAY_S:,} points rendered in {time.perf_counter() - began:.2f} s")
    assert png_size(tmp_path / "day.png") == (1536, 1920)


def test_renders_off_the_main_thread(tmp_path: Path) -> None:
    """No pyplot state: two renders at once in worker threads both produce complete pictures."""
    paths = [tmp_path / f"t{i}.png" for i in range(2)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda p: dashboard.render_dashboard(p, empty_report(), {}), paths))
    assert [png_size(p) for p in paths] == [(1536, 1920)] * 2


def test_nasty_series_draw(tmp_path: Path) -> None:
    """Constant, mid-window, single point, all-NaN and irregular series: drawn or named as absent."""
    rng = np.random.default_rng(3)
    window = Window(START_NS, START_NS + 3600 * NS_PER_S)
    ts = START_NS + np.sort(rng.choice(3600, 400, replace=False)).astype(np.int64) * NS_PER_S  # irregular
    one = np.array([START_NS + 1800 * NS_PER_S], dtype=np.int64)
    series = {
        s.PROCESS_CPU_PERCENT: SeriesData(s.PROCESS_CPU_PERCENT, ts, np.full(ts.size, 12.5)),  # constant
        s.PROCESS_RSS_BYTES: SeriesData(s.PROCESS_RSS_BYTES, ts[200:], rng.normal(1e8, 1e6, 200)),  # mid-window
        s.EVENT_LOOP_LAG_SECONDS: SeriesData(s.EVENT_LOOP_LAG_SECONDS, one, np.array([0.002])),  # one point
        s.CACHE_HIT_RATIO: SeriesData(s.CACHE_HIT_RATIO, ts, np.full(ts.size, np.nan)),  # only gaps
        s.QUOTES_ACCEPTED_RATE: SeriesData(s.QUOTES_ACCEPTED_RATE, ts, np.where(ts % 7 == 0, np.nan, 300.0)),
    }
    report = empty_report()
    report.window = window
    report.stats = make_stats({k: v for k, v in series.items() if k != s.CACHE_HIT_RATIO})
    dashboard.render_dashboard(tmp_path / "nasty.png", report, series)
    assert png_size(tmp_path / "nasty.png") == (1536, 1920)
    text = figure_text(report, series)
    assert "no data: quote_cache_hit_ratio" not in text  # its sub-axis has nothing at all: a message instead
    assert "no data in the window for quote_cache_hit_ratio" in text
    assert "process_cpu_percent" in text
    # a partly present panel names what it lacks (possibly wrapped)
    assert "no data: feed_latency_seconds:p50, feed_latency_seconds:p99" in text.replace("\n", " ")


def test_unscored_anomaly_window_and_gappy_outlier_still_draw(
    tmp_path: Path, hour_series: dict[str, SeriesData]
) -> None:
    report = make_report(hour_series)
    assert report.anomalies is not None
    report.anomalies.windows[0].score = float("nan")
    report.anomalies.windows[1].score = float("inf")
    report.anomalies.outliers.append(Outlier(catalog.ORDER_LATENCY_PERCENTILES[2], START_NS, float("nan"), 9.0))
    dashboard.render_dashboard(tmp_path / "odd.png", report, hour_series)
    assert png_size(tmp_path / "odd.png") == (1536, 1920)


def test_grade_checks_tint_the_cell_of_their_statistic(hour_series: dict[str, SeriesData]) -> None:
    fig = dashboard._build_figure(make_report(hour_series), hour_series)
    (table,) = [t for ax in fig.axes for t in ax.tables]
    cells = table.get_celld()
    header = {cells[0, c].get_text().get_text(): c for c in range(7)}
    rows = {cells[r, 0].get_text().get_text(): r for r in range(1, 13)}
    near, missed = to_rgba("#ffe082"), to_rgba("#ef9a9a")
    p99_row = rows["order_ack_latency_seconds:p99"]
    assert cells[p99_row, header["p99"]].get_facecolor() == near
    assert cells[p99_row, header["max"]].get_facecolor() != near
    assert cells[rows["quote_cache_hit_ratio"], header["mean"]].get_facecolor() == missed
    assert list(rows)[:2] == ["order_ack_latency_seconds:p99", "trading_error_ratio"]  # key series first


# ---------------------------------------------------------------------------------------------- data shaping


def test_envelope_keeps_every_extreme_and_bounds_points() -> None:
    rng = np.random.default_rng(1)
    v = rng.normal(0, 1, DAY_S)
    v[12_345], v[70_000] = 50.0, -40.0
    ts = START_NS + np.arange(DAY_S, dtype=np.int64) * NS_PER_S
    env = dashboard._envelope(SeriesData("x", ts, v), 600)
    assert env is not None
    assert env.x.size <= 601  # one row per bin (no gaps here, so no break rows)
    assert np.nanmax(env.hi) == 50.0 and np.nanmin(env.lo) == -40.0
    assert np.nanmean(env.mean) == pytest.approx(v.mean(), abs=1e-9)  # equal bins: mean of means
    assert np.all(np.diff(env.x) > 0)


def test_envelope_breaks_lines_at_gaps_and_skips_empty() -> None:
    ts = START_NS + np.arange(100, dtype=np.int64) * NS_PER_S
    v = np.arange(100, dtype=np.float64)
    v[40:60] = np.nan  # a 20 s run of gaps at 1 s cadence
    env = dashboard._envelope(SeriesData("x", ts, v), 600)
    assert env is not None
    assert env.x.size == 81  # 80 finite samples drawn raw + one break
    assert np.isnan(env.mean).sum() == 1 and np.isnan(env.mean[40])
    assert dashboard._envelope(SeriesData("x", ts, np.full(100, np.nan)), 600) is None
    assert dashboard._envelope(SeriesData("x", ts[:0], v[:0]), 600) is None


def test_envelope_times_are_utc_date_numbers() -> None:
    env = dashboard._envelope(SeriesData("x", np.array([START_NS]), np.array([1.0])), 10)
    assert env is not None
    import matplotlib.dates as mdates

    assert mdates.num2date(env.x[0]).isoformat() == "2024-05-01T00:00:00+00:00"


def test_bin_means_match_forecast_steps() -> None:
    ts = START_NS + np.arange(600, dtype=np.int64) * NS_PER_S
    x, means = dashboard._bin_means(
        SeriesData("x", ts, np.arange(600.0)), START_NS, START_NS + 600 * NS_PER_S, 60 * NS_PER_S
    )
    assert means.tolist() == [29.5 + 60 * k for k in range(10)]
    assert x.size == 10


# ---------------------------------------------------------------------------------------------- choices


def test_trends_worsening_first_then_largest_change() -> None:
    def t(name: str, rel: float, worsening: bool | None, significant: bool = True) -> Trend:
        return Trend(name, 10, 10.0, 0, 1.0, 0.0, 0.5, 0.01, significant, "rising", rel, True, worsening)

    picked = dashboard._pick_trends(
        [
            t("a", 0.9, False),
            t("b", 0.1, True),
            t("c", -0.5, True),
            t("d", 5.0, None, significant=False),
            t("e", 0.3, None),
            t("f", 0.2, False),
        ]
    )
    assert [p.series for p in picked] == ["c", "b", "a", "e"]


def test_anomaly_series_is_the_most_frequent_top_standout(hour_series: dict[str, SeriesData]) -> None:
    report = make_report(hour_series)
    assert dashboard._pick_anomaly_series(report, hour_series) == catalog.ORDER_LATENCY_PERCENTILES[2]
    assert report.anomalies is not None
    report.anomalies.windows = []
    report.anomalies.outliers = [Outlier(s.PROCESS_CPU_PERCENT, START_NS, 90.0, 7.0)]
    assert dashboard._pick_anomaly_series(report, hour_series) == s.PROCESS_CPU_PERCENT
    assert dashboard._pick_anomaly_series(report, {}) is None  # nothing to draw


def test_forecasts_follow_key_series_order(hour_series: dict[str, SeriesData]) -> None:
    picked = dashboard._pick_forecasts(make_report(hour_series).forecasts)
    assert [f.series for f in picked] == [catalog.ORDER_LATENCY_PERCENTILES[2], s.FEED_LATENCY_P99, s.CACHE_HIT_RATIO]


def test_table_puts_key_series_first_and_running_totals_last() -> None:
    names = [s.ALERT_NOTIFICATIONS_TOTAL, "alluse_x", s.PROCESS_RSS_BYTES, s.TRADING_ERROR_RATIO]
    assert dashboard._table_order(names) == [
        s.TRADING_ERROR_RATIO,
        s.PROCESS_RSS_BYTES,
        "alluse_x",
        s.ALERT_NOTIFICATIONS_TOTAL,
    ]


def test_short_names_drop_the_prefix_and_keep_labels() -> None:
    assert units.short_name(s.QUOTES_ACCEPTED_RATE) == 'quotes_total:rate{outcome="accepted"}'


def test_a_capped_outlier_list_says_how_many_there_were(hour_series: dict[str, SeriesData]) -> None:
    report = make_report(hour_series)
    assert report.anomalies is not None
    shown = len(report.anomalies.outliers)
    assert f"{shown} outliers (|robust z| > 5)" in figure_text(report, hour_series)
    report.anomalies.outlier_counts = {catalog.ORDER_LATENCY_PERCENTILES[2]: 240}
    assert f"{shown} of 240 outliers (|robust z| > 5)" in figure_text(report, hour_series)


def test_a_b_just_under_90_does_not_read_as_90(hour_series: dict[str, SeriesData]) -> None:
    report = make_report(hour_series)
    report.grade = make_grade("B", 89.6)
    report.grade.components[0].score, report.grade.components[0].status = 89.6, "degraded"
    text = figure_text(report, hour_series)
    assert "Grade B  ·  89/100" in text and "trading: degraded 89" in text


def test_an_empty_store_has_no_1970_window_and_says_why_everywhere() -> None:
    report = empty_report()
    report.window = Window(0, 0)
    report.skipped = [Skipped("data", None, "data/metrics.db holds no samples")]
    text = figure_text(report, {})
    assert "1970" not in text
    assert "no window: no samples in the metrics store" in text
    assert "no trends: data/metrics.db holds no samples" in text
