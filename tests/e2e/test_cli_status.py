"""`alluse status` and the JSON readers on the data dir a real short run leaves: the names they read (the
journal's session records, the broker's connection series) are the ones a run writes."""

import json
import sqlite3

import pytest

pytestmark = pytest.mark.slow


def test_status_and_orders_json_after_a_short_run(alluse, data_dir, no_report):
    run = alluse("run", "--config", no_report, "--duration", "3", "--speed", "20000", "--data-dir", str(data_dir))
    assert run.returncode == 0, run.stderr
    assert alluse("halt", "--data-dir", str(data_dir), "--account", "Gen-Acc").returncode == 0

    res = alluse("status", "--data-dir", str(data_dir), "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    session = doc["last_session"]
    assert (session["number"], session["running"], session["ended_cleanly"]) == (1, False, True)
    assert (doc["connection"]["broker"], doc["connection"]["connected"]) == ("paper", True)
    states = {a["account"]: a["trading_state"] for a in doc["accounts"]}
    assert states["Gen-Acc"] == "HALTED" and set(states.values()) <= {"HALTED", "ACTIVE"} and len(states) >= 2
    assert doc["open_orders"] == []  # a clean stop leaves nothing working

    res = alluse("orders", "--data-dir", str(data_dir), "--json", "--limit", "0")
    assert res.returncode == 0, res.stderr
    orders = json.loads(res.stdout)["orders"]
    db = sqlite3.connect(data_dir / "journal.db")
    try:
        assert [o["client_order_id"] for o in orders] == [
            r[0] for r in db.execute("SELECT client_order_id FROM orders ORDER BY ts_created, rowid")
        ]
        assert sum(a["fills"] for a in doc["accounts"]) == db.execute("SELECT count(*) FROM fills").fetchone()[0]
    finally:
        db.close()

    res = alluse("status", "--data-dir", str(data_dir))
    assert res.returncode == 0 and "ended cleanly" in res.stdout and "paper connected" in res.stdout
