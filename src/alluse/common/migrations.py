"""Upgrading a store's file in place: each store lists its steps, and a writable open runs those the file lacks.

A step takes the file from version `to - 1` to `to`: SQL statements run in order, or a function of the
connection. A writable open (`sqlite_files.open_wal`) of a file older than the code runs every step it
lacks, then records the new `schema_version`, in ONE transaction (BEGIN IMMEDIATE: another process
opening it at the same moment waits, then finds it upgraded): a step that fails rolls everything back,
leaving the file at its old version, and the open fails naming the file, the step and the reason. A
step must not end the transaction itself (COMMIT, `executescript`); one that does is reported, as the
file may then be half upgraded. A file newer than the code is refused before anything runs (see
`sqlite_files.check_schema`); a read-only open never upgrades (see `sqlite_files.open_readonly`).
Files of each version are kept as test fixtures (tests/fixtures/v1) that every later version must read.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("alluse.migrations")

ErrorFactory = Callable[[str], Exception]  # a store's own error class, given the message


@dataclass(frozen=True, slots=True)
class Step:
    """Version `to - 1` -> `to`."""

    to: int
    what: str  # a few words, for the log and for an error: "fills: add a venue column"
    run: tuple[str, ...] | Callable[[sqlite3.Connection], None]  # statements, or a function of the connection


def check_steps(steps: Sequence[Step], version: int) -> None:
    """The steps lead, one version at a time, up to `version` (a store's declaration; a mistake is the code's)."""
    expected = list(range(version - len(steps) + 1, version + 1))
    if [s.to for s in steps] != expected or (steps and steps[0].to < 2):
        raise ValueError(f"migration steps {[s.to for s in steps]}: must lead to versions {expected}, from 2 up")


def stored_version(db: sqlite3.Connection) -> int:
    """The file's `schema_version`; a store without one was laid out before creation became one
    transaction and killed before it recorded the version, which was then 1."""
    row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    return int(row[0]) if row else 1


def upgrade(
    db: sqlite3.Connection, path: Path, what: str, *, version: int, steps: Sequence[Step], error: ErrorFactory
) -> None:
    """Bring the store on `db` (autocommit mode) up to `version`, all or nothing; a no-op if it is there."""
    try:
        db.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:  # locked past the busy timeout
        raise error(f"{what} {path}: cannot take the write lock to upgrade it ({exc}); try again") from None
    try:
        found = stored_version(db)  # again, under the write lock: another process may have upgraded it meanwhile
        check_upgradable(path, what, found, version, steps, error)
        for step in steps[len(steps) - (version - found) :]:
            reason = _run(db, step)
            if reason is not None:
                raise error(
                    f"{what} {path}: upgrade from schema version {step.to - 1} to {step.to} ({step.what}) failed: "
                    f"{reason}; file left at version {found}"
                )
            if not db.in_transaction:
                raise error(
                    f"{what} {path}: upgrade step to schema version {step.to} ({step.what}) ended the transaction "
                    "itself (a step must not commit); the file may be half upgraded"
                )
        if found < version:
            db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(version),))
        try:
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise error(f"{what} {path}: upgrade not committed ({exc}); file left at version {found}") from None
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    if found < version:
        log.warning("%s %s: upgraded from schema version %d to %d", what, path, found, version)


def refuse_newer(path: Path, what: str, found: int, version: int, error: ErrorFactory) -> None:
    if found > version:
        raise error(
            f"{what} {path}: schema version {found} is newer than this program's {version}; "
            "upgrade alluse (file left untouched)"
        )


def check_upgradable(
    path: Path, what: str, found: int, version: int, steps: Sequence[Step], error: ErrorFactory
) -> None:
    """Refuse a file newer than `version`, or older than the first step upgrades, before anything changes it."""
    refuse_newer(path, what, found, version, error)
    if found < version - len(steps):
        raise error(
            f"{what} {path}: schema version {found} is older than this program upgrades "
            f"(from {version - len(steps)}); open it once with an earlier release (file left untouched)"
        )


def _run(db: sqlite3.Connection, step: Step) -> str | None:
    """Why the step failed, or None."""
    try:
        if callable(step.run):
            step.run(db)
        else:
            for statement in step.run:
                db.execute(statement)
    except Exception as exc:  # whatever it is, it is named in the refusal
        return f"{type(exc).__name__}: {exc}"
    return None
