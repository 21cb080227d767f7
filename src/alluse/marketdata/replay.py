"""Replays a recorded quote file on the injected clock, so a day of data runs in virtual time.

The file is read and parsed once, up front: a missing file or a wrong header fails before
anything is scheduled, the caller can register `instruments()` before the first quote
arrives, and `malformed` is final from the start. Rows that cannot be parsed are the
feed's business (skipped, counted, logged with their line); rows that parse but carry
bad numbers (NaN, negative, crossed) are market data and go to the engine, which rejects
them with a reason.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterator
from datetime import datetime
from os import PathLike

from alluse.common.clock import Clock, TimerHandle, datetime_to_ns
from alluse.marketdata.engine import QuoteSink
from alluse.model import Instrument, InvalidInput, Quote, parse_symbol

log = logging.getLogger("alluse.marketdata.replay")

HEADER = ("ts", "symbol", "bid", "ask", "bid_size", "ask_size")

# (ts_ns, instrument_id, bid, ask, bid_size, ask_size)
_Row = tuple[int, str, float, float, int, int]


def _parse_ts(text: str) -> int:
    """Integer ns since the epoch, or an ISO-8601 datetime (naive means UTC)."""
    if text.isascii() and text.isdigit():
        return int(text)
    try:
        return datetime_to_ns(datetime.fromisoformat(text))
    except ValueError:
        raise InvalidInput("ts", text, "neither integer ns nor an ISO-8601 datetime") from None


class ReplayFeed:
    def __init__(self, path: str | PathLike[str], clock: Clock) -> None:
        self.path = str(path)
        self._clock = clock
        self._instruments: dict[str, Instrument] = {}
        self.malformed = 0
        self._rows = self._read()
        self._sink: QuoteSink | None = None
        self._handle: TimerHandle | None = None
        self._next = 0  # index of the next row to deliver
        self._origin = 0  # clock time at which the first row is delivered
        self._done = False
        self.delivered = 0

    # ------------------------------------------------------------------ parsing

    def _read(self) -> list[_Row]:
        try:
            with open(self.path, newline="", encoding="utf-8-sig") as f:
                reader = csv.reader(f)
                header = next(reader, None)
                if header is None or tuple(h.strip() for h in header) != HEADER:
                    raise InvalidInput(
                        "header", ",".join(header or ()), f"expected {','.join(HEADER)!r} in {self.path}"
                    )
                rows: list[_Row] = []
                for fields in reader:
                    if not fields:
                        continue  # blank line
                    try:
                        rows.append(self._parse_row(fields))
                    except InvalidInput as bad:
                        self.malformed += 1
                        log.warning(
                            "%s line %d: %s=%r: %s; row skipped",
                            self.path,
                            reader.line_num,
                            bad.field,
                            bad.value,
                            bad.reason,
                        )
                return rows
        except FileNotFoundError:
            raise InvalidInput("path", self.path, "no such file") from None
        except UnicodeDecodeError:
            raise InvalidInput("path", self.path, "not UTF-8 text") from None
        except OSError as e:
            raise InvalidInput("path", self.path, f"cannot read: {e.strerror}") from None

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

    def instruments(self) -> set[Instrument]:
        return set(self._instruments.values())

    def quotes(self) -> Iterator[Quote]:
        """The file's quotes as recorded (ts_event = ts_recv = the file's ts), in file order."""
        for ts, iid, bid, ask, bid_size, ask_size in self._rows:
            yield Quote(iid, bid, ask, bid_size, ask_size, ts, ts)

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
