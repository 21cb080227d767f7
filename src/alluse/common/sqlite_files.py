"""Opening the project's own SQLite files safely: refuse a foreign or newer file before touching it.

Every store (the order journal, the paper venue's book, the metrics store, the alert history) is a
SQLite file with a `meta` table holding `schema_version` and one table that marks what kind of file
it is. A file that is not SQLite, is another program's database, is another of our stores, or was
written by a newer version is refused with a clear error and left byte-for-byte as it was: the
header is read with plain file I/O and the schema check only reads, before any pragma or DDL runs.

A writable open lays out a new file in one transaction and upgrades an older one in place with the
store's steps (common/migrations.py). A read-only open never changes a file: one older than its
reader understands (`readable_from`, by default the current version) is refused, saying that a
writable open upgrades it.

A writable open refuses a file (or its directory) this process cannot write, naming it, before SQLite
opens it; a read-only open reads a store in a directory it cannot write, e.g. a read-only mount.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import TypedDict

from alluse.common.migrations import (
    ErrorFactory,
    Step,
    check_steps,
    check_upgradable,
    refuse_newer,
    stored_version,
    upgrade,
)

SQLITE_MAGIC = b"SQLite format 3\x00"
SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL")
BUSY_TIMEOUT_MS = 2000


class SqliteFileError(Exception):
    """The file cannot be used; it has not been touched."""


class StoreIdentity(TypedDict):
    """The keywords `open_wal` and `open_readonly` share: what makes a file this store's, and its error."""

    version: int
    marker_table: str
    error: ErrorFactory


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


def check_writable(path: Path, what: str, error: ErrorFactory = SqliteFileError) -> None:
    """Refuse a file, or a directory for its WAL files, that this process cannot write: SQLite would open it
    read-only without a word and fail later, at the first write or at making the WAL index (-shm)."""
    targets = [path.parent, path] if path.exists() else [path.parent]
    for target in targets:
        if not os.access(target, os.W_OK):  # False on a read-only mount whoever asks
            reason = "read-only file system" if os.statvfs(target).f_flag & os.ST_RDONLY else "permission denied"
            raise error(f"{what} {path}: cannot be written ({reason}); file left untouched")


def readonly_uri(path: Path) -> str:
    """The URI of a read-only open. In a directory this process cannot write (a read-only mount, a copy it does
    not own) SQLite cannot make the WAL index it reads through; a file with no WAL pending is complete, and there
    it is opened immutable (no locks, no index). A WAL still pending is read the ordinary way (SQLite reads it
    when its index is there too)."""
    wal = path.with_name(path.name + "-wal")
    pending = wal.exists() and wal.stat().st_size > 0
    immutable = not pending and not os.access(path.parent, os.W_OK)
    return f"file:{path}?mode=ro" + ("&immutable=1" if immutable else "")


def check_schema(
    db: sqlite3.Connection,
    path: Path,
    what: str,
    *,
    version: int,
    marker_table: str,
    create: bool,
    error: ErrorFactory = SqliteFileError,
) -> int:
    """Read-only check that `db` is ours (has `meta` and `marker_table`) and not newer than `version`;
    returns its schema version.

    An empty database passes, as version 0, when `create` is true (the caller is about to lay out its schema).
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
        return 0
    found = stored_version(db)
    refuse_newer(path, what, found, version, error)
    return found


def open_wal(
    path: Path,
    what: str,
    *,
    version: int,
    marker_table: str,
    schema: str,
    steps: Sequence[Step] = (),
    synchronous: str = "NORMAL",
    error: ErrorFactory = SqliteFileError,
) -> sqlite3.Connection:
    """Check, then open (creating if needed) a store in WAL mode: a file older than `version` is first
    upgraded by `steps` (one transaction, see common/migrations.py); then `meta` and `schema` (the
    current layout, CREATE ... IF NOT EXISTS) are laid out in one transaction, a no-op on a file that has them.

    The connection is in autocommit mode (`isolation_level=None`): callers wrap each write in
    an explicit BEGIN/COMMIT so one decision is one transaction.
    """
    if synchronous not in SYNCHRONOUS_MODES:
        raise ValueError(f"synchronous={synchronous!r}: expected one of {', '.join(SYNCHRONOUS_MODES)}")
    check_steps(steps, version)
    check_sqlite_header(path, what, error)
    path.parent.mkdir(parents=True, exist_ok=True)
    check_writable(path, what, error)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")  # another process (the CLI) may write too
    try:
        found = check_schema(db, path, what, version=version, marker_table=marker_table, create=True, error=error)
        if found:
            check_upgradable(path, what, found, version, steps, error)  # before the pragmas write the header
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={synchronous}")
        if 0 < found < version:
            upgrade(db, path, what, version=version, steps=steps, error=error)
        db.executescript(  # a script of its own transaction: executescript commits any other first
            "BEGIN IMMEDIATE;\n"
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);\n"
            f"{schema};\n"
            f"INSERT OR IGNORE INTO meta VALUES ('schema_version', '{int(version)}');\n"
            "COMMIT;"
        )
    except BaseException:
        db.close()
        raise
    return db


def open_readonly(
    path: Path,
    what: str,
    *,
    version: int,
    marker_table: str,
    readable_from: int | None = None,
    error: ErrorFactory = SqliteFileError,
) -> sqlite3.Connection:
    """An existing store, read-only (the CLI's readers): checked like `open_wal`, never created or changed.
    A file older than `readable_from` (default `version`), which the reader's queries do not understand,
    is refused: only a writable open upgrades it."""
    check_sqlite_header(path, what, error)
    if not path.exists():
        raise error(f"{what} {path}: no such file")
    db = sqlite3.connect(readonly_uri(path), uri=True, isolation_level=None)
    db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    try:
        found = check_schema(db, path, what, version=version, marker_table=marker_table, create=False, error=error)
        oldest = version if readable_from is None else readable_from
        if found < oldest:
            raise error(
                f"{what} {path}: schema version {found} is older than this program reads (from {oldest}); "
                "a writable open (`alluse run`) upgrades it (file left untouched)"
            )
    except BaseException:
        db.close()
        raise
    return db
