"""The journal's intent log: a file that makes an intent durable before the broker sees it.

An SQLite commit for every intent would put a whole commit on every order's path (docs/performance.md,
"The journal: intent log and group commit"). So the journal puts each intent here, defers its SQLite
statements to the next group commit, and starts the file over once a commit has carried them. A
record's sequence number (LSN) is stored in the same SQLite transaction, so after a crash the records
past it are exactly the intents SQLite is missing.

The file is a fixed-size shared memory map (CAPACITY, its blocks reserved at open), so an append is
a copy into the page cache: no system call, no block allocation. Like a WAL commit with
synchronous=NORMAL it survives a crash of the process (the kernel owns the dirty pages), not a power
loss; with `fsync` each append is also written through (msync).

The file starts with a preamble naming the journal it belongs to (a log left beside a journal.db
that has since been replaced is set aside, not replayed). Frames follow it:
`<length u32><crc32 u32><payload>`; the checksum is seeded with the owner's id, so a frame another
journal left in the file never reads as this one's. Reading stops at the first frame that is empty, torn (its
checksum fails) or not newer than the one before: starting over only resets the write position and
zeroes the first frame's header, so what lies past the newest record is older records, all
committed already. The file is locked (flock) by the one process
that appends to it: a second writer on the same journal (`alluse halt` while `alluse run` works)
cannot take the lock and commits its intents straight to SQLite instead, and never replays another
process's log.

A payload is a record of format 2 (little-endian): `<format u8><lsn i64><fields u16><numbers u16>`,
`numbers` i64 values, then UTF-8 text: one tag character per field (`i` an int, `s` a text, `N` None,
`f` a float) followed by the text fields end to end. An int field's number is its value, a text field's
its length in characters, a float field's its IEEE 754 bits; packing every number in one call keeps an
append near what pickling cost (docs/performance.md). The reader only unpacks and checks, it never
evaluates anything: a whole frame that does not decode exactly (another format, an unknown tag, a length
past the end, bytes left over, invalid UTF-8) raises IntentLogCorrupt, naming the file. Format 1
pickled its records, and unpickling a file of the data directory can run code: a format-1 log is never
read (the journal starts it over if it holds nothing, else refuses to open; see `holds_format1_records`).
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Final

# Final: compiled code reads these as constants rather than looking each up in the module (0.3 µs an append)
FORMAT: Final = 2
_MAGIC = b"ALLUSE-INTENTS\x00" + bytes([FORMAT])  # the preamble (see above): this, then the owner's journal_id
_FORMAT1_MAGIC = b"ALLUSE-INTENTS\x00\x01"  # pickled records: never read
_OWNER_SIZE = 32
PREAMBLE = len(_MAGIC) + _OWNER_SIZE
_HEADER: Final = struct.Struct("<II")  # a frame's: the payload's length and checksum
_RECORD: Final = struct.Struct("<BqHH")  # a payload's: format, lsn, fields, numbers
_TEXT: Final = "s"
_INT: Final = "i"
_NONE: Final = "N"
_FLOAT: Final = "f"
_DOUBLE: Final = struct.Struct("<d")
_INT64: Final = struct.Struct("<q")
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
# Room for the intents between two group commits: the journal commits past MAX_PENDING statements
# (about 2,000 intents of ~250 bytes, 500 KB) and whenever an append finds the file full.
CAPACITY = 4 << 20


class IntentLogBusy(Exception):
    """Another process holds the log (it is running on this journal)."""


class IntentLogFull(Exception):
    """No room for the record: commit what the log holds, start it over, and append again."""


class IntentLogCorrupt(Exception):
    """A whole frame (its checksum holds) that is not a record this version reads: refused, not skipped,
    as the records after it may be intents that were sent."""


@dataclass(slots=True, frozen=True)
class IntentRecord:
    lsn: int
    fields: tuple  # what the journal logged: None, int, str and float values (the log does not read them)


def log_path(journal_path: Path) -> Path:
    return journal_path.with_name(journal_path.name + "-intents")


_LAYOUTS: Final[dict[int, struct.Struct]] = {}  # a record's fixed part for each count of numbers


def _layout(numbers: int) -> struct.Struct:
    layout = _LAYOUTS.get(numbers)
    if layout is None:
        layout = _LAYOUTS[numbers] = struct.Struct(f"<BqHH{numbers}q")
    return layout


def encode_record(lsn: int, fields: tuple) -> bytes:
    """A record's payload (see the module docstring). Raises ValueError, naming the value, for a field
    it cannot hold: SQLite would refuse it at the group commit, after the broker has the order."""
    tags: list[str] = []
    numbers: list[int] = []
    texts: list[str] = []
    for value in fields:
        if type(value) is str:
            tags.append(_TEXT)
            numbers.append(len(value))
            texts.append(value)
        elif type(value) is int:
            tags.append(_INT)
            numbers.append(value)
        elif value is None:
            tags.append(_NONE)
        elif type(value) is float:
            tags.append(_FLOAT)
            numbers.append(_INT64.unpack(_DOUBLE.pack(value))[0])
        else:
            kind = type(value).__name__
            raise ValueError(f"intent field {value!r}: a record holds None, int, str and float, not {kind}")
    tags += texts
    try:
        return _layout(len(numbers)).pack(FORMAT, lsn, len(fields), len(numbers), *numbers) + "".join(tags).encode()
    except (struct.error, UnicodeEncodeError):
        raise ValueError(_refusal(lsn, fields)) from None


def _refusal(lsn: int, fields: tuple) -> str:
    """Why `encode_record` could not pack the record (off the hot path: only once it failed)."""
    for value in (lsn, *fields):
        if type(value) is int and not _INT64_MIN <= value <= _INT64_MAX:
            return f"intent field {value!r}: outside the 64-bit range SQLite stores"
        if type(value) is str and not _encodable(value):
            return f"intent field {value!r}: not valid Unicode text (a lone surrogate)"
    return f"intent record of {len(fields)} fields: at most 65535"


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def decode_record(payload: bytes) -> IntentRecord:
    """The record in `payload`, read exactly: raises ValueError saying what does not fit the format."""
    if len(payload) < _RECORD.size:
        raise ValueError(f"{len(payload)} bytes, shorter than a record's header")
    form, lsn, count, n = _RECORD.unpack_from(payload)
    if form != FORMAT:
        raise ValueError(f"record format {form}, this version reads format {FORMAT}")
    start = _RECORD.size + 8 * n
    if start > len(payload):
        raise ValueError(f"{n} numbers run past the end of the record")
    numbers = struct.unpack_from(f"<{n}q", payload, _RECORD.size)
    text = payload[start:].decode("utf-8")
    if len(text) < count:
        raise ValueError(f"{count} field tags run past the end of the record")
    fields: list[object] = []
    pos, used = count, 0
    for tag in text[:count]:
        if tag == _NONE:
            fields.append(None)
            continue
        if tag not in (_TEXT, _INT, _FLOAT):
            raise ValueError(f"unknown field tag {tag!r}")
        if used == n:
            raise ValueError(f"more numbered fields than its {n} numbers")
        number = numbers[used]
        used += 1
        if tag == _INT:
            fields.append(number)
        elif tag == _FLOAT:
            fields.append(_DOUBLE.unpack(_INT64.pack(number))[0])
        elif number < 0 or pos + number > len(text):
            raise ValueError(f"a text of {number} characters runs past the end of the record")
        else:
            fields.append(text[pos : pos + number])
            pos += number
    if used != n or pos != len(text):
        raise ValueError("bytes left over after the last field")
    return IntentRecord(lsn, tuple(fields))


def _owner_of(data: bytes) -> str | None:
    if data[: len(_MAGIC)] != _MAGIC:
        return None
    return data[len(_MAGIC) : PREAMBLE].decode("ascii", "replace")


def _seed(owner: str) -> int:
    return zlib.crc32(owner.encode("ascii", "replace"))


def _whole_frame(data: bytes, pos: int, seed: int) -> bytes | None:
    """The payload of the frame at `pos`, or None if it is empty or torn."""
    if pos + _HEADER.size > len(data):
        return None
    length, crc = _HEADER.unpack_from(data, pos)
    payload = data[pos + _HEADER.size : pos + _HEADER.size + length]
    if not length or len(payload) != length or zlib.crc32(payload, seed) != crc:
        return None
    return payload


def read_records(path: Path, owner: str | None = None) -> list[IntentRecord]:
    """The whole records of the file, oldest first; reading stops at the first torn or damaged frame.
    With `owner`, a file that belongs to another journal (or to none) holds no records. Raises
    IntentLogCorrupt for a whole frame that is not a record of this format."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    found = _owner_of(data)
    if found is None or (owner is not None and found != owner):
        return []
    seed = _seed(found)
    records: list[IntentRecord] = []
    pos = PREAMBLE
    while (payload := _whole_frame(data, pos, seed)) is not None:
        try:
            record = decode_record(payload)
        except ValueError as exc:
            raise IntentLogCorrupt(f"{path}: the frame at byte {pos} is not an intent record ({exc})") from None
        if records and record.lsn <= records[-1].lsn:  # an older, committed record past the newest
            break
        records.append(record)
        pos += _HEADER.size + len(payload)
    return records


