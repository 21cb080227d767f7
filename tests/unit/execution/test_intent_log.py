"""The intent log's record format: every value the journal logs comes back exactly, and a file that is
damaged, foreign or of the pickled format 1 is refused without anything in it being run."""

import pickle
import sqlite3
import struct
import zlib
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alluse.execution import fsm
from alluse.execution.intent_log import (
    FORMAT,
    PREAMBLE,
    IntentLog,
    IntentLogCorrupt,
    IntentRecord,
    decode_record,
    encode_record,
    log_path,
    read_records,
)
from alluse.execution.journal import Journal, JournalError, _order_row
from alluse.model import Order, Side

OWNER = "0123456789abcdef0123456789abcdef"
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1


def same(a: tuple, b: tuple) -> bool:
    """Equal field by field, floats by their bits (so -0.0 and NaN count)."""
    key = [(type(v), struct.pack("<d", v) if type(v) is float else v) for v in a]
    return key == [(type(v), struct.pack("<d", v) if type(v) is float else v) for v in b]


def new_log(path: Path) -> IntentLog:
    log = IntentLog(path, fsync=False)
    log.start_over(OWNER)
    return log


def write_frame(path: Path, pos: int, payload: bytes, owner: str = OWNER) -> None:
    """A whole frame (its checksum holds) with any payload: what only a bug or a foreign writer makes."""
    with path.open("r+b") as fh:
        fh.seek(pos)
        fh.write(struct.pack("<II", len(payload), zlib.crc32(payload, zlib.crc32(owner.encode()))) + payload)


# ---------------------------------------------------------------------------- round trip

EVERY_KIND = (
    None,
    0,
    -1,
    INT64_MIN,
    INT64_MAX,
    "",
    "plain",
    "ünïcødé 注文 📈",
    "a\x00b\nc",  # NUL and a newline are text like any other
    str(Decimal("-0.000001")),
    str(Decimal("123456789012345678901234567890.123456789")),
    1.5,
    -0.0,
    float("inf"),
    float("nan"),
)


def test_every_kind_of_field_round_trips_in_memory_and_through_the_file(tmp_path):
    assert same(decode_record(encode_record(7, EVERY_KIND)).fields, EVERY_KIND)
    assert decode_record(encode_record(INT64_MAX, ())) == IntentRecord(INT64_MAX, ())
    log = new_log(tmp_path / "x-intents")
    log.append(1, EVERY_KIND)
    log.append(2, EVERY_KIND[::-1])
    log.close()
    first, second = read_records(tmp_path / "x-intents", OWNER)
    assert (first.lsn, second.lsn) == (1, 2)
    assert same(first.fields, EVERY_KIND) and same(second.fields, EVERY_KIND[::-1])


def test_a_journal_order_row_round_trips(tmp_path):
    order = Order("C1", "Gen-Acc", "AAPL  250117P00180000", Side.SELL, 3, limit_price=Decimal("2.35"), tag="wheel")
    fsm.apply(order, fsm.Trigger.SUBMIT, 5)
    fields = (5, "SUBMIT", "détail", *_order_row(order))
    assert None in fields and Decimal(fields[3 + 6]) == Decimal("2.35")
    assert decode_record(encode_record(1, fields)) == IntentRecord(1, fields)


field_values = st.one_of(
    st.none(),
    st.integers(INT64_MIN, INT64_MAX),
    st.text(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
)


@settings(max_examples=300, deadline=None)
@given(lsn=st.integers(INT64_MIN, INT64_MAX), fields=st.lists(field_values, max_size=40).map(tuple))
def test_decode_is_the_inverse_of_encode(lsn, fields):
    record = decode_record(encode_record(lsn, fields))
    assert record.lsn == lsn and same(record.fields, fields)


@settings(max_examples=500, deadline=None)
@given(payload=st.binary(max_size=200), valid=st.lists(field_values, max_size=8).map(tuple), cut=st.integers(0, 400))
def test_the_reader_refuses_with_a_value_error_or_reads_and_nothing_else(payload, valid, cut):
    """Random bytes, and a valid record cut short or with bytes added: a ValueError saying why, never
    another exception (the journal turns ValueError into its one-line refusal)."""
    encoded = encode_record(1, valid)
    for candidate in (payload, encoded[:cut], encoded + payload, bytes([FORMAT]) + payload):
        try:
            decode_record(candidate)
        except ValueError:
            pass


# ---------------------------------------------------------------------------- refused at append


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "not bool"),
        (Decimal("1.5"), "not Decimal"),
        (("nested",), "not tuple"),
        (b"bytes", "not bytes"),
        (INT64_MAX + 1, "outside the 64-bit range"),
        (INT64_MIN - 1, "outside the 64-bit range"),
        ("lone \ud800 surrogate", "not valid Unicode"),
    ],
)
def test_a_value_sqlite_would_not_take_is_refused_and_nothing_is_written(tmp_path, value, message):
    log = new_log(tmp_path / "x-intents")
    log.append(1, ("kept",))
    before = (tmp_path / "x-intents").read_bytes()
    with pytest.raises(ValueError, match=message):
        log.append(2, ("a", value, "b"))
    assert (tmp_path / "x-intents").read_bytes() == before
    log.append(2, ("next",))  # and the log goes on where it was
    log.close()
    assert [r.fields for r in read_records(tmp_path / "x-intents", OWNER)] == [("kept",), ("next",)]


