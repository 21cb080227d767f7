"""CR-1 as a test: SIGKILL a process in the middle of order bursts, restart, compare journal and venue."""

import subprocess
import sys

import pytest

from alluse.bench.cr1 import crash, verify

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_kill_9_mid_burst_loses_and_duplicates_nothing(tmp_path, seed):
    crash(tmp_path, seed)  # raises unless the driver got going and died by SIGKILL at a random point
    check = verify(tmp_path)
    assert check.venue_orders > 50, "the kill came before the bursts got going"
    assert check.problems == []
    assert check.open_after_restart > 0  # resting orders kept working at the venue through the crash


def test_the_check_sees_a_fill_the_journal_missed(tmp_path):
    """The comparison is not vacuous: remove one fill from the journal and it must be reported."""
    import sqlite3

    proc = subprocess.Popen(
        [sys.executable, "-m", "alluse.bench.cr1", "--data-dir", str(tmp_path), "--max-orders", "300"],
        stdout=subprocess.PIPE,
        text=True,
    )
    proc.communicate(timeout=60)
    assert verify(tmp_path).problems == []
    db = sqlite3.connect(tmp_path / "journal.db")
    db.execute("DELETE FROM fills WHERE rowid = (SELECT max(rowid) FROM fills)")
    db.commit()
    db.close()
    problems = verify(tmp_path).problems
    assert any("not in the journal" in p for p in problems), problems
