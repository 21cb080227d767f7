"""SIGTERM mid-run, then a restart on the same data dir: no order lost or duplicated, all states valid."""

import signal
import sqlite3
import time

import pytest

from alluse.model import OrderStatus

pytestmark = pytest.mark.slow
VALID = {s.value for s in OrderStatus}
OPEN = {"SUBMITTED", "ACCEPTED", "PARTIALLY_FILLED", "PENDING_CANCEL"}


def _snapshot(path):
    db = sqlite3.connect(path)
    try:
        orders = dict(db.execute("SELECT client_order_id, status FROM orders").fetchall())
        firsts = db.execute(
            "SELECT client_order_id, count(*) FROM events WHERE kind IN ('SUBMIT', 'DENY') GROUP BY client_order_id"
        ).fetchall()
        fills = db.execute("SELECT count(*), count(DISTINCT fill_id) FROM fills").fetchone()
    finally:
        db.close()
    return orders, dict(firsts), fills


def _wait_for_orders(path, proc, minimum=3, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if path.exists():
            try:
                if len(_snapshot(path)[0]) >= minimum:
                    return
            except sqlite3.OperationalError:
                pass  # tables not created yet
        time.sleep(0.2)
    raise AssertionError("the run produced no orders in time")


def test_sigterm_stops_cleanly_and_restart_recovers(alluse, spawn, data_dir, no_report):
    journal = data_dir / "journal.db"
    proc = spawn("run", "--config", no_report, "--duration", "90", "--speed", "20000", "--seed", "5", "--data-dir",
                 str(data_dir))
    _wait_for_orders(journal, proc)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "run summary" in out and "consistent" in out

    orders1, firsts1, (fills1, distinct1) = _snapshot(journal)
    assert orders1 and set(orders1.values()) <= VALID
    assert not OPEN & set(orders1.values()), "a clean stop cancels working orders"
    assert all(n == 1 for n in firsts1.values()) and set(firsts1) == set(orders1)
    assert fills1 == distinct1

    res = alluse("run", "--config", no_report, "--duration", "6", "--speed", "20000", "--seed", "5", "--data-dir",
                 str(data_dir))
    assert res.returncode == 0, res.stderr
    assert f"recovered {len(orders1)} orders" in res.stdout and "consistent" in res.stdout
    orders2, firsts2, (fills2, distinct2) = _snapshot(journal)
    for coid, status in orders1.items():
        assert orders2[coid] == status, f"{coid} changed after restart"
    assert set(orders2.values()) <= VALID
    assert all(n == 1 for n in firsts2.values()) and set(firsts2) == set(orders2)
    assert fills2 == distinct2 and fills2 >= fills1


def test_sigkill_then_restart_recovers_and_agrees_with_the_venue(alluse, spawn, data_dir, no_report):
    journal = data_dir / "journal.db"
    proc = spawn("run", "--config", no_report, "--duration", "90", "--speed", "20000", "--seed", "6", "--data-dir",
                 str(data_dir))
    _wait_for_orders(journal, proc, minimum=5)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    orders1, firsts1, _ = _snapshot(journal)

    res = alluse("run", "--config", no_report, "--duration", "6", "--speed", "20000", "--seed", "6", "--data-dir",
                 str(data_dir))
    assert res.returncode == 0, res.stderr
    assert f"recovered {len(orders1)} orders" in res.stdout
    assert "INCONSISTENT" not in res.stdout and "consistent" in res.stdout  # ledger = journal = venue
    orders2, firsts2, (fills, distinct) = _snapshot(journal)
    assert set(orders1) <= set(orders2) and set(orders2.values()) <= VALID
    assert all(n == 1 for n in firsts2.values()) and fills == distinct
