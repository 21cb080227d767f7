"""OR-1 before and after a change, interleaved: a git revision against the working tree, in one run.

This VM's speed drifts by 15% and more over minutes, so two figures measured apart compare the
machine as much as the code. This runs the same OR-1 on both sides alternately (base, new, new,
base, ...), each run in a fresh process, and reports the medians and their ratio.

    python benchmarks/or1_ab.py [--base HEAD~1] [--rounds 4] [--orders 20000] [--paced]
    python benchmarks/or1_ab.py --builds [--rounds 4] ...   # the working tree compiled against its sources

The base is checked out into a temporary directory (`git archive`) and imported from there: its
sources, uncompiled. The working tree is imported from ./src, compiled where it was built so
(alluse.build); to compare sources with sources, set ALLUSE_PURE=1. With --builds both sides are
the working tree, one of them run with ALLUSE_PURE=1: what compiling the order path buys.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUN = """
import json, sys
from alluse.bench.or1 import PACED_RATE, run_or1
try:
    from alluse.execution.config import JournalConfig
except ImportError:  # a revision from before each engine kept its own config section
    from alluse.config import JournalConfig
run_or1(2000, JournalConfig())  # warm-up
r = run_or1(int(sys.argv[1]), JournalConfig(), rate=PACED_RATE if sys.argv[2] == "paced" else None)
print(json.dumps([r.percentile_us(50), r.percentile_us(99), r.orders_per_s]))
"""


def export(revision: str, into: Path) -> Path:
    archive = subprocess.run(["git", "archive", revision, "src"], cwd=REPO, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def one_run(src: Path, orders: int, paced: bool, pure: bool | None = None) -> list[float]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    if pure is not None:
        env["ALLUSE_PURE"] = "1" if pure else "0"
    argv = [sys.executable, "-c", RUN, str(orders), "paced" if paced else "closed"]
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="HEAD", help="git revision to compare the working tree with")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument(
        "--paced", action="store_true", help="orders due at OR-1's paced rate; latency from each due time"
    )
    parser.add_argument("--builds", action="store_true", help="the working tree's sources against its compiled build")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = REPO / "src"
        sides: dict[str, tuple[Path, bool | None]] = (
            {"sources (ALLUSE_PURE=1)": (src, True), "compiled": (src, False)}
            if args.builds
            else {f"base {args.base}": (export(args.base, Path(tmp)), None), "working tree": (src, None)}
        )
        runs: dict[str, list[list[float]]] = {name: [] for name in sides}
        for k in range(args.rounds):
            for name in sides if k % 2 == 0 else reversed(sides):
                path, pure = sides[name]
                runs[name].append(one_run(path, args.orders, args.paced, pure))
    how = "paced at OR-1's rate" if args.paced else "back to back"
    print(f"OR-1, {args.orders:,} orders {how}, {args.rounds} interleaved runs per side")
    medians = {}
    for name, rows in runs.items():
        p50, p99, rate = (statistics.median(r[i] for r in rows) for i in range(3))
        medians[name] = (p50, p99, rate)
        each = ", ".join(f"{r[0]:.1f}/{r[1]:.0f}" for r in rows)
        print(
            f"  {name:<22} p50 {p50:6.1f} us  p99 {p99:6.1f} us  {rate:8,.0f} orders/s   (p50/p99 of each run: {each})"
        )
    (b50, b99, brate), (n50, n99, nrate) = medians.values()
    label = "compiled / sources" if args.builds else "working tree / base"
    print(f"  {label + ':':<22} p50 {n50 / b50:.3f}  p99 {n99 / b99:.3f}  throughput {nrate / brate:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
