"""The TWS socket protocol's framing: 4-byte big-endian length, then NUL-terminated text fields.

A client opens with `API\\0` and a framed version range ("v157..178"); everything after that, both
ways, is a frame of fields. Values are written as TWS writes them: booleans as 1/0, unset doubles
and integers as their sentinels (IB's "no value"), None as an empty field.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from decimal import Decimal

HEADER = struct.Struct(">I")
API_SIGN = b"API\0"
MAX_FRAME = 16 * 1024 * 1024  # TWS refuses larger; a length past this is a broken or hostile peer

UNSET_DOUBLE = 1.7976931348623157e308  # IB's "no value" for a double
UNSET_INTEGER = 2**31 - 1  # ... and for an int
UNSET_DOUBLE_TEXT = "1.7976931348623157E308"


class ProtocolError(Exception):
    """The peer broke the framing or sent a field that does not parse; the connection is closed."""


def field_text(value: object) -> str:
    kind = type(value)
    if kind is str:
        return value  # type: ignore[return-value]
    if kind is int:
        return str(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return UNSET_DOUBLE_TEXT if value == UNSET_DOUBLE else _float(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def _float(value: float) -> str:
    """TWS writes whole doubles without a fraction ("100"), others in their shortest form ("6.22")."""
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def frame(fields: Iterable[object]) -> bytes:
    body = "".join(field_text(f) + "\0" for f in fields).encode()
    return HEADER.pack(len(body)) + body


def handshake(min_version: int, max_version: int) -> bytes:
    """What a client sends first (the server side reads it with `FrameReader.read_handshake`)."""
    text = f"v{min_version}..{max_version}".encode()
    return API_SIGN + HEADER.pack(len(text)) + text


def parse_version_range(text: str) -> tuple[int, int]:
    """"v157..178" (optionally followed by connect options) -> (157, 178)."""
    head = text.split(" ", 1)[0]
    if not head.startswith("v"):
        raise ProtocolError(f"handshake: version range {text!r} does not start with 'v'")
    low, sep, high = head[1:].partition("..")
    try:
        return (int(low), int(high)) if sep else (int(low), int(low))
    except ValueError:
        raise ProtocolError(f"handshake: version range {text!r} is not two numbers") from None


class FrameReader:
    """Splits a byte stream into messages (lists of text fields); keeps a partial frame for the next read."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[list[str]]:
        buffer = self._buffer
        buffer += data
        messages: list[list[str]] = []
        start = 0
        while len(buffer) - start >= 4:
            (size,) = HEADER.unpack_from(buffer, start)
            if size > MAX_FRAME:
                raise ProtocolError(f"frame length {size} exceeds {MAX_FRAME}")
            end = start + 4 + size
            if end > len(buffer):
                break
            text = bytes(buffer[start + 4 : end]).decode(errors="replace")
            fields = text.split("\0")
            if fields and fields[-1] == "":
                fields.pop()
            messages.append(fields)
            start = end
        del buffer[:start]
        return messages

    def read_handshake(self, data: bytes) -> tuple[tuple[int, int] | None, list[list[str]]]:
        """The first bytes of a connection: `API\\0` and the framed version range, then any frames after it."""
        self._buffer += data
        if len(self._buffer) < len(API_SIGN) + 4:
            return None, []
        if bytes(self._buffer[: len(API_SIGN)]) != API_SIGN:
            raise ProtocolError(f"handshake: expected {API_SIGN!r}, got {bytes(self._buffer[:4])!r}")
        del self._buffer[: len(API_SIGN)]
        first = self.feed(b"")
        if not first:  # the range frame is not complete yet: put the sign back for the next read
            self._buffer[:0] = API_SIGN
            return None, []
        return parse_version_range(first[0][0] if first[0] else ""), first[1:]
