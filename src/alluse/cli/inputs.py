"""Options and checks several commands share. A bad value is refused as an InvalidInput naming the
option and the value, which `main` prints as one line (exit code 2). alluse.model (and the asyncio
its clock imports, docs/performance.md) is loaded only to raise one: `alluse --help` does without."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import NoReturn

SQLITE_MAX_INT = 2**63 - 1  # a LIMIT, or a time in nanoseconds, beyond this overflows SQLite's integer


class Parser(argparse.ArgumentParser):
    """argparse's own refusals (an unknown option, a value that is not a number) as every other error: one line on
    stderr, never wrapped, exit code 2; the usage is for `--help`. Its subcommands' parsers are of this class too."""

    def error(self, message: str) -> NoReturn:
        from alluse.cli.output import error

        error(f"{self.prog}: {message} (see {self.prog} --help)")
        self.exit(2)


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=Path("data"))


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON document (one line) instead of tables")


def add_limit(parser: argparse.ArgumentParser, what: str, default: int = 50) -> None:
    """`--limit N`, the same on every command that takes one: the newest N, 0 for all (see `check_limit`)."""
    parser.add_argument("--limit", type=int, default=default, help=f"the newest N {what} (default {default}; 0 = all)")


def check_limit(option: str, value: int) -> int:
    """A `--limit` as a count to take: 0 (all) becomes SQLITE_MAX_INT, which a slice and an SQL LIMIT both take
    as everything; a negative value is refused, naming the option."""
    if value < 0:
        raise _invalid(option, value, "must be 0 (all) or a positive count")
    check_count(option, value, 0)
    return value or SQLITE_MAX_INT


def check_count(option: str, value: int, minimum: int) -> None:
    if value < minimum:
        raise _invalid(option, value, f"must be at least {minimum}")
    if value > SQLITE_MAX_INT:
        raise _invalid(option, value, f"must be at most {SQLITE_MAX_INT}")


def check_span(option: str, value: float, unit: str, unit_ns: float) -> None:
    """A span back from now, in `unit`s: positive, and reaching back to 1970 at most (no data is
    older, and further back the nanoseconds overflow). NaN fails the comparison too."""
    if not 0 < value * unit_ns <= time.time_ns():
        raise _invalid(option, value, f"must be a positive number of {unit} (back to 1970 at most)")


def check_writable_dir(option: str, path: Path) -> None:
    """Made if missing, and written to once: a person learns of a bad directory before the work starts,
    not from a traceback after it (a permission check alone misses read-only file systems)."""
    if path.exists() and not path.is_dir():  # mkdir would say "File exists", which a person reads as fine
        raise _invalid(option, str(path), "not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise _invalid(option, str(path), f"cannot write there ({exc.strerror or exc})") from None


def _invalid(option: str, value: object, reason: str) -> Exception:
    from alluse.model import InvalidInput

    return InvalidInput(option, value, reason)
