"""The connection supervisor: one ib_async client, kept connected.

It connects with the first free client id of the configured pool (326: that id is in use, the next is
tried), checks the session's health with a request round trip, and after a drop reconnects with
exponential backoff and jitter, forever, until stopped. Farm notices (2103-2158) never tear a session
down; IB's own connectivity loss (1100) is reported as "down" while the socket stays, and its return
(1101, data lost; 1102, data kept) as "up". Its state is exported as metrics.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable

from ib_async import IB

from alluse.brokers.ibkr.config import IbkrConfig
from alluse.common.metrics import Metric, counter

log = logging.getLogger("alluse.brokers.ibkr.connection")

CLIENT_ID_IN_USE = 326


class ConnectFailed(ConnectionError):
    """No client id of the pool could connect: says where it tried and why, in one line."""


class ConnectionSupervisor:
    def __init__(self, ib: IB, config: IbkrConfig, on_up: Callable[[], None], on_down: Callable[[str], None],
                 seed: int = 0) -> None:  # fmt: skip
        self.ib = ib
        self.config = config
        self._on_up = on_up
        self._on_down = on_down
        self._rng = random.Random(seed)
        self.client_id: int | None = None
        self.port = config.port
        self.connects = 0
        self.disconnects = 0
        self.reconnect_attempts = 0
        self.health_failures = 0
        self._last_codes: list[int] = []
        self._stopped = False
        self._task: asyncio.Task[None] | None = None
        self._reconnecting: asyncio.Task[None] | None = None
        ib.errorEvent += self._on_error
        ib.disconnectedEvent += self._on_disconnected

    async def connect(self) -> int:
        """Connect with the first client id of the pool that IB accepts; ConnectFailed when none does."""
        reasons = []
        for client_id in self.config.client_ids:
            self._last_codes = []
            try:
                await self._connect_once(client_id)
            except (OSError, TimeoutError, ConnectionError) as e:
                in_use = CLIENT_ID_IN_USE in self._last_codes
                reasons.append(f"client id {client_id}: {'in use (326)' if in_use else str(e) or type(e).__name__}")
                if in_use:
                    continue
                break  # the gateway is not there: another id will not help
            self.client_id = client_id
            self.connects += 1
            log.info("connected to %s:%d as client id %d", self.config.host, self.port, client_id)
            return client_id
        raise ConnectFailed(f"IB at {self.config.host}:{self.port}: cannot connect ({'; '.join(reasons)})")

    async def _connect_once(self, client_id: int) -> None:
        """ib_async waits out its whole timeout when the gateway closes the socket at the handshake (326, a full
        house): the socket's end is watched alongside, so a refusal is known at once."""
        ended = asyncio.Event()

        def on_api_error(message: str) -> None:
            ended.set()

        self.ib.client.apiError += on_api_error
        connecting = asyncio.ensure_future(self.ib.connectAsync(self.config.host, self.port, clientId=client_id,
                                                                timeout=self.config.connect_timeout_s))  # fmt: skip
        watching = asyncio.ensure_future(ended.wait())
        try:
            await asyncio.wait({connecting, watching}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.ib.client.apiError -= on_api_error
            watching.cancel()
        if not connecting.done():
            connecting.cancel()
            try:
                await connecting
            except (asyncio.CancelledError, ConnectionError, OSError):
                pass
            self.ib.disconnect()
            raise ConnectionError("the gateway closed the connection at the handshake")
        connecting.result()  # raises what the connect raised

    def watch(self) -> None:
        """Start the health checks (and the reconnects they or a drop call for)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._health_loop())

    def halt(self) -> None:
        """From now on a drop is the end, not a fault: nothing reconnects."""
        self._stopped = True

    async def stop(self) -> None:
        self._stopped = True
        for task in (self._task, self._reconnecting):
            if task is not None:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
        self._task = self._reconnecting = None
        self.ib.disconnect()

    def _on_error(self, req_id: int, code: int, text: str, contract: object) -> None:
        self._last_codes.append(code)

    def _on_disconnected(self) -> None:
        if self._stopped:
            return
        self.disconnects += 1
        log.warning("connection to IB lost; reconnecting")
        self._on_down("socket closed")
        if self._reconnecting is None or self._reconnecting.done():
            self._reconnecting = asyncio.get_running_loop().create_task(self._reconnect())

    async def _health_loop(self) -> None:
        interval = self.config.health_interval_s
        while not self._stopped:
            await asyncio.sleep(interval)
            if not self.ib.isConnected():
                continue  # a drop starts its own reconnect
            try:
                await asyncio.wait_for(self.ib.reqCurrentTimeAsync(), timeout=self.config.health_timeout_s)
            except (TimeoutError, ConnectionError) as e:
                self.health_failures += 1
                log.warning("health check failed (%s); dropping the session to reconnect", type(e).__name__)
                self.ib.disconnect()  # -> disconnectedEvent -> down; the next turn reconnects

    async def _reconnect(self) -> None:
        delay = self.config.reconnect_initial_s
        while not self._stopped and not self.ib.isConnected():
            jitter = 1 + self.config.reconnect_jitter * (2 * self._rng.random() - 1)
            await asyncio.sleep(delay * jitter)
            self.reconnect_attempts += 1
            try:
                await self.connect()
            except ConnectFailed as e:
                log.warning("%s; next try in about %.1f s", e, min(delay * 2, self.config.reconnect_max_s))
                delay = min(delay * 2, self.config.reconnect_max_s)
                continue
            self._on_up()

    def metrics(self) -> list[Metric]:
        return [
            counter("alluse_ibkr_connects_total", "sessions opened", self.connects),
            counter("alluse_ibkr_disconnects_total", "sessions lost", self.disconnects),
            counter("alluse_ibkr_reconnect_attempts_total", "reconnect attempts", self.reconnect_attempts),
            counter("alluse_ibkr_health_failures_total", "health checks that got no answer", self.health_failures),
        ]
