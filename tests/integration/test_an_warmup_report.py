"""Issue #16 item 5 end to end, from a metrics store on disk: a run's start-up is left out of anomalies, trends
and forecasts (a restart's too), a run too short for a trend or forecast says so, and a long run keeps them all."""

import json
from pathlib import Path

import numpy as np
import pytest

from alluse.analytics.config import AnalyticsConfig
from alluse.analytics.data import read_data_dir
from alluse.analytics.generate import generate_report
from alluse.analytics.results import NS_PER_S, Report, Trend, WarmupSpan
from alluse.analytics.warmup import warmup_spans
from alluse.common.metrics import Sample
from alluse.monitoring import series as s
from alluse.monitoring.store import open_for_writing
from alluse.monitoring.store_writer import SampleWriter

END = 1_800_000_000 * NS_PER_S
SERIES = (s.PROCESS_CPU_PERCENT, s.ORDER_LATENCY_P99, s.PROCESS_RSS_BYTES, s.QUOTES_ACCEPTED_RATE)
TRANSIENT_S = 5  # start-up: CPU and order latency high for the first seconds
WARMUP_S = 30.0  # half the one-minute run below (the default, a whole window, would take all of it)
HOUR_S = 3600
INCIDENT_AFTER_RESTART_S = 3600  # a real incident in the long store, far from any start


def a_run(start_ns: int, seconds: int, seed: int) -> list[Sample]:
    """One process sampled every second: its start-up transient, then a clean steady state; the collector's
    running total of samples from 0."""
    rng = np.random.default_rng(seed)
    cpu = 10 + rng.normal(0, 0.5, seconds)
    latency = 0.0004 * rng.lognormal(0, 0.1, seconds)
    cpu[:TRANSIENT_S], latency[:TRANSIENT_S] = 90.0, 0.05
    rss = 80e6 + rng.normal(0, 2e5, seconds)
    rate = 2000 + rng.normal(0, 50, seconds)
    out = []
    for i in range(seconds):
        t = start_ns + i * NS_PER_S
        out += [Sample(name, t, float(v[i])) for name, v in zip(SERIES, (cpu, latency, rss, rate), strict=True)]
        out.append(Sample(s.COLLECTOR_SAMPLES_TOTAL, t, float(len(SERIES) * i)))
    return out


def write(data_dir: Path, samples: list[Sample]) -> Path:
    db = open_for_writing(data_dir / "metrics.db")
    try:
        SampleWriter(db).write(samples)
    finally:
        db.close()
    return data_dir


def report_of(data_dir: Path, config: AnalyticsConfig) -> Report:
    report, _ = generate_report(data_dir, data_dir / f"report-{config.warmup_s:g}", config, generated_ns=END)
    return report


def in_spans(ts_ns: int, spans: list[WarmupSpan]) -> bool:
    return any(w.start_ns <= ts_ns < w.end_ns for w in spans)


def found_in(report: Report, spans: list[WarmupSpan]) -> list[int]:
    """Times of the anomalies (outliers, anomalous windows' bins) that fall in the spans."""
    assert report.anomalies is not None
    a = report.anomalies
    step = int(a.step_s * NS_PER_S)
    times = [o.ts_ns for o in a.outliers] + [t for w in a.windows for t in range(w.start_ns, w.end_ns, step)]
    return [t for t in times if in_spans(t, spans)]


# --- a clean one-minute run -----------------------------------------------------------------------

MINUTE_START = END - 60 * NS_PER_S


@pytest.fixture(scope="module")
def one_minute(tmp_path_factory) -> Path:
    return write(tmp_path_factory.mktemp("minute"), a_run(MINUTE_START, 60, seed=1))


def test_a_one_minute_run_has_no_anomaly_in_its_warm_up_and_its_trends_and_forecasts_say_too_short(one_minute):
    config = AnalyticsConfig(warmup_s=WARMUP_S)
    report, files = generate_report(one_minute, one_minute / "report", config, generated_ns=END)
    assert report.warmups == [
        WarmupSpan(MINUTE_START, MINUTE_START + int(WARMUP_S * NS_PER_S), "the collector's first tick")
    ]
    assert report.anomalies is not None and found_in(report, report.warmups) == []
    # no slope per hour from a minute, no forecast from it
    assert report.trends == [] and report.forecasts == []
    short = {(x.part, x.series): x.too_short for x in report.skipped if x.too_short is not None}
    assert set(short) == {(part, name) for part in ("trends", "forecasts") for name in SERIES}
    for (part, _), t in short.items():
        needs = config.min_trend_span_s if part == "trends" else config.min_forecast_history_s
        assert t is not None and t.needs_s == needs and t.had_s <= 60 - WARMUP_S < needs
    # the statistics (and so the grade) keep the start-up: a slow start is something the software did
    stats = {x.series: x for x in report.stats}
    assert stats[s.PROCESS_CPU_PERCENT].max == 90.0 and stats[s.PROCESS_CPU_PERCENT].count == 60
    md = files.summary_md.read_text()
    assert f"Warm-up: the first {WARMUP_S:g} s of each run are left out" in md
    assert "trends: too short for 4 series" in md and "forecasts: too short for 4 series" in md
    assert not any(i.kind == "regression" for i in report.insights)
    saved = json.loads(files.report.read_text())
    assert saved["warmups"][0]["start_ns"] == MINUTE_START and saved["warmup_s"] == WARMUP_S
    assert {x["too_short"]["needs_s"] for x in saved["skipped"] if x["part"] == "trends"} == {config.min_trend_span_s}


