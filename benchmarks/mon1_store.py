"""MON-1 (store part): how fast the metrics store writes, against one sample per transaction.

Workload: 500 series sampled every second for N minutes (the collector's shape: one batch per
tick holds every series at one timestamp), written to a fresh SQLite file in a temp dir:
- `store`     through `MetricsStore.submit` (the writer thread, batch_max = the batch size so each
              transaction holds one batch): submit everything, then `flush`; the clock runs from the
              first submit to the flush returning. The queue is sized to hold the run (nothing dropped);
- `direct`    `SampleWriter.write` on the caller's thread, one transaction per batch;
- `baseline`  `SampleWriter.write` with one sample per transaction (a naive per-sample INSERT+COMMIT),
              over the first --baseline-samples samples.
Also measured: the caller's cost of `submit` (writer busy, and idle as at 1 Hz), folding the whole
run into 1-minute rows, and queries (one series over an hour, `latest()` of all series) on the file.
Prints the median of --repeats runs for the store and direct figures. The store workload lives in
alluse.bench.mon1 (what `alluse bench` runs); the rest is this script's.

    python benchmarks/mon1_store.py [--series 500] [--minutes 10] [--batches 500,5000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from alluse.bench.mon1 import T0, batches_of, run_store, tick_samples
from alluse.common.clock import NS
from alluse.common.metrics import Sample
from alluse.monitoring.store import MetricsStore, open_for_writing
from alluse.monitoring.store_writer import MINUTE_NS, SampleWriter


def open_writer(path: Path) -> tuple[SampleWriter, sqlite3.Connection]:
    db = open_for_writing(path)
    return SampleWriter(db), db


def run_direct(path: Path, samples: list[Sample], batch: int) -> float:
    writer, db = open_writer(path)
    chunks = batches_of(samples, batch)
    t0 = time.perf_counter_ns()
    for chunk in chunks:
        writer.write(chunk)
    elapsed = time.perf_counter_ns() - t0
    db.close()
    return len(samples) * NS / elapsed


def measure_idle_submit(path: Path, samples: list[Sample], n_series: int) -> float:
    """Median us for one `submit` of one tick (n_series samples) while the writer is idle: the collector's case."""
    store = MetricsStore(path, clock_ns=lambda: T0)
    costs = []
    for chunk in batches_of(samples, n_series)[:200]:
        t0 = time.perf_counter_ns()
        store.submit(chunk)
        costs.append(time.perf_counter_ns() - t0)
        store.flush()
    store.close()
    return statistics.median(costs) / 1000


def measure_reads(path: Path, n_series: int) -> tuple[float, float]:
    """(ms for one series over the first hour, ms for latest() of every series), median of 20."""
    reader = MetricsStore.open_readonly(path)
    name = reader.series_names()[n_series // 2]
    q, latest = [], []
    for _ in range(20):
        t0 = time.perf_counter_ns()
        reader.query(name, T0, T0 + 3600 * NS)
        q.append(time.perf_counter_ns() - t0)
        t0 = time.perf_counter_ns()
        got = reader.latest()
        latest.append(time.perf_counter_ns() - t0)
    reader.close()
    assert len(got) == n_series
    return statistics.median(q) / 1e6, statistics.median(latest) / 1e6


def measure_fold(path: Path, n_samples: int) -> tuple[float, int]:
    """Samples folded into 1-minute rows per second, for the whole file at once."""
    writer, db = open_writer(path)
    t0 = time.perf_counter_ns()
    folded = writer.fold(T0 + 24 * 3600 * NS)
    elapsed = time.perf_counter_ns() - t0
    rows = db.execute("SELECT count(*) FROM samples_1m").fetchone()[0]
    db.close()
    if folded != n_samples:
        raise RuntimeError(f"folded {folded} of {n_samples}")
    return folded * NS / elapsed, rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--series", type=int, default=500)
    ap.add_argument("--minutes", type=int, default=10)
    ap.add_argument("--batches", default="500,5000", help="comma-separated batch sizes")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--baseline-samples", type=int, default=20_000)
    args = ap.parse_args()
    samples = tick_samples(args.series, args.minutes * 60)
    print(f"MON-1 store: {args.series} series x {args.minutes} min at 1 s = {len(samples):,} samples")
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        run = 0
        for batch in (int(b) for b in args.batches.split(",")):
            store_rates, submit_us, direct_rates = [], [], []
            for _ in range(args.repeats):
                run += 1
                stored = run_store(tmpdir / f"store{run}.db", batches_of(samples, batch), batch_max=batch)
                store_rates.append(stored.samples_per_s)
                submit_us.append(stored.submit_us)
                direct_rates.append(run_direct(tmpdir / f"direct{run}.db", samples, batch))
            print(
                f"  batch {batch:>6,}: store {statistics.median(store_rates):>10,.0f} samples/s"
                f"  (submit {statistics.median(submit_us):.1f} us/batch while the writer is busy)"
                f"  direct {statistics.median(direct_rates):>10,.0f} samples/s"
            )
        last = tmpdir / f"store{run}.db"
        size_mb = last.stat().st_size / 1e6
        query_ms, latest_ms = measure_reads(last, args.series)
        idle_us = measure_idle_submit(tmpdir / "idle.db", samples, args.series)
        print(f"  submit of one {args.series}-sample tick with the writer idle: {idle_us:.1f} us on the caller")
        base = samples[: args.baseline_samples]
        base_rate = run_direct(tmpdir / "baseline.db", base, 1)
        print(f"  baseline (1 sample per transaction, {len(base):,} samples): {base_rate:,.0f} samples/s")
        print(
            f"  file {size_mb:.1f} MB ({size_mb * 1e6 / len(samples):.0f} B/sample);"
            f" query 1 series x 1 h {query_ms:.2f} ms; latest() of {args.series} series {latest_ms:.2f} ms"
        )
        fold_rate, rows = measure_fold(last, len(samples))
        print(f"  fold: {fold_rate:,.0f} raw samples/s into {rows:,} 1-minute rows ({MINUTE_NS // NS} s each)")


if __name__ == "__main__":
    main()
