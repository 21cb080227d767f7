"""Writes quotes in the replay format (docs/replay.md), and records the simulated market with it.

What `ReplayFeed` reads, this writes: the header `ts,symbol,bid,ask,bid_size,ask_size`, one row per
quote, `ts` in integer nanoseconds (exact, and the cheapest to read back), the instrument's id as its
symbol (a ticker, or an option's OCC symbol), prices as the shortest text that reads back as the same
float. A `.gz` name is written gzip-compressed with no name or time in its header, so a seed and a start
give the same bytes on every machine: the committed sample can be regenerated and compared.
"""

from __future__ import annotations

import gzip
import io
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import BinaryIO

from alluse.common.clock import TestClock, ns_to_datetime
from alluse.common.market_hours import Sessions
from alluse.marketdata.config import MarketConfig
from alluse.marketdata.replay import HEADER
from alluse.marketdata.simulated import SimulatedMarket
from alluse.model import Quote
from alluse.model.registry import InstrumentRegistry

log = logging.getLogger("alluse.marketdata.recorder")

DAY_FILE = "{day:%Y-%m-%d}.csv.gz"  # a directory recording's files: one per UTC day, name order = time order


class QuoteWriter:
    """A quote sink that writes what it is given: to `out` (a `.csv` or `.csv.gz` file), or with `per_day`
    to one gzip file per UTC day in the directory `out`. Use it as a context manager, or call `close()`."""

    def __init__(self, out: Path, *, per_day: bool = False) -> None:
        self.out = out
        self.per_day = per_day
        self.rows = 0
        self.files: list[Path] = []
        self._day: date | None = None
        self._raw: BinaryIO | None = None
        self._text: io.TextIOWrapper | None = None
        if per_day:
            out.mkdir(parents=True, exist_ok=True)
        else:
            self._open(out)

    def __enter__(self) -> QuoteWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __call__(self, quotes: list[Quote]) -> None:
        """A `QuoteSink`: a feed can push its batches straight into the writer."""
        self.write(quotes)

    def write(self, quotes: Iterable[Quote]) -> None:
        """Ids are tickers and OCC symbols (letters, digits, '.', spaces): no field needs CSV quoting."""
        for q in quotes:
            if self.per_day:
                day = ns_to_datetime(q.ts_event).date()
                if day != self._day:
                    self._close_file()
                    self._open(self.out / DAY_FILE.format(day=day))
                    self._day = day
            text = self._text
            assert text is not None  # opened above, or in __init__
            text.write(f"{q.ts_event},{q.instrument_id},{q.bid!r},{q.ask!r},{q.bid_size},{q.ask_size}\n")
            self.rows += 1

    def close(self) -> None:
        self._close_file()

    def _open(self, path: Path) -> None:
        raw: BinaryIO = open(path, "wb")  # noqa: SIM115 - closed in _close_file
        binary: BinaryIO = raw
        if path.name.endswith(".gz"):
            # no file name and a zero time in the header: the same quotes give the same bytes
            binary = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0)  # type: ignore[assignment]
        self._raw = raw
        self._text = io.TextIOWrapper(binary, encoding="utf-8", newline="")
        self._text.write(",".join(HEADER) + "\n")
        self.files.append(path)

    def _close_file(self) -> None:
        if self._text is not None:
            self._text.close()  # flushes and closes the gzip stream (which leaves the raw file open)
            self._text = None
        if self._raw is not None:
            self._raw.close()
            self._raw = None


@dataclass(slots=True, frozen=True)
class RecordResult:
    """What a recording holds: for the command's one-line report."""

    rows: int
    files: tuple[Path, ...]
    instruments: int
    first_ns: int | None
    last_ns: int | None


def record_simulated(
    market: MarketConfig, seed: int, start_ns: int, end_ns: int, writer: QuoteWriter, hours: Sessions | None = None
) -> RecordResult:
    """Run the simulated market on a virtual clock from `start_ns` to `end_ns` and write every batch it
    pushes. The market runs on its own timer (a batch every `step_interval_s` while `hours` say it is open;
    without hours, around the clock), only without waiting for the wall: a seed and a start reproduce the
    recording exactly."""
    clock = TestClock(start_ns)
    registry = InstrumentRegistry()
    sim = SimulatedMarket(market, clock, registry, seed=seed, hours=hours)
    seen: set[str] = set()
    first_ns: int | None = None
    last_ns: int | None = None

    def sink(batch: list[Quote]) -> None:
        nonlocal first_ns, last_ns
        if batch:
            seen.update(q.instrument_id for q in batch)
            first_ns = batch[0].ts_event if first_ns is None else first_ns
            last_ns = batch[-1].ts_event
            writer.write(batch)

    sim.start(sink)
    try:
        clock.advance_to(end_ns - 1)  # [start, end): a step due at the end belongs to the next recording
    finally:
        sim.stop()
    log.info("recorded %d quotes of %d instruments in %d simulated steps", writer.rows, len(seen), sim.steps)
    return RecordResult(writer.rows, tuple(writer.files), len(seen), first_ns, last_ns)
