"""The whole report from a metrics store on disk: files, JSON schema, and the bad inputs of issue #5."""

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from alluse.analytics.config import AnalyticsConfig
from alluse.analytics.data import ReportInput, ReportInputError
from alluse.analytics.generate import generate_report
from alluse.analytics.outputs import ReportOutputError
from alluse.analytics.report import REPORT_SCHEMA, build_report, from_json, to_json
from alluse.analytics.results import NS_PER_S, SeriesData, Window
from alluse.bench.an1 import write_history
from alluse.common.metrics import Sample
from alluse.monitoring import series as s
from alluse.monitoring.store import open_for_writing
from alluse.monitoring.store_writer import SampleWriter

ROOT = Path(__file__).resolve().parents[2]
END = 1_800_000_000 * NS_PER_S
CONFIG = AnalyticsConfig()


def write_samples(data_dir: Path, samples: list[Sample]) -> None:
    db = open_for_writing(data_dir / "metrics.db")
    try:
        SampleWriter(db).write(samples)
    finally:
        db.close()


def report_of(data_dir: Path, **kw):
    return generate_report(data_dir, data_dir / "report", CONFIG, generated_ns=END, **kw)


@pytest.fixture(scope="module")
def two_hours(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("an")
    write_history(d / "metrics.db", n_series=20, hours=2.0, end_ns=END, seed=3)
    return d


def test_a_report_over_a_real_store_writes_every_file_and_grades_from_the_data(two_hours):
    report, files = report_of(two_hours)
    assert report.series_count == 20 and report.sample_count == 20 * 7200
    assert files.dashboard.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads(files.report.read_text())["schema_version"] == 1
    md = files.summary_md.read_text()
    assert f"Grade {report.grade.letter}" in md and "| component |" in md
    assert f"Grade {report.grade.letter}" in files.summary_txt.read_text()
    assert {f.series for f in report.forecasts} <= {n for n in (s.ORDER_LATENCY_P99, s.PROCESS_CPU_PERCENT,
            s.PROCESS_RSS_BYTES, s.CACHE_HIT_RATIO, s.QUOTES_ACCEPTED_RATE, s.FEED_LATENCY_P99,
            s.EVENT_LOOP_LAG_SECONDS, s.TRADING_ERROR_RATIO)}  # fmt: skip
    assert report.forecasts, report.skipped
    # the grade's inputs are the statistics printed beside it
    stats = {x.series: x for x in report.stats}
    for component in report.grade.components:
        for check in component.checks:
            if check.measured is not None:
                assert check.measured == getattr(stats[check.series], check.statistic)
    # the injected incidents are found
    assert report.anomalies is not None and report.anomalies.windows
    top = report.anomalies.windows[0].standouts[0].series
    assert "_seconds" in top


def test_the_json_report_round_trips_and_the_committed_schema_is_current(two_hours):
    report, files = report_of(two_hours)
    assert from_json(files.report.read_bytes()) == report
    assert from_json(to_json(report)) == report
    committed = json.loads((ROOT / "docs" / "report.schema.json").read_text())
    assert committed == REPORT_SCHEMA, "run: alluse report --schema > docs/report.schema.json"


def test_an_empty_store_gives_a_report_that_says_so(tmp_path):
    write_samples(tmp_path, [])
    report, files = report_of(tmp_path)
    assert report.series_count == 0 and report.grade.letter == "n/a"
    assert any(x.part == "data" and "no samples" in x.reason for x in report.skipped)
    assert files.dashboard is not None and files.report.exists()


def test_a_missing_store_is_an_error_naming_the_data_dir(tmp_path):
    with pytest.raises(ReportInputError, match=f"data_dir='{tmp_path}'.*no metrics store"):
        report_of(tmp_path)
    assert list(tmp_path.iterdir()) == []  # no report dir made for a data dir that has nothing to report
    a_file = tmp_path / "notes"
    a_file.write_text("")
    with pytest.raises(ReportInputError, match=f"data_dir='{a_file}': not a directory"):
        report_of(a_file)


def test_too_few_points_skip_the_parts_that_need_more_and_say_why(tmp_path):
    write_samples(tmp_path, [Sample(s.PROCESS_CPU_PERCENT, END - i * NS_PER_S, 10.0 + i) for i in range(5)])
    report, _ = report_of(tmp_path)
    assert len(report.stats) == 1 and report.stats[0].count == 5
    reasons = {x.part: x.reason for x in report.skipped}
    assert "trends" in reasons and "5" in reasons["trends"]
    assert "anomalies" in reasons and "forecasts" in reasons


def test_irregular_sampling_a_constant_series_and_one_that_starts_mid_window(tmp_path):
    rng = np.random.default_rng(5)
    ts = np.sort(END - rng.choice(3 * 3600, size=4000, replace=False) * NS_PER_S)  # irregular, with gaps
    samples = [Sample(s.PROCESS_CPU_PERCENT, int(t), float(20 + rng.normal())) for t in ts]
    samples += [Sample(s.TRADING_ERROR_RATIO, int(t), 0.0) for t in ts]  # constant: no order ever failed
    late = ts[ts > END - 3600 * NS_PER_S]  # the last hour only
    samples += [Sample(s.EVENT_LOOP_LAG_SECONDS, int(t), float(0.001 + 0.0001 * rng.normal())) for t in late]
    write_samples(tmp_path, samples)
    report, _ = report_of(tmp_path)
    trends = {t.series: t for t in report.trends}
    assert trends[s.TRADING_ERROR_RATIO].p_value is None and trends[s.TRADING_ERROR_RATIO].direction == "flat"
    assert s.TRADING_ERROR_RATIO not in report.anomalies.series_used
    assert any(x.series == s.TRADING_ERROR_RATIO and "constant" in x.reason for x in report.skipped)  # no forecast
    lag = next(x for x in report.stats if x.series == s.EVENT_LOOP_LAG_SECONDS)
    assert lag.first_ns >= END - 3600 * NS_PER_S
    assert {f.series for f in report.forecasts} >= {s.PROCESS_CPU_PERCENT, s.EVENT_LOOP_LAG_SECONDS}


def test_nan_gaps_in_series_are_ignored_not_propagated():
    t = END - np.arange(600, 0, -1, dtype=np.int64) * NS_PER_S
    v = 50 + np.random.default_rng(1).normal(size=600)
    v[100:160] = np.nan
    report = build_report(
        ReportInput(Window(int(t[0]), int(t[-1]) + 1), [SeriesData(s.PROCESS_CPU_PERCENT, t, v)], [], []),
        CONFIG,
        generated_ns=END,
    )
    st = report.stats[0]
    assert st.count == 540 and math.isfinite(st.mean) and abs(st.mean - 50) < 0.3
    assert math.isfinite(report.trends[0].slope_per_hour)
    assert all(math.isfinite(x) for f in report.forecasts for x in f.mean)


def test_an_output_path_under_a_file_fails_first_and_writes_nothing(two_hours, tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(ReportOutputError, match=f"out='{a_file}/report': cannot write"):
        generate_report(two_hours, a_file / "report", CONFIG, generated_ns=END)
    assert a_file.read_text() == "x"


def test_a_read_only_output_dir_fails_first(two_hours, tmp_path):
    blocked = tmp_path / "ro"
    blocked.mkdir()
    os.chmod(blocked, 0o500)
    try:
        if os.access(blocked, os.W_OK):
            pytest.skip("running as root: permissions do not stop writes (the file case above still runs)")
        with pytest.raises(ReportOutputError, match=f"out='{blocked}'"):
            generate_report(two_hours, blocked, CONFIG, generated_ns=END)
        assert list(blocked.iterdir()) == []
    finally:
        os.chmod(blocked, 0o700)


def test_ctrl_c_while_drawing_leaves_no_half_written_file(two_hours, tmp_path, monkeypatch):
    import alluse.analytics.dashboard as dashboard

    def interrupted(path, *_):
        Path(path).write_bytes(b"half a png")
        raise KeyboardInterrupt

    monkeypatch.setattr(dashboard, "render_dashboard", interrupted)
    out = tmp_path / "report"
    with pytest.raises(KeyboardInterrupt):
        generate_report(two_hours, out, CONFIG, generated_ns=END)
    assert list(out.iterdir()) == []


def test_the_window_follows_hours_and_since(two_hours):
    report, _ = report_of(two_hours, hours=0.5)
    assert report.window.end_ns - report.window.start_ns == pytest.approx(1800 * NS_PER_S, abs=NS_PER_S)
    assert report.sample_count == 20 * 1800
    since = END - 600 * NS_PER_S
    report, _ = report_of(two_hours, since_ns=since)
    assert report.window.start_ns == since and report.sample_count == 20 * 600
    with pytest.raises(ReportInputError, match="hours=-1"):
        report_of(two_hours, hours=-1)
    with pytest.raises(ReportInputError, match="since="):
        report_of(two_hours, since_ns=END + 3600 * NS_PER_S)


def test_a_metrics_file_that_is_not_a_database_is_an_input_error_and_left_alone(tmp_path):
    (tmp_path / "metrics.db").write_text("not a database\n")
    with pytest.raises(ReportInputError, match="not a SQLite database"):
        report_of(tmp_path)
    assert (tmp_path / "metrics.db").read_text() == "not a database\n"


def test_minutes_the_store_has_folded_keep_their_count_mean_min_and_max(tmp_path):
    """Raw samples older than the store's retention become 1-minute aggregates; the report must not turn
    an 8 s quote-age spike among them into a minute's 0.6 s average (the grade's check would pass)."""
    rng = np.random.default_rng(4)
    n = 7200
    ts = END - (n - np.arange(n)) * NS_PER_S
    age = rng.exponential(0.05, n)
    age[[100, 2500]] = 8.0  # both in the hour that gets folded
    db = open_for_writing(tmp_path / "metrics.db")
    try:
        writer = SampleWriter(db)
        writer.write([Sample(s.QUOTE_AGE_SECONDS, int(t), float(v)) for t, v in zip(ts, age, strict=True)])
        writer.fold(int(ts[3600]))  # the first hour: aggregates only
    finally:
        db.close()
    report, files = report_of(tmp_path)
    st = report.stats[0]
    assert st.count == n and report.sample_count == n
    assert report.rebuilt_sample_count == 3600
    assert st.mean == pytest.approx(age.mean(), rel=1e-9)
    assert (st.min, st.max) == (pytest.approx(age.min()), 8.0)
    (check,) = [c for h in report.grade.components for c in h.checks if c.series == s.QUOTE_AGE_SECONDS]
    assert check.status == "missed" and check.measured == 8.0
    assert "3,600 rebuilt from 1-minute aggregates" in files.summary_md.read_text()
