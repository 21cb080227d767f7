"""The wheel through Interactive Brokers' socket protocol: `alluse run --config configs/ibkr-local.toml` starts
the local gateway in the process and trades through ib_async; the journal, the live ledger and the accounts IB
reports over the socket agree at the end, and again after a restart on the same data directory."""

import sqlite3
from pathlib import Path

import pytest

from alluse.app.run_summary import ledger_from_journal

pytestmark = pytest.mark.slow

CONFIG = Path(__file__).parents[2] / "configs" / "ibkr-local.toml"


def test_the_wheel_runs_through_the_socket_and_the_books_agree(alluse, tmp_path):
    config = tmp_path / "ibkr-local.toml"
    config.write_text(CONFIG.read_text() + "\n[analytics]\nreport_on_exit = false\n")
    data_dir = tmp_path / "data"
    for run in (1, 2):  # the second run recovers the first's book and reconciles it with IB
        res = alluse("run", "--config", str(config), "--duration", "12", "--data-dir", str(data_dir),
                     "--metrics-port", "0")  # fmt: skip
        assert res.returncode == 0, (run, res.stdout[-3000:], res.stderr[-3000:])
        assert "consistent" in res.stdout and "INCONSISTENT" not in res.stdout, res.stdout[-3000:]
        assert "Traceback" not in res.stderr
    db = sqlite3.connect(data_dir / "journal.db")
    assert db.execute("SELECT count(*) FROM fills").fetchone()[0] >= 1
    venue_ids = [r[0] for r in db.execute("SELECT venue_order_id FROM orders WHERE status='FILLED'")]
    assert venue_ids and all(v and v.isdigit() for v in venue_ids)  # IB's permIds
    refs = [r[0] for r in db.execute("SELECT client_order_id FROM orders")]
    assert len(refs) == len(set(refs))
    assert (data_dir / "ibkr_order_ids.json").exists()
    ledger = ledger_from_journal(data_dir / "journal.db")
    positions = alluse("positions", "--data-dir", str(data_dir))
    for p in ledger.open_positions():
        assert p.instrument_id in positions.stdout
