"""AN-1: a whole report (load, analyse, dashboard, files) over 24 h of 1 s samples for 20 series.

The history is synthetic but shaped like the system's own: real series names, latencies with
log-normal noise and a slow regression, throughput with an hourly cycle, CPU following throughput,
memory creeping up, error bursts, and a handful of incidents where several series jump together.
It is written straight into a metrics store file (raw samples kept, nothing folded) before the
clock starts; the timed part is exactly what `alluse report` does.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alluse.analytics.catalog import KEY_SERIES, ORDER_LATENCY_PERCENTILES
from alluse.bench.figures import Figure
from alluse.common.clock import NS
from alluse.common.metrics import Sample
from alluse.monitoring import series as s
from alluse.monitoring.store import open_for_writing
from alluse.monitoring.store_writer import SampleWriter

WORKLOAD = "AN-1"
QUICK_HOURS = 2.0
FULL_HOURS = 24.0
SERIES = 20
HISTORY_SERIES = tuple(
    dict.fromkeys(
        (
            *KEY_SERIES,
            *ORDER_LATENCY_PERCENTILES,
            "alluse_feed_latency_seconds:p50",
            s.STALE_QUOTE_RATIO,
            s.QUOTE_AGE_SECONDS,
            s.METRICS_STORE_HEALTHY,
            s.BROKER_CONNECTED,
            "alluse_metrics_store_write_latency_seconds:p99",
            "alluse_collector_tick_seconds:p99",
            "alluse_broker_request_seconds:p99",
            'alluse_orders_total:rate{event="submitted"}',
            'alluse_account_equity_usd{account="Gen-Acc"}',
        )
    )
)


def synthetic_history(n_series: int, seconds: int, seed: int) -> tuple[list[str], np.ndarray, int]:
    """(names, values[t, series], number of incident seconds); one row per second."""
    rng = np.random.default_rng(seed)
    names = list(HISTORY_SERIES[:n_series]) + [
        f'alluse_bench_gauge{{n="{i}"}}' for i in range(n_series - len(HISTORY_SERIES))
    ]
    t = np.arange(seconds, dtype=np.float64)
    hours = t / 3600
    cycle = np.sin(2 * np.pi * t / 3600)  # an hourly rhythm in market activity
    out = np.empty((seconds, len(names)))
    for j, name in enumerate(names):
        if "_seconds:p" in name or name.endswith("lag_seconds"):
            base = 0.0004 * (1 + 0.02 * hours)  # a slow regression: +2%/h
            out[:, j] = base * rng.lognormal(0.0, 0.25, seconds)
        elif name.endswith("_ratio") and "hit" not in name:
            out[:, j] = np.where(rng.random(seconds) < 0.01, rng.uniform(0.01, 0.2, seconds), 0.0)
        elif "hit_ratio" in name:
            out[:, j] = np.clip(0.97 + rng.normal(0, 0.01, seconds), 0, 1)
        elif name.startswith("alluse_quotes_total:rate") or "orders_total:rate" in name:
            out[:, j] = np.maximum(0, 2000 * (1 + 0.3 * cycle) + rng.normal(0, 80, seconds))
        elif name == s.PROCESS_CPU_PERCENT:
            out[:, j] = np.clip(12 * (1 + 0.3 * cycle) + rng.normal(0, 1.5, seconds), 0, None)
        elif name == s.PROCESS_RSS_BYTES:
            out[:, j] = 80e6 + 2e6 * hours + rng.normal(0, 2e5, seconds)
        elif name in (s.METRICS_STORE_HEALTHY, s.BROKER_CONNECTED):
            out[:, j] = 1.0
        elif name == s.QUOTE_AGE_SECONDS:
            out[:, j] = rng.exponential(0.05, seconds)
        else:
            out[:, j] = 100 + 5 * hours + rng.normal(0, 2, seconds)
    # incidents: a minute where latencies, lag and errors jump together
    incident_seconds = 0
    latency_cols = [j for j, n in enumerate(names) if "_seconds" in n]
    for start in rng.choice(np.arange(600, seconds - 600, 60), size=max(1, seconds // 7200), replace=False):
        out[start : start + 60, latency_cols] *= 8
        incident_seconds += 60
    return names, out, incident_seconds


def write_history(
    path: Path, *, n_series: int = SERIES, hours: float = FULL_HOURS, end_ns: int | None = None, seed: int = 1
) -> int:
    """Writes the history into a metrics store at `path`; returns the number of samples written."""
    seconds = int(hours * 3600)
    end = time.time_ns() if end_ns is None else end_ns
    start = end - seconds * NS
    names, values, _ = synthetic_history(n_series, seconds, seed)
    db = open_for_writing(path)
    writer = SampleWriter(db)
    written = 0
    try:
        for lo in range(0, seconds, 600):  # ten minutes per transaction
            hi = min(seconds, lo + 600)
            batch = [
                Sample(name, start + i * NS, float(values[i, j])) for i in range(lo, hi) for j, name in enumerate(names)
            ]
            writer.write(batch)
            written += len(batch)
    finally:
        db.close()
    return written


@dataclass(slots=True)
class An1Result:
    samples: int
    series: int
    seconds_total: float
    seconds_by_part: dict[str, float]
    grade: str
    anomaly_windows: int
    forecasts: int
    skipped: int
    files: list[str]


def run_an1(data_dir: Path, *, forecast_all: bool = True) -> An1Result:
    """Times `generate_report` over the store in data_dir (written by `write_history`)."""
    from alluse.analytics.config import AnalyticsConfig
    from alluse.analytics.generate import generate_report

    config = AnalyticsConfig(forecast_series=["*"] if forecast_all else None)
    marks: list[tuple[str, float]] = []
    t0 = time.perf_counter()
    report, files = generate_report(
        data_dir,
        data_dir / "report",
        config,
        generated_ns=time.time_ns(),
        progress=lambda part: marks.append((part, time.perf_counter())),
    )
    end = time.perf_counter()
    bounds = [*marks, ("end", end)]
    by_part = {part: t1 - t0_ for (part, t0_), (_, t1) in zip(bounds, bounds[1:], strict=False)}
    return An1Result(
        samples=report.sample_count,
        series=report.series_count,
        seconds_total=end - t0,
        seconds_by_part=by_part,
        grade=report.grade.letter,
        anomaly_windows=0 if report.anomalies is None else len(report.anomalies.windows),
        forecasts=len(report.forecasts),
        skipped=len(report.skipped),
        files=[str(p) for p in (files.dashboard, files.report, files.summary_md, files.summary_txt) if p],
    )


def an1_figures(quick: bool, *, hours: float | None = None) -> list[Figure]:
    """Writes the history into a temp dir (setup, not timed), then times the whole report: what an
    operator waits for after `alluse report`, less the interpreter's start and the analytics imports
    (a library the report imports lazily is in the first run of a process)."""
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        write_history(data / "metrics.db", n_series=SERIES, hours=hours or (QUICK_HOURS if quick else FULL_HOURS))
        r = run_an1(data)
    return [Figure(WORKLOAD, "report and dashboard", r.seconds_total, "s")] + [
        Figure(WORKLOAD, f"part: {part}", seconds, "s") for part, seconds in r.seconds_by_part.items()
    ]
