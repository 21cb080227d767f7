"""Replays recorded quotes on the injected clock, so days of data run in virtual time.

A recording (docs/replay.md) is one CSV file or a directory of them (one a day, read in name order),
each plain or gzip-compressed (told by its first bytes, not its name). It is read and parsed once, up
front (`Recording`): a missing file, a damaged one or a wrong header fails before anything is
scheduled, the caller can register `instruments()` and start its clock at `first_ts` before the first
quote arrives, and `malformed` is final from the start. Rows that cannot be parsed are the reader's
business (skipped, counted, logged with file, line, field and value); rows that parse but carry bad
numbers (NaN, negative, crossed, out of order) are market data and go to the engine, which rejects and
counts them with a reason. So a person's bad file is counted, never a traceback, and a whole file that
is not a recording is refused by name.
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from os import PathLike
from pathlib import Path
from typing import Protocol

from alluse.common.clock import Clock, TimerHandle, datetime_to_ns
from alluse.marketdata.engine import QuoteSink
from alluse.model import Instrument, InvalidInput, Quote, parse_symbol

log = logging.getLogger("alluse.marketdata.replay")

HEADER = ("ts", "symbol", "bid", "ask", "bid_size", "ask_size")

SUFFIXES = (".csv", ".csv.gz")  # the files of a recording directory; other files there are left alone
GZIP_MAGIC = b"\x1f\x8b"
KEPT_PROBLEMS = 10  # malformed rows logged at WARNING and kept for the caller to show; the rest at DEBUG

# (ts_ns, instrument_id, bid, ask, bid_size, ask_size)
_Row = tuple[int, str, float, float, int, int]


@dataclass(slots=True, frozen=True)
class RowProblem:
    """A row the reader skipped, kept so a person can find it: the file, its line, the field and value."""

    path: str
    line: int
    field: str
    value: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path} line {self.line}: {self.field}={self.value!r}: {self.reason}"


def recording_files(path: str | PathLike[str]) -> list[str]:
    """The files a recording is read from: the file itself, or a directory's `.csv`/`.csv.gz` files in name
    order (name them by date, e.g. 2025-03-03.csv.gz, so name order is time order)."""
    p = Path(path)
    if p.is_dir():
        files = sorted(
            f for f in p.iterdir() if f.name.endswith(SUFFIXES) and not f.name.startswith(".") and f.is_file()
        )
        if not files:
            raise InvalidInput("path", str(path), f"a directory with no {' or '.join(SUFFIXES)} files")
        return [str(f) for f in files]
    if not p.exists():
        raise InvalidInput("path", str(path), "no such file or directory")
    return [str(path)]


def _parse_ts(text: str) -> int:
    """Integer ns since the epoch, or an ISO-8601 datetime (naive means UTC)."""
    if text.isascii() and text.isdigit():
        return int(text)
    try:
        return datetime_to_ns(datetime.fromisoformat(text))
    except ValueError:
        raise InvalidInput("ts", text, "neither integer ns nor an ISO-8601 datetime") from None


class Recording:
    """The rows of a recorded file or directory, parsed once: a run reads its start time and instruments
    from it before its clock exists, then replays it (`ReplayFeed`)."""

    def __init__(self, path: str | PathLike[str]) -> None:
        self.path = str(path)
        self.files = recording_files(path)
        self._instruments: dict[str, Instrument] = {}
        self.malformed = 0
        self.problems: list[RowProblem] = []  # the first KEPT_PROBLEMS malformed rows
        self.rows: list[_Row] = []
        for file in self.files:
            self._read(file)

    # ------------------------------------------------------------------ parsing

    def _read(self, file: str) -> None:
        line = 0
        try:
            with open(file, "rb") as raw:
                compressed = raw.read(len(GZIP_MAGIC)) == GZIP_MAGIC
                raw.seek(0)
                binary = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
                with io.TextIOWrapper(binary, encoding="utf-8-sig", newline="") as f:
                    reader = csv.reader(f)
                    header = next(reader, None)
                    if header is None or tuple(h.strip() for h in header) != HEADER:
                        raise InvalidInput("header", ",".join(header or ()), f"expected {','.join(HEADER)!r} in {file}")
                    for fields in reader:
                        line = reader.line_num
                        if not fields:
                            continue  # blank line
                        try:
                            self.rows.append(self._parse_row(fields))
                        except InvalidInput as bad:
                            self._malformed(RowProblem(file, line, bad.field, str(bad.value), bad.reason))
        except FileNotFoundError:
            raise InvalidInput("path", file, "no such file") from None
        except UnicodeDecodeError:
            raise InvalidInput("path", file, "not UTF-8 text") from None
        except csv.Error as e:  # raised by reading, so `reader` is there
            at = reader.line_num  # the line it was reading
            if "field larger than field limit" in str(e):  # the csv module's one way to say it
                raise InvalidInput("path", file, f"line {at}: a field longer than {csv.field_size_limit():,} "
                                   "characters (not a quote recording)") from None  # fmt: skip
            raise InvalidInput("path", file, f"not CSV at line {at} ({e})") from None
        except (EOFError, zlib.error, gzip.BadGzipFile):
            raise InvalidInput("path", file, f"damaged gzip data after line {line} (truncated or corrupt)") from None
        except OSError as e:
            raise InvalidInput("path", file, f"cannot read: {e.strerror or e}") from None

    def _malformed(self, problem: RowProblem) -> None:
        self.malformed += 1
        kept = len(self.problems) < KEPT_PROBLEMS
        if kept:
            self.problems.append(problem)
        log.log(
            logging.WARNING if kept else logging.DEBUG,
            "%s line %d: %s=%r: %s; row skipped%s",
            problem.path,
            problem.line,
            problem.field,
            problem.value,
            problem.reason,
            "; further malformed rows are logged at DEBUG" if len(self.problems) == KEPT_PROBLEMS and kept else "",
        )

    def _parse_row(self, fields: list[str]) -> _Row:
        if len(fields) > len(HEADER):
            raise InvalidInput("row", ",".join(fields), f"{len(fields)} fields, expected {len(HEADER)}")
        fields = [f.strip() for f in fields]
        for name, value in zip(HEADER, fields + [""] * (len(HEADER) - len(fields)), strict=True):
            if not value:
                raise InvalidInput(name, value, "missing")
        ts_text, symbol, bid_text, ask_text, bid_size_text, ask_size_text = fields
        ts = _parse_ts(ts_text)
        instrument_id = self._instrument_id(symbol)
        bid = _parse_float("bid", bid_text)
        ask = _parse_float("ask", ask_text)
        bid_size = _parse_int("bid_size", bid_size_text)
        ask_size = _parse_int("ask_size", ask_size_text)
        return ts, instrument_id, bid, ask, bid_size, ask_size

    def _instrument_id(self, symbol: str) -> str:
        known = self._instruments.get(symbol)
        if known is None:
            try:
                known = parse_symbol(symbol)
            except InvalidInput as e:
                raise InvalidInput("symbol", symbol, e.reason) from None
            # Keyed by the text as written: parsing each distinct symbol once keeps big files fast.
            self._instruments[symbol] = known
        return known.id

    # ------------------------------------------------------------------ reading

    @property
    def first_ts(self) -> int | None:
        """The first row's time (ns since the epoch): where a replaying run starts its clock."""
        return self.rows[0][0] if self.rows else None

    @property
    def last_ts(self) -> int | None:
        return self.rows[-1][0] if self.rows else None

    def instruments(self) -> set[Instrument]:
        return set(self._instruments.values())

    def quotes(self) -> Iterator[Quote]:
        """The quotes as recorded (ts_event = ts_recv = the file's ts), in file order."""
        for ts, iid, bid, ask, bid_size, ask_size in self.rows:
            yield Quote(iid, bid, ask, bid_size, ask_size, ts, ts)

    def __len__(self) -> int:
        return len(self.rows)