# ---------------------------------------------------------------------------- damaged records


def three_records(path: Path) -> list[int]:
    """A log of three records; returns where each frame starts, and where the last one ends."""
    log = new_log(path)
    starts = []
    for lsn in (1, 2, 3):
        starts.append(log._pos)
        log.append(lsn, (lsn, "SUBMIT", "ünïcødé", None))
    starts.append(log._pos)
    log.close()
    return starts


def test_a_flipped_byte_anywhere_in_a_frame_stops_reading_there(tmp_path):
    path = tmp_path / "x-intents"
    starts = three_records(path)
    good = path.read_bytes()
    for pos in range(starts[1], starts[2]):  # every byte of the second frame, header and payload
        damaged = bytearray(good)
        damaged[pos] ^= 0x01
        path.write_bytes(damaged)
        assert [r.lsn for r in read_records(path, OWNER)] == [1], pos


def test_a_truncated_frame_is_torn_and_the_whole_ones_before_it_are_kept(tmp_path):
    path = tmp_path / "x-intents"
    starts = three_records(path)
    good = path.read_bytes()
    for end in range(starts[2], starts[3]):
        path.write_bytes(good[:end])
        assert [r.lsn for r in read_records(path, OWNER)] == [1, 2], end


def _record(form: int, lsn: int, tags: str, numbers: tuple[int, ...], text: str = "") -> bytes:
    return struct.pack(f"<BqHH{len(numbers)}q", form, lsn, len(tags), len(numbers), *numbers) + (tags + text).encode()


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (_record(FORMAT, 3, "sx", (2,), "ab"), "unknown field tag 'x'"),
        (_record(FORMAT + 1, 3, "s", (2,), "ab"), f"record format {FORMAT + 1}, this version reads format {FORMAT}"),
        (_record(FORMAT, 3, "s", (5,), "ab"), "a text of 5 characters runs past the end"),
        (_record(FORMAT, 3, "s", (-1,), "ab"), "a text of -1 characters"),
        (_record(FORMAT, 3, "s", (2,), "abc"), "bytes left over"),
        (_record(FORMAT, 3, "ss", (2,), "ab"), "more numbered fields than its 1 numbers"),
        (_record(FORMAT, 3, "sss", (1, 1), "ab"), "more numbered fields than its 2 numbers"),
        (struct.pack("<BqHH", FORMAT, 3, 5, 0) + b"NN", "5 field tags run past the end"),
        (_record(FORMAT, 3, "N", (9,)), "bytes left over"),
        (_record(FORMAT, 3, "s", (2,), "ab")[:-1], "a text of 2 characters runs past the end"),  # cut short
        (_record(FORMAT, 3, "s", (2,), "ab")[:-5], "1 numbers run past the end"),
        (_record(FORMAT, 3, "s", (2,)) + b"\xff\xfe", "invalid start byte"),  # not UTF-8
        (b"\x02\x03", "shorter than a record's header"),
    ],
)
def test_a_whole_frame_that_is_not_a_record_refuses_the_journal_naming_the_file(tmp_path, payload, reason):
    path = tmp_path / "j.db"
    Journal(path).close()
    journal_id = read_owner(log_path(path))
    log = IntentLog(log_path(path), fsync=False)
    log.append(1, (1, "SUBMIT", "", *_order_row(Order("C1", "Gen-Acc", "AAPL", Side.BUY, 1, tag="t"))))
    end = log._pos
    log.close()
    write_frame(log_path(path), end, payload, journal_id)
    before = log_path(path).read_bytes()
    with pytest.raises(IntentLogCorrupt, match=reason):
        read_records(log_path(path), journal_id)
    with pytest.raises(JournalError) as refused:
        Journal(path)
    message = str(refused.value)
    assert "\n" not in message and str(log_path(path)) in message and reason in message
    assert "move the file aside" in message
    assert unchanged(log_path(path), before)  # nothing started over, nothing committed
    assert read_orders(path) == []  # the record before the bad one was not committed either


def read_owner(path: Path) -> str:
    return path.read_bytes()[PREAMBLE - 32 : PREAMBLE].decode()