def test_without_a_warm_up_the_start_up_is_what_the_anomalies_report(one_minute):
    """The control: the same store, warm-up off. The transient is found, so the test above could fail."""
    report = report_of(one_minute, AnalyticsConfig(warmup_s=0))
    assert report.warmups == []
    first_seconds = [WarmupSpan(MINUTE_START, MINUTE_START + TRANSIENT_S * NS_PER_S, "transient")]
    assert found_in(report, first_seconds)
    assert report.trends == []  # a minute is still too short for a trend, warm-up or not


# --- three hours with a restart in the middle -----------------------------------------------------

LONG_START = END - 3 * HOUR_S * NS_PER_S
# 11 s after the first run's last sample; on a bin boundary of the report's 10 s grid, as the warm-up's end is, so
# each bin is either all warm-up or none of it
RESTART = LONG_START + (HOUR_S * 3 // 2 + 10) * NS_PER_S
INCIDENT = RESTART + INCIDENT_AFTER_RESTART_S * NS_PER_S
LONG_CONFIG = dict(forecast_series=[s.PROCESS_CPU_PERCENT, s.ORDER_LATENCY_P99])  # two forecasts keep it quick


@pytest.fixture(scope="module")
def restarted(tmp_path_factory) -> Path:
    first = a_run(LONG_START, HOUR_S * 3 // 2, seed=2)
    second = a_run(RESTART, (END - RESTART) // NS_PER_S, seed=3)
    # a real incident in the second run, a minute of slow orders and busy CPU: it must still be found
    second = [
        Sample(x.series, x.ts_ns, x.value * (8 if x.series in SERIES[:2] else 1))
        if INCIDENT <= x.ts_ns < INCIDENT + 60 * NS_PER_S
        else x
        for x in second
    ]
    return write(tmp_path_factory.mktemp("restart"), first + second)


def test_a_long_run_keeps_its_trends_anomalies_and_forecasts_and_a_restart_warms_up_too(restarted):
    report = report_of(restarted, AnalyticsConfig(warmup_s=WARMUP_S, **LONG_CONFIG))
    assert report.anomalies is not None and report.anomalies.step_s == 10
    w = int(WARMUP_S * NS_PER_S)
    assert [(x.start_ns, x.end_ns) for x in report.warmups] == [(LONG_START, LONG_START + w), (RESTART, RESTART + w)]
    assert {t.series for t in report.trends if isinstance(t, Trend)} == set(SERIES)
    assert {f.series for f in report.forecasts} == set(LONG_CONFIG["forecast_series"])
    assert not [x for x in report.skipped if x.too_short is not None]
    assert found_in(report, report.warmups) == []
    incident = [WarmupSpan(INCIDENT, INCIDENT + 60 * NS_PER_S, "incident")]
    assert found_in(report, incident), "the guard hid a real incident"
    assert report.anomalies is not None and report.anomalies.windows
    top = report.anomalies.windows[0]
    assert top.start_ns < INCIDENT + 60 * NS_PER_S and top.end_ns > INCIDENT


def test_without_a_warm_up_the_restart_is_reported_as_an_anomaly(restarted):
    report = report_of(restarted, AnalyticsConfig(warmup_s=0, **LONG_CONFIG))
    restart_transient = [WarmupSpan(RESTART, RESTART + TRANSIENT_S * NS_PER_S, "transient")]
    assert found_in(report, restart_transient)


def test_a_window_that_begins_during_a_warm_up_leaves_out_the_rest_of_it(restarted):
    since = RESTART + 10 * NS_PER_S
    data = read_data_dir(restarted, since_ns=since, warmup_s=WARMUP_S)
    assert [x.earliest_ns for x in data.run_starts] == [RESTART]  # found before the window, 20 s reach into it
    spans = warmup_spans(data.run_starts, WARMUP_S, data.window)
    assert [(x.start_ns, x.end_ns) for x in spans] == [(since, RESTART + int(WARMUP_S * NS_PER_S))]
    later = read_data_dir(restarted, since_ns=RESTART + 2 * int(WARMUP_S * NS_PER_S), warmup_s=WARMUP_S)
    assert later.run_starts == []  # mid-run: the window's first sample is no start
