"""uvicorn on the trading loop: the API's server, started and stopped with the run.

`uvicorn.Server.serve` would install its own SIGINT/SIGTERM handlers; the command already owns those (a
signal stops the run, which stops this server), so this server captures none.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator

import uvicorn

from alluse.app.system import TradingSystem
from alluse.monitoring.http import listen_error
from alluse.rpc.app import create_app
from alluse.rpc.auth import Guard, ensure_token
from alluse.rpc.stream import EventHub
from alluse.rpc.views import SystemViews

log = logging.getLogger("alluse.rpc.server")


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the command's handlers stay in place


def bound_socket(host: str, port: int) -> socket.socket:
    """Bound before serving, so a busy port is a one-line error naming it (`listen_error`), and port 0's choice is
    known; uvicorn serves on it (`serve(sockets=[...])`)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise listen_error(host, port, exc) from None
    return sock


class ApiServer:
    """The REST API, /metrics and /health on one port; `port` is the bound one (0 asks for a free port)."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.requested_port = port
        self.port = port
        self.views: SystemViews | None = None
        self.hub = EventHub()
        self.new_token: str | None = None  # made at this start: the command prints it once
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, system: TradingSystem) -> None:
        """Binds first (a busy port stops the run before any order, naming it), then serves."""
        data_dir = system.journal_path.parent
        token, made = ensure_token(data_dir)
        self.new_token = token if made else None
        views = self.views = SystemViews(system)
        views.attach()
        self.hub.attach(views)
        exporter = system.monitoring.exporter if system.monitoring is not None else None
        if exporter is not None:
            exporter.add_source(self.hub)
        sock = bound_socket(self.host, self.requested_port)
        self.port = sock.getsockname()[1]
        app = create_app(views, exporter, self.hub, Guard(data_dir, self.host))
        config = uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False)
        server = self._server = _Server(config)
        self._task = asyncio.create_task(server.serve(sockets=[sock]), name="alluse-api")
        while not server.started and not self._task.done():
            await asyncio.sleep(0.01)
        if self._task.done():
            self._task.result()  # raises what stopped it
        log.info("API on http://%s:%d/ (docs at /docs)", self.host, self.port)

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self.hub.close()  # the live streams end, or the server would wait for them
        self._server.should_exit = True
        await self._task
        self._server = self._task = None