def unchanged(path: Path, before: bytes) -> bool:
    """The file holds what it held, zero-extended to the log's capacity (an open reserves its blocks)."""
    after = path.read_bytes()
    return after[: len(before)] == before and after.count(0, len(before)) == len(after) - len(before)


def read_orders(path: Path) -> list[str]:
    """The orders committed to the journal, as another process reads them."""
    db = sqlite3.connect(path)
    try:
        return [r[0] for r in db.execute("SELECT client_order_id FROM orders ORDER BY rowid")]
    finally:
        db.close()


def test_a_reader_is_refused_by_a_bad_record_too(tmp_path):
    path = tmp_path / "j.db"
    Journal(path).close()
    write_frame(log_path(path), PREAMBLE, _record(FORMAT, 1, "q", ()), read_owner(log_path(path)))
    reader = Journal(path, readonly=True)
    with pytest.raises(JournalError, match="unknown field tag 'q'"):
        reader.load()
    reader.close()


# ---------------------------------------------------------------------------- format 1 (pickle)


class LeavesAMark:
    """What a malicious or merely old pickle can do when it is loaded: here, create a file."""

    def __init__(self, mark: Path) -> None:
        self.mark = mark

    def __reduce__(self):
        return (Path.touch, (self.mark,))


def format1_log(path: Path, owner: str, payloads: list[bytes], *, cleared: bool = False) -> None:
    """A log as the previous release wrote it: its preamble, then frames of pickled (lsn, body)."""
    data = bytearray(b"ALLUSE-INTENTS\x00\x01" + owner.encode())
    seed = zlib.crc32(owner.encode())
    for payload in payloads:
        data += struct.pack("<II", len(payload), zlib.crc32(payload, seed)) + payload
    if cleared:  # what its clear() left once a commit carried the records
        data[PREAMBLE : PREAMBLE + 8] = bytes(8)
    path.write_bytes(bytes(data))


def test_a_format1_log_with_records_is_refused_and_never_unpickled(tmp_path):
    path = tmp_path / "j.db"
    Journal(path).close()
    journal_id = read_owner(log_path(path))
    mark = tmp_path / "unpickled"
    evil = pickle.dumps((1, (5, "SUBMIT", "", LeavesAMark(mark))), protocol=5)
    pickle.loads(evil)
    assert mark.exists()  # the payload does run when unpickled
    mark.unlink()
    format1_log(log_path(path), journal_id, [evil])
    before = log_path(path).read_bytes()
    assert read_records(log_path(path)) == [] and read_records(log_path(path), journal_id) == []
    with pytest.raises(JournalError) as refused:
        Journal(path)
    message = str(refused.value)
    assert "\n" not in message and str(log_path(path)) in message and "format 1" in message
    assert "run that release once" in message and "move the file aside" in message
    assert read_orders(path) == []  # a reader does not read it either
    assert not mark.exists()
    assert unchanged(log_path(path), before)


def test_an_empty_format1_log_is_started_over_without_being_read(tmp_path, caplog):
    path = tmp_path / "j.db"
    Journal(path).close()
    journal_id = read_owner(log_path(path))
    mark = tmp_path / "unpickled"
    stale = pickle.dumps((1, (5, "SUBMIT", "", LeavesAMark(mark))), protocol=5)
    format1_log(log_path(path), journal_id, [stale, stale], cleared=True)  # committed, then cleared
    with caplog.at_level("INFO", logger="alluse.journal"):
        j = Journal(path)
    assert "format 1" in caplog.text and "starting it over" in caplog.text
    assert not mark.exists() and j.replayed == 0
    data = log_path(path).read_bytes()
    assert data[:PREAMBLE] == b"ALLUSE-INTENTS\x00" + bytes([FORMAT]) + journal_id.encode()
    assert data[PREAMBLE:].count(0) == len(data) - PREAMBLE  # the old frames are gone
    j.record_order(Order("C1", "Gen-Acc", "AAPL", Side.BUY, 1, tag="t"), "SUBMIT", 6)
    assert [r.fields[3] for r in read_records(log_path(path), journal_id)] == ["C1"]
    j.close()
    assert read_orders(path) == ["C1"]


def test_a_format1_log_is_not_mistaken_for_another_format(tmp_path):
    """Both preambles have the same length, so format 2 records never start inside a format-1 preamble."""
    path = tmp_path / "x-intents"
    format1_log(path, OWNER, [pickle.dumps((1, ("x",)))])
    log = IntentLog(path, fsync=False)
    assert log.format == 1 and log.owner is None and log.holds_format1_records()
    log.start_over(OWNER)
    assert log.format == FORMAT and log.owner == OWNER
    log.close()
