"""The shared safe-open helper: the journal's and the venue store's files are told apart and never touched."""

import os
import sqlite3

import pytest

from alluse.common.sqlite_files import SqliteFileError, check_schema, check_sqlite_header, open_readonly, open_wal
from alluse.execution.journal import Journal


def test_open_wal_creates_checks_and_reopens(tmp_path):
    path = tmp_path / "sub" / "x.db"
    db = open_wal(path, "thing", version=2, marker_table="things", schema="CREATE TABLE IF NOT EXISTS things (a);")
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert db.execute("SELECT value FROM meta").fetchone() == ("2",)
    db.close()
    open_wal(path, "thing", version=2, marker_table="things", schema="").close()
    with pytest.raises(SqliteFileError, match="not an alluse other"):
        open_wal(path, "other", version=2, marker_table="others", schema="")
    with pytest.raises(SqliteFileError, match="schema version 2 is newer than this program's 1"):
        open_wal(path, "thing", version=1, marker_table="things", schema="")
    with pytest.raises(ValueError, match="synchronous"):
        open_wal(path, "thing", version=2, marker_table="things", schema="", synchronous="MAYBE")


def test_a_journal_passes_the_journal_check_read_only(tmp_path):
    path = tmp_path / "journal.db"
    Journal(path).close()
    before = path.read_bytes()
    check_sqlite_header(path, "journal")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    check_schema(db, path, "journal", version=1, marker_table="events", create=False)
    with pytest.raises(SqliteFileError, match="not an alluse venue store"):
        check_schema(db, path, "venue store", version=1, marker_table="receipts", create=False)
    db.close()
    assert path.read_bytes() == before


def test_errors_can_be_the_callers_own_type(tmp_path):
    class MyError(Exception):
        pass

    path = tmp_path / "x.db"
    path.write_bytes(b"hello")
    with pytest.raises(MyError, match="not a SQLite database"):
        check_sqlite_header(path, "thing", MyError)
    empty = sqlite3.connect(tmp_path / "empty.db")
    with pytest.raises(MyError, match="not an alluse thing"):
        check_schema(empty, tmp_path / "empty.db", "thing", version=1, marker_table="t", create=False, error=MyError)
    check_schema(empty, tmp_path / "empty.db", "thing", version=1, marker_table="t", create=True, error=MyError)


def test_a_store_in_a_directory_this_process_cannot_write_is_read_but_not_opened_for_writing(tmp_path):
    """A copy it does not own, or a read-only mount (tests/e2e/test_cli_mistakes.py mounts one): SQLite alone
    would open it read-only without a word and fail at the first write, or at making the WAL index to read it."""
    folder = tmp_path / "copy"
    folder.mkdir()
    path = folder / "journal.db"
    Journal(path).close()  # closed cleanly: no WAL pending
    before = path.read_bytes()
    folder.chmod(0o500)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as root: permissions do not stop writes (the e2e test runs as nobody)")
        with pytest.raises(SqliteFileError, match=f"journal {path}: cannot be written \\(permission denied\\)"):
            open_wal(path, "journal", version=1, marker_table="events", schema="")
        db = open_readonly(path, "journal", version=1, marker_table="events")
        assert db.execute("SELECT count(*) FROM events").fetchone() == (0,)
        db.close()
        assert sorted(p.name for p in folder.iterdir()) == ["journal.db", "journal.db-intents"]
    finally:
        folder.chmod(0o700)
    assert path.read_bytes() == before
