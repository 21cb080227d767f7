"""AN-1: a report plus dashboard over 24 h of 1 s samples for 20 series (target: at most 30 s).

Writes the synthetic history (alluse.bench.an1) into a fresh metrics store, then measures:
- `in-process`: generate_report (load, statistics, trends, anomalies, forecasts of all 20 series,
  grade, dashboard, files), with the time of each part; libraries already imported;
- `command`: `alluse report` in a new process (also forecasting all 20 series), wall time from
  start to exit, imports included (what an operator waits for).
Prints the median of --repeats runs.

    python benchmarks/an1_report.py [--hours 24] [--series 20] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from alluse.bench.an1 import run_an1, write_history


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--series", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        t0 = time.perf_counter()
        samples = write_history(data / "metrics.db", n_series=args.series, hours=args.hours)
        print(f"AN-1 setup: {samples:,} samples ({args.series} series x {args.hours:g} h at 1 s) written in "
              f"{time.perf_counter() - t0:.1f} s")  # fmt: skip
        runs = [run_an1(data) for _ in range(args.repeats)]
        config = data / "an1.toml"
        config.write_text('[analytics]\nforecast_series = ["*"]\n')  # all 20, as in-process
        walls = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "alluse.cli", "report", "--data-dir", str(data), "--hours", str(args.hours),
                 "--out", str(data / "cli-report"), "--config", str(config)],
                check=True, capture_output=True,
            )  # fmt: skip
            walls.append(time.perf_counter() - t0)
    last = runs[-1]
    print(
        f"report: {last.samples:,} samples, {last.series} series, grade {last.grade}, "
        f"{last.anomaly_windows} anomalous windows, {last.forecasts} forecasts, {last.skipped} parts skipped"
    )
    parts = "  ".join(
        f"{part} {statistics.median(r.seconds_by_part[part] for r in runs):.2f}s" for part in last.seconds_by_part
    )
    total = statistics.median(r.seconds_total for r in runs)
    print(f"AN-1 in-process: median {total:.2f} s of {args.repeats} (min {min(r.seconds_total for r in runs):.2f}, "
          f"max {max(r.seconds_total for r in runs):.2f}); parts: {parts}")  # fmt: skip
    print(f"AN-1 command (`alluse report`, imports included): median {statistics.median(walls):.2f} s "
          f"(min {min(walls):.2f}, max {max(walls):.2f}); target <= 30 s: "
          f"{'PASS' if statistics.median(walls) <= 30 else 'FAIL'}")  # fmt: skip


if __name__ == "__main__":
    main()
