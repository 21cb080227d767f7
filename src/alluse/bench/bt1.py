"""BT-1: the whole wheel backtested on the virtual clock, session after session, and what it costs.

Five underlyings quoted every simulated second in session, their chains repriced every simulated minute,
the default accounts wheeling them (puts, assignments, covered calls), risk, journal and paper venue all
on: `app/backtest.py` exactly as `alluse backtest` runs it. Reported: sessions (trading days) per wall
second, the wall time a simulated year (252 sessions) takes at that rate, quote events per second, the
peak RSS and how much it grew per session after the first ones (a memory that grows with simulated time
would not last a year: the slope times 252 is the projection). NautilusTrader's BacktestEngine streams the
same number of quote events (one session of the same market) through its data engine, cache and one
subscribed strategy in the same run (bench/nautilus.py, `nautilus_bt1_figures`).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import asdict
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import psutil

from alluse.app.backtest import run_backtest, session_span
from alluse.app.config import Config, load_config
from alluse.bench.figures import OPTIMISED, Figure
from alluse.common.clock import TestClock, ns_to_datetime
from alluse.common.market_hours import load_market_hours
from alluse.marketdata import SimulatedMarket
from alluse.model import Quote
from alluse.model.registry import InstrumentRegistry

WORKLOAD = "BT-1"
SESSIONS_FULL, SESSIONS_QUICK = 21, 4  # a month of sessions; a year is projected from their rate
YEAR_SESSIONS = 252
FIRST_DAY = date(2026, 1, 5)  # a Monday
WARM_SESSIONS = 3  # the RSS slope leaves out the first sessions (imports, caches filling, first listings)
SEED = 7


def bt1_config(seed: int = SEED) -> Config:
    """The issue's load: 1 s stock quotes, chains every minute, the default wheel; no monitoring (a
    backtest has no wall-clock collector)."""
    return load_config(
        overrides={
            "run": {"seed": seed},
            "market": {"step_interval_s": 60.0, "stock_step_interval_s": 1.0},
            "monitoring": {"enabled": False},
        }
    )


def last_day(sessions: int) -> date:
    """The date of the `sessions`-th session from FIRST_DAY (holidays skipped as the calendar says)."""
    until = FIRST_DAY + timedelta(days=2 * sessions + 14)
    opened, _ = session_span(load_market_hours("XNYS", FIRST_DAY, until), FIRST_DAY, until)[sessions - 1]
    return ns_to_datetime(opened).date()


def bt1_figures(quick: bool, *, sessions: int | None = None) -> list[Figure]:
    """Measured in a process of its own: the RSS it reports is the backtest's, not what the benchmark
    process kept from the workloads before it (a high-water mark there hides any growth)."""
    n = sessions or (SESSIONS_QUICK if quick else SESSIONS_FULL)
    done = subprocess.run([sys.executable, "-m", "alluse.bench.bt1", str(n)], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"BT-1 ({n} sessions) failed in its process: {done.stderr.strip()[-2000:]}")
    return [Figure(**f) for f in json.loads(done.stdout.strip().splitlines()[-1])]


def measure(n: int) -> list[Figure]:
    """`n` sessions of the backtest in this process, with its RSS at every close."""
    process = psutil.Process()
    rss: list[int] = []
    with tempfile.TemporaryDirectory() as tmp:
        system, result = run_backtest(bt1_config(), Path(tmp) / "bt", FIRST_DAY, last_day(n),
                                      on_session=lambda done, total: rss.append(process.memory_info().rss))  # fmt: skip
        system.close()
    if result.sessions != n:
        raise RuntimeError(f"BT-1 ran {result.sessions} sessions, not {n}")
    rate = result.sessions / result.wall_seconds
    # the slope past the first sessions (a quick run keeps its last three: indicative only)
    growth = rss_slope(rss[min(WARM_SESSIONS, len(rss) - 3) :]) if len(rss) >= 3 else float("nan")
    figures = [
        Figure(WORKLOAD, "sessions per second", rate, "sessions/s", OPTIMISED, higher_is_better=True),
        Figure(WORKLOAD, "a simulated year", YEAR_SESSIONS / rate, "s"),
        Figure(WORKLOAD, "quote events per second", result.quote_events / result.wall_seconds, "quotes/s",
               higher_is_better=True),  # fmt: skip
        Figure(WORKLOAD, "peak RSS", max(rss) / 2**20, "MB"),
    ]
    if growth == growth:  # not NaN: enough sessions to fit a slope
        figures.append(Figure(WORKLOAD, "RSS growth over a simulated year", growth * YEAR_SESSIONS / 2**20, "MB"))
    return figures


def rss_slope(samples: list[int]) -> float:
    """Bytes per session, least squares over the samples (one per session close)."""
    x = np.arange(len(samples), dtype=np.float64)
    return float(np.polyfit(x, np.asarray(samples, dtype=np.float64), 1)[0])


def one_session_of_quotes(seed: int = SEED) -> list[Quote]:
    """The quotes BT-1's market sends in its first session: what NautilusTrader is given to stream."""
    config = bt1_config(seed)
    hours = load_market_hours("XNYS", FIRST_DAY - timedelta(days=7), FIRST_DAY + timedelta(days=30))
    open_ns, close_ns = session_span(hours, FIRST_DAY, FIRST_DAY)[0]
    clock = TestClock(open_ns)
    market = SimulatedMarket(config.market, clock, InstrumentRegistry(), seed=seed, hours=hours)
    quotes: list[Quote] = []
    market.start(quotes.extend)
    clock.advance_to(close_ns - 1)
    market.stop()
    return quotes


if __name__ == "__main__":  # bt1_figures runs this: one line of JSON, the figures
    sys.stdout.write(json.dumps([asdict(f) for f in measure(int(sys.argv[1]))]) + "\n")