class QuoteFeed(Protocol):
    """A feed a run starts in place of the simulated market (app/system.py): a `ReplayFeed` is one."""

    @property
    def done(self) -> bool: ...

    def instruments(self) -> set[Instrument]: ...

    def start(self, sink: QuoteSink) -> None: ...

    def stop(self) -> None: ...


class ReplayFeed:
    """A recording delivered on the clock, as a live feed would deliver it (`start(sink)`/`stop()`)."""

    def __init__(self, source: str | PathLike[str] | Recording, clock: Clock) -> None:
        self.recording = source if isinstance(source, Recording) else Recording(source)
        self.path = self.recording.path
        self._clock = clock
        self._rows = self.recording.rows
        self._sink: QuoteSink | None = None
        self._handle: TimerHandle | None = None
        self._next = 0  # index of the next row to deliver
        self._origin = 0  # clock time at which the first row is delivered
        self._done = False
        self.delivered = 0

    @property
    def malformed(self) -> int:
        """Rows the reader skipped (see `recording.problems`)."""
        return self.recording.malformed

    def instruments(self) -> set[Instrument]:
        return self.recording.instruments()

    def quotes(self) -> Iterator[Quote]:
        return self.recording.quotes()

    def __len__(self) -> int:
        return len(self._rows)

    # ------------------------------------------------------------------ replay on the clock

    @property
    def done(self) -> bool:
        """Every row has been delivered."""
        return self._done

    @property
    def running(self) -> bool:
        return self._sink is not None

    def start(self, sink: QuoteSink) -> None:
        """Deliver the rows on the clock: the first at now, each later one as far after as the file says.

        Consecutive rows with the same ts go to `sink` as one batch. Timestamps are shifted onto
        the clock (ts_event = scheduled time, ts_recv = clock time at delivery), so freshness
        rules apply to a replay as to a live feed. Starting again after stop() or done replays
        from the first row.
        """
        if self._sink is not None:
            raise RuntimeError(f"replay of {self.path} is already running")
        self._sink = sink
        self._next = 0
        self._done = False
        self.delivered = 0
        self._origin = self._clock.now_ns()
        self._schedule_next()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._sink = None

    def _schedule_next(self) -> None:
        if self._next >= len(self._rows):
            self._done = True
            self._sink = None
            self._handle = None
            return
        ts = self._rows[self._next][0]
        self._handle = self._clock.call_at(self._origin + ts - self._rows[0][0], self._deliver)

    def _deliver(self) -> None:
        sink = self._sink
        if sink is None:
            return
        rows = self._rows
        i = self._next
        ts = rows[i][0]
        ts_event = self._origin + ts - rows[0][0]
        ts_recv = self._clock.now_ns()
        batch: list[Quote] = []
        while i < len(rows) and rows[i][0] == ts:
            _, iid, bid, ask, bid_size, ask_size = rows[i]
            batch.append(Quote(iid, bid, ask, bid_size, ask_size, ts_event, ts_recv))
            i += 1
        self._next = i
        self.delivered += len(batch)
        # Schedule first: a sink that raises must not stall the replay, and a sink that calls stop() cancels it.
        self._schedule_next()
        sink(batch)


def _parse_float(name: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InvalidInput(name, text, "not a number") from None


def _parse_int(name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidInput(name, text, "not an integer") from None
