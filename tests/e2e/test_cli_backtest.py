"""`alluse backtest` as a person runs it: two runs with the same inputs write the same journal (separate
processes, different hash seeds), another seed does not, the results are printed and saved, the sample
replays, and a bad span is one line."""

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "quotes-sample.csv.gz"
SPAN = ("--start", "2026-11-23", "--end", "2026-12-04")  # Thanksgiving (a holiday, then an early close)


def backtest(data_dir: Path, *args: str, hash_seed: str = "0") -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "160", "PYTHONHASHSEED": hash_seed}
    return subprocess.run([sys.executable, "-m", "alluse.cli", "backtest", "--data-dir", str(data_dir), *args],
                          capture_output=True, text=True, timeout=300, env=env)  # fmt: skip


def rows(data_dir: Path) -> dict[str, list[tuple]]:
    db = sqlite3.connect(data_dir / "journal.db")
    try:
        return {t: db.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in ("orders", "fills", "events")}
    finally:
        db.close()


@pytest.mark.slow
def test_two_backtests_with_the_same_inputs_write_the_same_journal(tmp_path):
    a = backtest(tmp_path / "a", *SPAN, "--seed", "11", "--json", hash_seed="1")
    b = backtest(tmp_path / "b", *SPAN, "--seed", "11", "--json", hash_seed="2")
    other = backtest(tmp_path / "c", *SPAN, "--seed", "12", "--json", hash_seed="1")
    for res in (a, b, other):
        assert res.returncode == 0, res.stderr
    ra, rb = (json.loads(r.stdout.strip().splitlines()[-1]) for r in (a, b))
    assert ra["backtest"]["digest"] == rb["backtest"]["digest"]
    assert json.loads(other.stdout.strip().splitlines()[-1])["backtest"]["digest"] != ra["backtest"]["digest"]
    journal_a = rows(tmp_path / "a")
    assert journal_a["fills"], "the wheel traded"
    assert journal_a == rows(tmp_path / "b")  # record for record: orders, fills (prices included), events
    assert (tmp_path / "a" / "market.json").read_bytes() == (tmp_path / "b" / "market.json").read_bytes()
    result = ra["backtest"]
    assert result["sessions"] == 9 and result["seed"] == 11
    for account in result["accounts"]:
        assert {"total_return", "annualized_return", "max_drawdown", "premium_collected", "assignments",
                "calls_written", "called_away", "win_rate"} <= account.keys()  # fmt: skip
        assert len(result["equity"][account["account"]]) == 9  # a point at every close
    saved = json.loads((tmp_path / "a" / "backtest.json").read_text())
    assert saved["backtest"]["digest"] == ra["backtest"]["digest"]


@pytest.mark.slow
def test_the_results_table_and_a_replayed_backtest(tmp_path):
    res = backtest(tmp_path / "sample", "--start", "2025-03-03", "--end", "2025-03-07", "--replay", str(SAMPLE))
    assert res.returncode == 0, res.stderr
    for label in ("total return", "annualized return", "max drawdown", "premium collected", "puts assigned",
                  "covered calls written", "called away", "win rate", "journal digest"):  # fmt: skip
        assert label in res.stdout
    assert "replay of" in res.stdout and "5 sessions" in res.stdout
    traded = {r[2] for r in rows(tmp_path / "sample")["orders"]}
    assert traded and all(i.startswith(("TSLA", "NVDA")) for i in traded)  # only what the file holds


def test_a_span_without_a_session_and_a_used_data_dir_are_one_line(tmp_path):
    res = backtest(tmp_path / "x", "--start", "2026-12-05", "--end", "2026-12-06")
    assert res.returncode == 2 and "no XNYS session in that span" in res.stderr and "Traceback" not in res.stderr
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "journal.db").write_bytes(b"")
    res = backtest(tmp_path / "used", *SPAN)
    assert res.returncode == 2 and "holds an earlier run" in res.stderr
    res = backtest(tmp_path / "y", "--start", "2026-12-10", "--end", "2026-12-01")
    assert res.returncode == 2 and "before --start" in res.stderr
