"""Market data across processes: the active gateway publishes every quote once, per underlying, on Redis; each
agent reads the underlyings its accounts trade and feeds them to its own data engine.

Per underlying there is a stream (`alluse:{login}:md:{underlying}`, trimmed to about `maxlen` entries) and a
hash of the last quote per instrument, so an agent that starts in a quiet market still knows every price the
gateway has seen. Quotes are observations, not records: a batch Redis refuses is counted and dropped, and the
next tick replaces it. The payload is JSON (no code is ever loaded from the bus)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import redis.asyncio as aioredis

from alluse.cluster.tasks import cancel_until_done
from alluse.common.clock import Clock
from alluse.common.metrics import Metric, counter
from alluse.marketdata import QuoteSink
from alluse.model import Equity, Instrument, Option, Quote
from alluse.model.registry import InstrumentRegistry

log = logging.getLogger("alluse.cluster.quotes")

QUOTES_MAXLEN = 20_000  # entries per underlying's stream (one entry is a batch)


def quotes_stream(login: str, underlying: str) -> str:
    return f"alluse:{login}:md:{underlying}"


def last_quotes_key(login: str, underlying: str) -> str:
    return f"alluse:{login}:md:{underlying}:last"


def underlying_of(instrument: Instrument) -> str:
    return instrument.underlying if isinstance(instrument, Option) else instrument.id


def encode(quotes: Iterable[Quote]) -> bytes:
    return json.dumps([[q.instrument_id, q.bid, q.ask, q.bid_size, q.ask_size, q.ts_event] for q in quotes],
                      separators=(",", ":")).encode()  # fmt: skip


def decode(payload: bytes, ts_recv: int) -> list[Quote]:
    """The quotes of one entry; a malformed one is skipped whole (the data engine checks values)."""
    out = []
    for row in json.loads(payload):
        if isinstance(row, list) and len(row) == 6 and isinstance(row[0], str):
            iid, bid, ask, bid_size, ask_size, ts = row
            out.append(Quote(iid, bid, ask, bid_size, ask_size, ts, ts_recv))
    return out


class QuotePublisher:
    """The gateway's side: a synchronous sink (what the broker's market data pushes into) whose batches are
    written to Redis by one task, so the market-data callback never waits on the network."""

    def __init__(self, redis: aioredis.Redis, login: str, registry: InstrumentRegistry,
                 maxlen: int = QUOTES_MAXLEN) -> None:  # fmt: skip
        self.redis = redis
        self.login = login
        self.registry = registry
        self.maxlen = maxlen
        self._batches: dict[str, list[Quote]] = defaultdict(list)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.published = 0
        self.dropped = 0

    def __call__(self, quotes: list[Quote]) -> None:
        for q in quotes:
            self._batches[underlying_of(self.registry.resolve(q.instrument_id))].append(q)
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="quote publisher")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_until_done([self._task])

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batches, self._batches = self._batches, defaultdict(list)
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for underlying, quotes in batches.items():
                        pipe.xadd(quotes_stream(self.login, underlying), {b"q": encode(quotes)},
                                  maxlen=self.maxlen, approximate=True)  # fmt: skip
                        last = {q.instrument_id: encode((q,)) for q in quotes}
                        pipe.hset(last_quotes_key(self.login, underlying), mapping=last)  # type: ignore[arg-type]
                    await pipe.execute()
                self.published += sum(len(q) for q in batches.values())
            except (OSError, aioredis.RedisError) as exc:
                self.dropped += sum(len(q) for q in batches.values())
                log.warning("quotes not published (%s: %s)", type(exc).__name__, exc)

    def metrics(self) -> list[Metric]:
        return [counter("alluse_cluster_quotes_published_total", "Quotes the gateway published on Redis",
                        self.published),
                counter("alluse_cluster_quotes_dropped_total", "Quotes Redis refused (the next tick replaces them)",
                        self.dropped)]  # fmt: skip


class RedisQuoteFeed:
    """The agent's side, a `QuoteFeed` (marketdata/replay.py): the last quote of every instrument first, then
    the streams as they grow. Instruments are registered on sight from their symbols, as the journal's are."""

    def __init__(self, redis: aioredis.Redis, login: str, underlyings: Iterable[str], clock: Clock) -> None:
        self.redis = redis
        self.login = login
        self.underlyings = sorted(set(underlyings))
        self.registry = InstrumentRegistry()  # the data engine's own, set before `start` (app/system.py builds it)
        self.clock = clock
        self._task: asyncio.Task[None] | None = None
        self._stopped = False
        self.received = 0
        self.read_errors = 0

    @property
    def done(self) -> bool:
        return False  # a live feed never ends by itself

    def instruments(self) -> set[Instrument]:
        """The underlyings, known from the start; their options are registered on sight from their symbols."""
        return {Equity(u) for u in self.underlyings}

    def start(self, sink: QuoteSink) -> None:
        self._task = asyncio.create_task(self._run(sink), name="quote feed")

    def stop(self) -> None:
        """Synchronous, as a QuoteFeed's is: cancelled, and its loop also ends at its next round (a cancellation
        can be lost inside the driver's waits), so it never feeds a system that has stopped."""
        self._stopped = True
        if self._task is not None:
            self._task.cancel()

    def _deliver(self, sink: QuoteSink, payloads: Iterable[bytes]) -> None:
        now = self.clock.now_ns()
        for payload in payloads:
            quotes = decode(payload, now)
            for q in quotes:
                self.registry.resolve(q.instrument_id)
            self.received += len(quotes)
            sink(quotes)

    async def _run(self, sink: QuoteSink) -> None:
        positions: dict[str, bytes] = {}  # stream -> the last entry read (redis-py's replies are typed loosely)
        while not self._stopped:
            try:
                if not positions:  # at the start, and after Redis went away: the last quotes, then the streams
                    for u in self.underlyings:
                        key = quotes_stream(self.login, u)
                        newest: Any = await self.redis.xrevrange(key, count=1)
                        positions[key] = newest[0][0] if newest else b"0-0"
                        last: Any = await self.redis.hgetall(last_quotes_key(self.login, u))
                        self._deliver(sink, last.values())
                found: Any = await self.redis.xread(positions, count=200, block=200)  # type: ignore[arg-type]
                if self._stopped:
                    return
                for stream, entries in found or ():
                    for entry_id, fields in entries:
                        positions[stream.decode() if isinstance(stream, bytes) else stream] = entry_id
                        self._deliver(sink, (fields[b"q"],))
            except asyncio.CancelledError:
                raise
            except (OSError, aioredis.RedisError) as exc:
                self.read_errors += 1
                positions = {}
                log.warning("quote feed: Redis unreachable (%s); reading again in 1 s", type(exc).__name__)
                await asyncio.sleep(1.0)

    def metrics(self) -> list[Metric]:
        return [counter("alluse_cluster_quotes_received_total", "Quotes this agent read from Redis", self.received),
                counter("alluse_cluster_quote_read_errors_total", "Times this agent's quote reads failed",
                        self.read_errors)]  # fmt: skip
