"""ER-1, CR-1 and AN-1's workload functions: the figures they promise, with sane values, on tiny sizes."""

import sqlite3

import pytest

from alluse.bench.an1 import an1_figures
from alluse.bench.cr1 import cr1_figures, run_bursts, verify
from alluse.bench.er1 import er1_figures
from alluse.bench.figures import OPTIMISED
from alluse.bench.targets import TARGETS


def _check_targets_find(figures, workload):
    names = {f.name for f in figures if f.variant == OPTIMISED}
    assert {t.name for t in TARGETS if t.workload == workload} <= names


def test_er1_counts_orders_and_the_share_of_transient_faults_recovered():
    figures = er1_figures(True, n=300)
    assert {f.workload for f in figures} == {"ER-1"} and {f.variant for f in figures} == {OPTIMISED}
    by_name = {f.name: f for f in figures}
    assert {n: f.unit for n, f in by_name.items()} == {
        "lost": "orders",
        "duplicated": "orders",
        "misclassified": "orders",
        "mismatched": "orders",
        "transient faults recovered": "%",
    }
    assert not any(by_name[n].higher_is_better for n in ("lost", "duplicated", "misclassified", "mismatched"))
    assert [by_name[n].value for n in ("lost", "duplicated", "misclassified", "mismatched")] == [0, 0, 0, 0]
    recovered = by_name["transient faults recovered"]
    assert recovered.higher_is_better and 0 <= recovered.value <= 100
    _check_targets_find(figures, "ER-1")


@pytest.mark.slow
def test_cr1_kills_a_process_and_counts_what_the_restart_finds():
    figures = cr1_figures(True)
    by_name = {f.name: f for f in figures}
    assert {f.workload for f in figures} == {"CR-1"}
    assert {n: f.unit for n, f in by_name.items()} == {
        "lost": "orders",
        "duplicated": "orders",
        "orders at the venue": "orders",
    }
    assert by_name["lost"].value == by_name["duplicated"].value == 0
    assert by_name["orders at the venue"].value > 50  # the kill came mid-bursts, not before them
    _check_targets_find(figures, "CR-1")


def test_cr1_counts_a_lost_and_a_duplicated_fill_by_order(tmp_path):
    """The counts are not vacuous: a fill taken from the journal is a lost order, a fill added is a duplicated one."""
    run_bursts(tmp_path, seed=1, max_orders=200)
    check = verify(tmp_path)
    assert (check.lost, check.duplicated, check.problems) == (0, 0, [])
    db = sqlite3.connect(tmp_path / "journal.db")
    rows = db.execute("SELECT * FROM fills ORDER BY rowid").fetchall()
    db.execute("DELETE FROM fills WHERE fill_id = ?", (rows[0][0],))
    db.execute(f"INSERT INTO fills VALUES ({','.join('?' * len(rows[1]))})", ("phantom", *rows[1][1:]))
    db.commit()
    db.close()
    check = verify(tmp_path)
    assert (check.lost, check.duplicated) == (1, 1), check.problems


def test_an1_times_the_whole_report_and_each_part():
    figures = an1_figures(True, hours=0.5)
    assert {f.workload for f in figures} == {"AN-1"} and {f.unit for f in figures} == {"s"}
    total, parts = figures[0], figures[1:]
    assert total.name == "report and dashboard" and total.value > 0
    assert parts and all(p.name.startswith("part: ") and p.value >= 0 for p in parts)
    assert {"part: loading", "part: forecasts", "part: dashboard"} <= {p.name for p in parts}
    assert sum(p.value for p in parts) <= total.value
    _check_targets_find(figures, "AN-1")


def test_broker_events_that_die_with_the_process_are_booked_again_at_restart(tmp_path):
    """Group commit's one risk, made certain: fills the venue made wait in memory when the process dies;
    the restart's reconciliation books each of them once."""
    from alluse.bench.core import build_core
    from alluse.brokers.paper import PaperVenueConfig
    from alluse.common.clock import MS

    core = build_core(tmp_path, venue_config=PaperVenueConfig(ack_latency_ms=1, fill_latency_ms=1))
    for k in range(20):
        core.oms.submit(core.order(k, style="market"))
    core.clock.advance(1 * MS)  # acks and fills arrive; their commit is due only at 3 ms
    assert core.ledger.fill_count and core.journal.pending
    on_disk = sqlite3.connect(tmp_path / "journal.db")
    assert on_disk.execute("SELECT count(*) FROM fills").fetchone() == (0,)
    on_disk.close()
    core.journal._checkpointer.close()  # the process dies: files close (the log's lock goes), nothing is flushed
    core.journal._db.close()
    core.journal._log.close()
    core.venue.close()
    check = verify(tmp_path)
    assert (check.lost, check.duplicated, check.problems) == (0, 0, [])
    assert check.fills == 20
