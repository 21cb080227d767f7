"""Opening the project's own SQLite files safely: refuse a foreign or newer file before touching it.

Every store (the order journal, the paper venue's book) is a SQLite file with a `meta` table
holding `schema_version` and one table that marks what kind of file it is. A file that is not
SQLite, is another program's database, is another of our stores, or was written by a newer
version is refused with a clear error and left byte-for-byte as it was: the header is read
with plain file I/O and the schema check only reads, before any pragma or DDL runs.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

SQLITE_MAGIC = b"SQLite format 3\x00"
SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL")
BUSY_TIMEOUT_MS = 2000

ErrorFactory = Callable[[str], Exception]


class SqliteFileError(Exception):
    """The file cannot be used; it has not been touched."""


def check_sqlite_header(path: Path, what: str, error: ErrorFactory = SqliteFileError) -> None:
    """Refuse a directory or a non-empty file that is not SQLite, before SQLite opens (and could change) it."""
    if not path.exists():
        return
    if path.is_dir():
        raise error(f"{what} {path}: is a directory")
    with path.open("rb") as fh:
        head = fh.read(len(SQLITE_MAGIC))
    if path.stat().st_size and head != SQLITE_MAGIC:
        raise error(f"{what} {path}: not a SQLite database (file left untouched)")


def check_schema(
    db: sqlite3.Connection,
    path: Path,
    what: str,
    *,
    version: int,
    marker_table: str,
    create: bool,
    error: ErrorFactory = SqliteFileError,
) -> None:
    """Read-only check that `db` is ours (has `meta` and `marker_table`) and not newer than `version`.

    An empty database passes when `create` is true (the caller is about to lay out its schema).
    """
    try:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        problems = [row[0] for row in db.execute("PRAGMA quick_check")]  # reads only: damage shows before any write
    except sqlite3.DatabaseError as exc:
        raise error(f"{what} {path}: not a readable SQLite database ({exc}); file left untouched") from None
    if problems != ["ok"]:
        raise error(f"{what} {path}: damaged ({'; '.join(problems[:3])}); file left untouched")
    if "meta" not in tables or marker_table not in tables:
        if tables or not create:
            raise error(f"{what} {path}: a SQLite database but not an alluse {what}")
        return
    row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    found = int(row[0]) if row else 0
    if found > version:
        raise error(
            f"{what} {path}: schema version {found} is newer than this program's {version}; "
            "upgrade alluse (file left untouched)"
        )


def open_wal(
    path: Path,
    what: str,
    *,
    version: int,
    marker_table: str,
    schema: str,
    synchronous: str = "NORMAL",
    error: ErrorFactory = SqliteFileError,
) -> sqlite3.Connection:
    """Check, then open (creating if needed) a store in WAL mode with `meta` and its schema laid out.

    The connection is in autocommit mode (`isolation_level=None`): callers wrap each write in
    an explicit BEGIN/COMMIT so one decision is one transaction.
    """
    if synchronous not in SYNCHRONOUS_MODES:
        raise ValueError(f"synchronous={synchronous!r}: expected one of {', '.join(SYNCHRONOUS_MODES)}")
    check_sqlite_header(path, what, error)
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")  # another process (the CLI) may write too
    try:
        check_schema(db, path, what, version=version, marker_table=marker_table, create=True, error=error)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={synchronous}")
        db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.executescript(schema)
        db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(version),))
    except BaseException:
        db.close()
        raise
    return db


def open_readonly(path: Path, what: str, *, version: int, marker_table: str, error: ErrorFactory = SqliteFileError):
    """An existing store, read-only (the CLI's readers): checked like `open_wal`, never created or changed."""
    check_sqlite_header(path, what, error)
    if not path.exists():
        raise error(f"{what} {path}: no such file")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    try:
        check_schema(db, path, what, version=version, marker_table=marker_table, create=False, error=error)
    except BaseException:
        db.close()
        raise
    return db