class IntentLog:
    """The appending side. Not thread-safe: the journal's one writer thread appends."""

    def __init__(self, path: Path, *, fsync: bool) -> None:
        self.path = path
        self._fsync = fsync
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise IntentLogBusy(f"{path} is held by another process") from None
        try:
            os.posix_fallocate(self._fd, 0, CAPACITY)  # blocks now: a full disk fails here, not in a page fault
            self._map = mmap.mmap(self._fd, CAPACITY)
        except OSError:
            os.close(self._fd)
            raise
        self._pos = PREAMBLE  # the owner replays what the file holds, then calls start_over()
        owner = self.owner
        self._seed = _seed(owner) if owner is not None else 0

    def append(self, lsn: int, fields: tuple) -> None:
        """Durable against a process crash when it returns (with fsync, against a power loss too).
        Raises IntentLogFull, having written nothing, when the record does not fit, and ValueError
        (see encode_record) for a field it cannot hold."""
        payload = encode_record(lsn, fields)
        start, end = self._pos, self._pos + _HEADER.size + len(payload)
        if end > CAPACITY:
            raise IntentLogFull(f"{self.path}: {end - start} bytes do not fit after {start}")
        self._map[start + _HEADER.size : end] = payload
        _HEADER.pack_into(self._map, start, len(payload), zlib.crc32(payload, self._seed))
        if self._fsync:
            page = start - start % mmap.PAGESIZE
            self._map.flush(page, end - page)
        self._pos = end

    @property
    def owner(self) -> str | None:
        return _owner_of(self._map[:PREAMBLE])

    @property
    def format(self) -> int | None:
        """The format the preamble names: FORMAT, 1 (pickled records, never unpickled) or None (not a log)."""
        magic = self._map[: len(_MAGIC)]
        return FORMAT if magic == _MAGIC else 1 if magic == _FORMAT1_MAGIC else None

    def holds_format1_records(self) -> bool:
        """Whether a format-1 log's first frame is whole, read without unpickling anything: its release
        cleared that frame's header once a commit carried the records, so a whole one may be intents
        it never committed."""
        seed = _seed(self._map[len(_FORMAT1_MAGIC) : PREAMBLE].decode("ascii", "replace"))
        (length,) = struct.unpack_from("<I", self._map, PREAMBLE)
        return _whole_frame(self._map[: PREAMBLE + _HEADER.size + length], PREAMBLE, seed) is not None

    def start_over(self, owner: str) -> None:
        """Claim the file for the journal `owner` (a 32-character id) and empty it."""
        if len(owner) != _OWNER_SIZE or not owner.isascii():
            raise ValueError(f"owner={owner!r}: must be {_OWNER_SIZE} ASCII characters")
        if self.owner != owner:  # a new owner (or format): nothing of the last one's stays behind
            self._map[PREAMBLE:] = bytes(CAPACITY - PREAMBLE)
        self._map[:PREAMBLE] = _MAGIC + owner.encode("ascii")
        self._seed = _seed(owner)
        self.clear()

    def holds_anything(self) -> bool:
        """Any byte written past the preamble (a file never claimed, or of an older format, may hold data)."""
        return self._map[PREAMBLE:].count(0) != CAPACITY - PREAMBLE

    def clear(self) -> None:
        """Everything in the file is committed to SQLite: start it over."""
        self._map[PREAMBLE : PREAMBLE + _HEADER.size] = bytes(_HEADER.size)
        self._pos = PREAMBLE

    def close(self) -> None:
        self._map.close()
        os.close(self._fd)  # releases the lock
