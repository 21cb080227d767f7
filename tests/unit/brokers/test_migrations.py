"""The upgrade of a store's file (common/migrations.py through sqlite_files.open_wal), proven on copies of the
version-1 fixtures with steps the tests add: each store is still at version 1, with no step of its own."""

import shutil
import sqlite3
from pathlib import Path

import pytest

from alluse.brokers.paper import store as venue_store
from alluse.common.migrations import Step, stored_version, upgrade
from alluse.common.sqlite_files import SqliteFileError, open_readonly, open_wal
from alluse.execution import journal
from alluse.execution.journal import Journal, JournalError
from alluse.monitoring import alert_history
from alluse.monitoring import store as metrics_store

V1 = Path(__file__).parents[2] / "fixtures" / "v1"
# file -> (what, marker table, the store's schema)
STORES = {
    "journal.db": ("journal", "events", journal._SCHEMA),
    "venue.db": ("venue store", "receipts", venue_store._SCHEMA),
    "metrics.db": ("metrics store", "samples_1m", metrics_store._SCHEMA),
    "alerts.db": ("alert history", "alerts", alert_history._SCHEMA),
}


def v1_copy(tmp_path: Path, name: str = "journal.db") -> Path:
    path = tmp_path / name
    shutil.copyfile(V1 / name, path)
    return path


def open_at(path: Path, version: int, steps: tuple[Step, ...], **kwargs) -> sqlite3.Connection:
    what, marker, schema = STORES[path.name]
    return open_wal(path, what, version=version, marker_table=marker, schema=schema, steps=steps, **kwargs)


