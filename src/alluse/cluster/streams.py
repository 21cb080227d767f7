"""Redis Streams, the cluster's bus: a work queue for order commands (a consumer group: each command goes to
one gateway, stays pending until acknowledged, and a crashed consumer's pending commands are reclaimed with
XAUTOCLAIM) and topics for events and market data (every reader sees every entry; trimmed by length).

The bus carries notices, never the truth: an order command names a client order id whose row PostgreSQL
already holds (cluster/records.py), so a command delivered twice sends nothing twice and a Redis that restarted
empty loses nothing a gateway cannot find again in `records.unsent`."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

log = logging.getLogger("alluse.cluster.streams")

PAYLOAD = b"p"  # the one field of every entry


@dataclass(frozen=True, slots=True)
class Entry:
    id: bytes
    payload: bytes


def _entries(raw: Any) -> list[Entry]:
    """From a reply's [(id, {field: value}), ...]; redis-py types its replies as the union of every protocol's
    shapes, so they are taken as Any here, once."""
    return [Entry(entry_id, fields[PAYLOAD]) for entry_id, fields in raw if fields and PAYLOAD in fields]


def _first_stream(raw: Any) -> list[Entry]:
    """The entries of an XREAD/XREADGROUP reply over one stream ([] when the wait ran out)."""
    return _entries(raw[0][1]) if raw else []


async def _add(client: aioredis.Redis, stream: str, payload: bytes, maxlen: int) -> bytes:
    entry_id: Any = await client.xadd(stream, {PAYLOAD: payload}, maxlen=maxlen, approximate=True)
    return bytes(entry_id)


class WorkQueue:
    """One stream, one consumer group: each entry is delivered to one consumer and redelivered (reclaimed) if
    that consumer dies before acknowledging it."""

    def __init__(self, client: aioredis.Redis, stream: str, group: str, maxlen: int = 1_000_000) -> None:
        self.client, self.stream, self.group, self.maxlen = client, stream, group, maxlen

    async def ensure_group(self) -> None:
        """Create the group (from the stream's start: commands written before any gateway ran are not skipped)."""
        try:
            await self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def put(self, payload: bytes) -> bytes:
        return await _add(self.client, self.stream, payload, self.maxlen)

    async def take(self, consumer: str, count: int = 100, block_ms: int | None = 100) -> list[Entry]:
        """New entries for `consumer` (now pending on it until acknowledged)."""
        return _first_stream(
            await self.client.xreadgroup(self.group, consumer, {self.stream: ">"}, count=count, block=block_ms)
        )

    async def ack(self, *ids: bytes) -> int:
        return int(await self.client.xack(self.stream, self.group, *ids)) if ids else 0

    async def reclaim(self, consumer: str, min_idle_ms: int, count: int = 1000) -> list[Entry]:
        """Every entry pending on any consumer for at least `min_idle_ms`, now pending on `consumer`: what a
        crashed gateway had taken and not acknowledged (0 takes all: a new lease holder's first step)."""
        claimed: list[Entry] = []
        cursor: Any = "0-0"
        while True:
            reply: Any = await self.client.xautoclaim(
                self.stream, self.group, consumer, min_idle_ms, cursor, count=count
            )
            cursor, raw = reply[0], reply[1]
            claimed.extend(_entries(raw))
            if cursor in (b"0-0", "0-0"):
                return claimed

    async def pending(self) -> int:
        info = await self.client.xpending(self.stream, self.group)
        return int(info["pending"])


class Topic:
    """One stream every reader reads whole from where it left off; trimmed to about `maxlen` entries (market
    data keeps the recent past only)."""

    def __init__(self, client: aioredis.Redis, stream: str, maxlen: int) -> None:
        self.client, self.stream, self.maxlen = client, stream, maxlen

    async def publish(self, payload: bytes) -> bytes:
        return await _add(self.client, self.stream, payload, self.maxlen)

    async def read(self, after: bytes | str = "0-0", count: int = 1000, block_ms: int | None = 100) -> list[Entry]:
        """Entries after `after` ("$" for only those written from now on)."""
        return _first_stream(await self.client.xread({self.stream: after}, count=count, block=block_ms))
