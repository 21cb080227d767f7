"""A local gateway on a free loopback port, backed by a small simulated market running ten times faster than the
wall, for the tests that connect the unmodified ib_async client to it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from decimal import Decimal

from alluse.brokers.ibkr.gateway.config import GatewayConfig
from alluse.brokers.ibkr.gateway.exchange import Exchange
from alluse.brokers.ibkr.gateway.server import Gateway
from alluse.brokers.ibkr.gateway.wire import FrameReader, frame, handshake
from alluse.brokers.paper import PaperVenueConfig
from alluse.common.clock import LiveClock
from alluse.marketdata.config import MarketConfig, Underlying
from alluse.model import Quote

ACCOUNT = "DU0001"


def small_market() -> MarketConfig:
    underlyings = {"TSLA": Underlying(spot=250.0, vol=0.55), "NVDA": Underlying(spot=135.0, vol=0.45)}
    return MarketConfig(underlyings=underlyings, step_interval_s=1.0, weekly_expiries=2, strikes_each_side=4,
                        calendar="24/7")  # wall-clock tests: they run on any day at any hour  # fmt: skip


async def start_gateway(
    config: GatewayConfig | None = None, venue: PaperVenueConfig | None = None, instance: int = 0
) -> Gateway:
    clock = LiveClock(asyncio.get_running_loop(), speed=10.0)
    exchange = Exchange(clock, small_market(), venue or PaperVenueConfig(), {ACCOUNT: Decimal(1_000_000)}, seed=7,
                        instance=instance)  # fmt: skip
    gateway = Gateway(exchange, config)
    await gateway.start()
    return gateway


def trade_through(gateway: Gateway, instrument_id: str, limit_price: float | None) -> None:
    """The market moves to a resting buy's limit (an ask at it), as it may while a client is away."""
    assert limit_price is not None
    now = gateway.clock.now_ns()
    gateway.exchange.engine.on_quote(Quote(instrument_id, limit_price - 0.05, limit_price, 100, 100, now, now))


async def wait_for(condition: Callable[[], object], timeout_s: float = 10.0, what: str = "") -> None:
    """Poll until `condition()` holds; fail naming `what` after `timeout_s` wall seconds."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await asyncio.sleep(0.01)


class RawClient:
    """A bare TWS-protocol client, for what ib_async would never send (a burst past IB's pacing, a reused id)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.frames = FrameReader()
        self.received: list[list[str]] = []

    @classmethod
    async def connect(cls, port: int, client_id: int, version: int = 178) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = cls(reader, writer)
        writer.write(handshake(157, version))
        client.send(71, 2, client_id, "")  # startApi
        await client.wait(lambda m: m[0] == "15")  # managedAccounts: the session is up
        return client

    def send(self, *fields: object) -> None:
        self.writer.write(frame(fields))

    async def wait(self, match: Callable[[list[str]], bool], timeout_s: float = 5.0) -> list[str]:
        """The first message (received so far or next) that `match`es; AssertionError on timeout or EOF."""
        deadline = time.monotonic() + timeout_s
        while True:
            for message in self.received:
                if match(message):
                    return message
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no matching message; received {self.received[-5:]}")
            data = await asyncio.wait_for(self.reader.read(65536), remaining)
            if not data:
                raise ConnectionResetError(f"closed by the gateway; received {self.received[-5:]}")
            self.received += self.frames.feed(data)

    async def closed(self, timeout_s: float = 5.0) -> bool:
        """Reads until the gateway closes the socket (True) or the time is up (False)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                data = await asyncio.wait_for(self.reader.read(65536), deadline - time.monotonic())
            except TimeoutError:
                return False
            except ConnectionResetError:
                return True
            if not data:
                return True
            self.received += self.frames.feed(data)
        return False

    def errors(self) -> list[tuple[int, int]]:
        return [(int(m[2]), int(m[3])) for m in self.received if m[0] == "4"]

    def close(self) -> None:
        self.writer.close()