def contents(path: Path) -> dict[str, list[tuple]]:
    """Every table's rows and the schema, read without changing the file."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    out = {t: sorted(db.execute(f'SELECT * FROM "{t}"'), key=repr) for t in tables}
    out["sqlite_master"] = sorted(db.execute("SELECT type, name, sql FROM sqlite_master"), key=repr)
    db.close()
    return out


@pytest.mark.parametrize("name", list(STORES))
def test_a_step_is_applied_once_inside_the_transaction_and_keeps_every_row(tmp_path, name):
    path = v1_copy(tmp_path, name)
    before = contents(path)
    marker = STORES[name][1]
    seen = []

    def note_then_add(db: sqlite3.Connection) -> None:
        seen.append((db.in_transaction, stored_version(db)))
        db.execute(f"ALTER TABLE {marker} ADD COLUMN note TEXT NOT NULL DEFAULT 'from v1'")

    steps = (Step(2, f"{marker}: a note", note_then_add),)
    for _ in range(2):  # the second open finds it upgraded: nothing runs again
        open_at(path, 2, steps).close()
    assert seen == [(True, 1)]  # once, inside the upgrade's transaction, on the version-1 file
    after = contents(path)
    assert after[marker] == sorted(((*row, "from v1") for row in before[marker]), key=repr)
    assert dict(after["meta"]) == {**dict(before["meta"]), "schema_version": "2"}
    assert {t: rows for t, rows in after.items() if t not in (marker, "meta", "sqlite_master")} == {
        t: rows for t, rows in before.items() if t not in (marker, "meta", "sqlite_master")
    }


def test_the_steps_from_an_older_version_run_in_order_in_one_transaction(tmp_path, caplog):
    path = v1_copy(tmp_path)
    steps = (
        Step(2, "a table", ("CREATE TABLE notes (seq INTEGER PRIMARY KEY, text TEXT NOT NULL)",)),
        Step(3, "one note per order", ("INSERT INTO notes (text) SELECT client_order_id FROM orders ORDER BY rowid",)),
    )
    with caplog.at_level("WARNING", logger="alluse.migrations"):
        db = open_at(path, 3, steps)
    assert db.execute("SELECT text FROM notes").fetchall() == [(c,) for c in ("S1-1", "S1-2", "S1-3", "S1-4", "S1-5")]
    assert stored_version(db) == 3
    db.close()
    assert f"journal {path}: upgraded from schema version 1 to 3" in caplog.text
    with pytest.raises(JournalError, match="schema version 3 is newer than this program's 1"):
        Journal(path)  # the code of today refuses what a later version wrote


@pytest.mark.parametrize(
    ("failing", "reason"),
    [
        (("UPDATE no_such_table SET x = 1",), "OperationalError: no such table: no_such_table"),
        (("INSERT INTO orders (client_order_id) VALUES ('x')",), "IntegrityError: NOT NULL constraint failed"),
        (lambda db: int("not a number"), "ValueError: invalid literal for int()"),
    ],
)
def test_a_failing_step_leaves_the_file_at_its_old_version_and_names_the_step(tmp_path, failing, reason):
    path = v1_copy(tmp_path)
    before = contents(path)
    steps = (
        Step(2, "a note column", ("ALTER TABLE events ADD COLUMN note TEXT", "UPDATE events SET note = 'x'")),
        Step(3, "the failing one", failing),
    )
    with pytest.raises(JournalError) as refused:
        open_at(path, 3, steps, error=JournalError)
    message = str(refused.value)
    assert message.startswith(f"journal {path}: upgrade from schema version 2 to 3 (the failing one) failed: ")
    assert reason in message and message.endswith("; file left at version 1") and "\n" not in message
    assert contents(path) == before  # step 2's change went with it: all or nothing
    j = Journal(path, readonly=True)  # and today's code reads it as before
    assert len(j.load().orders) == 5 and j.schema_version() == 1
    j.close()


def test_a_step_that_commits_by_itself_is_reported(tmp_path):
    path = v1_copy(tmp_path)
    with pytest.raises(SqliteFileError, match=r"ended the transaction itself \(a step must not commit\)"):
        open_at(path, 2, (Step(2, "commits", lambda db: db.commit()),))


def test_a_newer_file_is_refused_untouched_with_steps_declared(tmp_path):
    path = v1_copy(tmp_path)
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    before = path.read_bytes()
    with pytest.raises(SqliteFileError, match="schema version 3 is newer than this program's 2; upgrade alluse"):
        open_at(path, 2, (Step(2, "never runs", lambda db: pytest.fail("ran")),))
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["journal.db"]


def test_a_file_older_than_the_first_step_is_refused_untouched(tmp_path):
    path = v1_copy(tmp_path)
    before = path.read_bytes()
    with pytest.raises(SqliteFileError, match=r"schema version 1 is older than this program upgrades \(from 2\)"):
        open_at(path, 3, (Step(3, "from 2 only", ()),))
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["journal.db"]


def test_a_read_only_open_of_an_older_file_says_a_writable_open_upgrades_it(tmp_path):
    path = v1_copy(tmp_path)
    before = path.read_bytes()
    with pytest.raises(
        SqliteFileError, match=r"schema version 1 is older than this program reads \(from 2\); a writable open"
    ):
        open_readonly(path, "journal", version=2, marker_table="events")
    db = open_readonly(path, "journal", version=2, marker_table="events", readable_from=1)  # a reader that can
    assert db.execute("SELECT count(*) FROM orders").fetchone() == (5,)
    db.close()
    assert path.read_bytes() == before


def test_another_process_that_upgraded_first_leaves_nothing_to_do(tmp_path):
    """Both saw version 1 before either took the write lock: the second re-reads it under the lock."""
    path = v1_copy(tmp_path)
    ran = []
    steps = (Step(2, "counted", lambda db: ran.append(1)),)
    first = sqlite3.connect(path, isolation_level=None)
    second = sqlite3.connect(path, isolation_level=None)
    upgrade(first, path, "journal", version=2, steps=steps, error=SqliteFileError)
    upgrade(second, path, "journal", version=2, steps=steps, error=SqliteFileError)
    assert ran == [1] and stored_version(second) == 2
    first.close()
    second.close()


def test_a_file_locked_by_a_writer_is_refused_not_half_upgraded(tmp_path):
    path = v1_copy(tmp_path)
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    db = sqlite3.connect(path, isolation_level=None, timeout=0)
    with pytest.raises(SqliteFileError, match=r"cannot take the write lock to upgrade it \(database is locked\)"):
        upgrade(db, path, "journal", version=2, steps=(Step(2, "x", ()),), error=SqliteFileError)
    writer.execute("ROLLBACK")
    assert stored_version(db) == 1
    db.close()
    writer.close()


@pytest.mark.parametrize("tos", [(3,), (2, 4), (1, 2)])
def test_steps_that_do_not_lead_to_the_version_one_at_a_time_are_a_mistake_in_the_code(tmp_path, tos):
    path = v1_copy(tmp_path)
    with pytest.raises(ValueError, match="migration steps"):
        open_at(path, tos[-1] if tos != (3,) else 2, tuple(Step(t, "x", ()) for t in tos))
    assert path.read_bytes() == (V1 / "journal.db").read_bytes()  # checked before the file is opened


def test_a_new_file_is_laid_out_at_the_current_version_without_running_steps(tmp_path):
    db = open_wal(
        tmp_path / "new.db", "thing", version=2, marker_table="things",
        schema="CREATE TABLE IF NOT EXISTS things (a)", steps=(Step(2, "never", lambda db: pytest.fail("ran")),),
    )  # fmt: skip
    assert stored_version(db) == 2
    db.close()


def test_a_new_file_whose_layout_fails_is_left_without_tables(tmp_path):
    path = tmp_path / "new.db"
    with pytest.raises(sqlite3.OperationalError):
        open_wal(path, "thing", version=1, marker_table="things", schema="CREATE TABLE things (a); CREATE TABLE (")
    db = sqlite3.connect(path)
    assert db.execute("SELECT name FROM sqlite_master").fetchall() == []  # not half laid out
    db.close()
    open_wal(path, "thing", version=1, marker_table="things", schema="CREATE TABLE IF NOT EXISTS things (a)").close()


def test_a_store_that_never_recorded_its_version_is_taken_as_version_1(tmp_path):
    """Laid out by a release whose open recorded the version in a statement of its own, and killed just before."""
    path = v1_copy(tmp_path)
    db = sqlite3.connect(path)
    db.execute("DELETE FROM meta WHERE key = 'schema_version'")
    db.commit()
    db.close()
    ran = []
    open_at(path, 2, (Step(2, "counted", lambda db: ran.append(stored_version(db))),)).close()
    assert ran == [1] and contents(path)["meta"].count(("schema_version", "2")) == 1
