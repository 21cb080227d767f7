"""The CLI as a user runs it: a short paper-trading run, then the journal readers."""

import sqlite3

import pytest

import alluse.build as alluse_build
from alluse.app.run_summary import ledger_from_journal

pytestmark = pytest.mark.slow


def test_short_run_trades_and_the_summary_matches_the_journal(alluse, data_dir):
    res = alluse("run", "--duration", "12", "--speed", "20000", "--seed", "3", "--data-dir", str(data_dir))
    assert res.returncode == 0, res.stderr
    out = res.stdout
    for heading in ("market data", "orders this run", "positions", "accounts", "execution quality", "journal:"):
        assert heading in out
    assert f"build: {alluse_build.describe()}" in out  # the build this process (and so the run) uses
    assert "consistent" in out and "INCONSISTENT" not in out
    # the run's own report, over this run's metrics
    report = data_dir / "report"
    for name in ("dashboard.png", "report.json", "summary.md", "summary.txt"):
        assert (report / name).stat().st_size > 0, name
    assert "Grade " in out and "report files:" in out

    db = sqlite3.connect(data_dir / "journal.db")
    filled = db.execute("SELECT count(*) FROM orders WHERE status='FILLED'").fetchone()[0]
    assert filled >= 1, out
    # every order's filled quantity equals the sum of its fills and never exceeds its quantity
    rows = db.execute(
        "SELECT o.client_order_id, o.quantity, o.filled_qty, coalesce(sum(f.quantity), 0) FROM orders o "
        "LEFT JOIN fills f ON f.client_order_id = o.client_order_id GROUP BY o.client_order_id"
    ).fetchall()
    assert rows and all(filled_qty == fills <= qty for _, qty, filled_qty, fills in rows)
    # a clean stop leaves nothing working
    open_states = ("SUBMITTED", "ACCEPTED", "PARTIALLY_FILLED", "PENDING_CANCEL", "INITIALIZED")
    assert db.execute(f"SELECT count(*) FROM orders WHERE status IN {open_states}").fetchone()[0] == 0

    ledger = ledger_from_journal(data_dir / "journal.db")
    positions = alluse("positions", "--data-dir", str(data_dir))
    assert positions.returncode == 0
    for p in ledger.open_positions():
        assert p.instrument_id in positions.stdout
    orders = alluse("orders", "--data-dir", str(data_dir), "--status", "filled")
    assert orders.returncode == 0 and "FILLED" in orders.stdout


def test_bad_config_key_is_a_clear_error(alluse, tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[venue]\nack_latency = 3\n")
    res = alluse("run", "--config", str(cfg), "--data-dir", str(tmp_path / "d"))
    assert res.returncode == 2
    assert "venue.ack_latency = 3: unknown key" in res.stderr
    assert not (tmp_path / "d").exists()


def test_journal_that_is_not_sqlite_is_refused_untouched(alluse, tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / "journal.db").write_text("hello, I am a text file\n")
    res = alluse("run", "--duration", "2", "--data-dir", str(d))
    assert res.returncode == 2 and "not a SQLite database" in res.stderr
    assert (d / "journal.db").read_text() == "hello, I am a text file\n"
    res = alluse("orders", "--data-dir", str(d))
    assert res.returncode == 2 and "not a SQLite database" in res.stderr


def test_halt_and_resume_on_a_data_dir(alluse, data_dir, no_report):
    run = ("run", "--config", no_report, "--duration", "3", "--speed", "20000", "--data-dir", str(data_dir))
    res = alluse(*run)
    assert res.returncode == 0, res.stderr
    res = alluse("halt", "--data-dir", str(data_dir), "--account", "Gen-Acc", "--reason", "end of week")
    assert res.returncode == 0 and "Gen-Acc -> HALTED" in res.stdout
    res = alluse("halt", "--data-dir", str(data_dir), "--account", "Nobody")
    assert res.returncode == 2 and "account='Nobody'" in res.stderr
    res = alluse(*run)
    assert "Gen-Acc HALTED" in res.stdout and "Rev-Acc ACTIVE" in res.stdout
    assert alluse("resume", "--data-dir", str(data_dir)).returncode == 0
    res = alluse(*run)
    assert "Gen-Acc ACTIVE" in res.stdout


def test_truncated_journal_is_a_clear_error_and_left_untouched(alluse, data_dir, no_report):
    run = ("run", "--config", no_report, "--duration", "2", "--speed", "20000", "--data-dir", str(data_dir))
    assert alluse(*run).returncode == 0
    path = data_dir / "journal.db"
    import sqlite3

    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    before = path.read_bytes()
    res = alluse("run", "--duration", "2", "--data-dir", str(data_dir))
    assert res.returncode == 2 and "left untouched" in res.stderr
    assert path.read_bytes() == before
