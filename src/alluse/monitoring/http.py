"""`/metrics` and `/health` over HTTP on the trading loop: asyncio streams, GET only, one request per connection.

No framework: two read-only endpoints do not justify a dependency, and serving them from the loop the
components live on means no thread ever reads their state. A scrape reads the sources in one quick pass,
then formats the text in slices, yielding to the loop between them, so trading is never held for long.
Every connection is closed after its answer (Prometheus and curl both cope), which keeps the parser tiny.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any

from alluse.monitoring.exporter import CONTENT_TYPE, PrometheusExporter

log = logging.getLogger("alluse.monitoring.http")

# What the health callable must report; the server itself only knows that it is live (it answered).
HEALTH_KEYS = ("ready", "last_quote_age_s", "broker_connected", "firing_alerts")
MAX_HEAD_BYTES = 16 * 1024
READ_TIMEOUT_S = 5.0

HealthCheck = Callable[[], Mapping[str, Any]]


class MetricsServerError(Exception):
    """The server cannot listen where it was asked to; names the host and port."""

    def __init__(self, host: str, port: object, reason: str) -> None:
        super().__init__(f"metrics server cannot listen on {host}:{port}: {reason}")
        self.host = host
        self.port = port


def listen_error(host: str, port: object, exc: OSError) -> MetricsServerError:
    """Why a port could not be listened on, in one line (this server's and the REST API's, rpc/server.py)."""
    if exc.errno == errno.EADDRINUSE:
        return MetricsServerError(host, port, "address already in use (choose another metrics port)")
    return MetricsServerError(host, port, exc.strerror or str(exc))


class MetricsServer:
    """Serves `GET /metrics` (Prometheus text) and `GET /health` (JSON) until `stop()`.

    `health()` is called per request on the loop and must be cheap. It returns a mapping with at least
    HEALTH_KEYS: `ready` (bool: recovered and able to trade), `last_quote_age_s` (float, None before the
    first quote), `broker_connected` (bool), `firing_alerts` (list), plus anything else JSON-serializable.
    The answer is that mapping with `status` added: "ready" (200) when ready, else "live" (503: up, but not
    able to trade yet or any more; a `not_ready` list in the mapping says why), so a load balancer or an
    orchestrator's readiness probe reads the code alone.
    """

    def __init__(
        self, exporter: PrometheusExporter, health: HealthCheck, *, read_timeout_s: float = READ_TIMEOUT_S
    ) -> None:
        self._exporter = exporter
        self._health = health
        self._read_timeout_s = read_timeout_s
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    @property
    def port(self) -> int:
        """The port bound (picked by the OS for port 0; with a host name that resolves to several addresses and
        port 0 each socket gets its own: this is the first one's, so give an address when using port 0)."""
        if self._server is None:
            raise RuntimeError("metrics server is not started")
        return self._server.sockets[0].getsockname()[1]

    async def start(self, host: str, port: int) -> None:
        if self._server is not None:
            raise RuntimeError("metrics server is already started")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise MetricsServerError(host, port, f"port={port!r} must be an integer in 0..65535")
        try:
            self._server = await asyncio.start_server(self._serve, host, port, limit=MAX_HEAD_BYTES)
        except OSError as exc:
            raise listen_error(host, port, exc) from exc
        log.info("serving /metrics and /health on %s:%d", host, self.port)

    async def stop(self) -> None:
        """Stops listening and ends connections still open; waits for their handlers to finish."""
        if self._server is None:
            return
        self._server.close()
        for writer in self._connections.values():
            writer.close()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None  # start_server runs each connection in its own task
        self._connections[task] = writer
        try:
            await self._answer(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass  # the client left or stalled: nothing to answer
        finally:
            del self._connections[task]
            writer.close()
            try:
                await writer.wait_closed()
            except ConnectionError:
                pass

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self._read_timeout_s)
        except asyncio.LimitOverrunError:
            await _send(writer, HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, b"request head too large\n")
            return
        parts = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            await _send(writer, HTTPStatus.BAD_REQUEST, b"malformed request line\n")
            return
        method, path = parts[0], parts[1].partition("?")[0]
        if path not in ("/metrics", "/health"):
            await _send(writer, HTTPStatus.NOT_FOUND, b"not found: try /metrics or /health\n")
        elif method != "GET":
            await _send(writer, HTTPStatus.METHOD_NOT_ALLOWED, b"only GET is allowed\n", allow="GET")
        elif path == "/metrics":
            await self._metrics(writer)
        else:
            status, body = health_answer(self._health)
            await _send(writer, status, body, content_type="application/json")

    async def _metrics(self, writer: asyncio.StreamWriter) -> None:
        try:
            chunks = await exposition(self._exporter)
        except Exception:
            log.exception("rendering /metrics failed")
            await _send(writer, HTTPStatus.INTERNAL_SERVER_ERROR, b"rendering metrics failed; see the log\n")
            return
        await _send(writer, HTTPStatus.OK, b"".join(chunks), content_type=CONTENT_TYPE)



async def exposition(exporter: PrometheusExporter) -> list[bytes]:
    """/metrics' text in slices, the loop handed back between them (the REST API serves it the same way)."""
    chunks: list[bytes] = []
    for chunk in exporter.read().chunks():
        chunks.append(chunk)
        await asyncio.sleep(0)  # let quotes and orders through between slices
    return chunks


def health_answer(health: HealthCheck) -> tuple[HTTPStatus, bytes]:
    """/health's code and body from the health report: 200 "ready", 503 "live" (up, not able to trade), or 500
    with the error when the report itself is broken."""
    try:
        report = dict(health())
        missing = [k for k in HEALTH_KEYS if k not in report]
        if missing:
            raise ValueError(f"health() result lacks key(s) {missing}")
        if "status" in report:
            raise ValueError(f"health() key 'status'={report['status']!r}: the server sets it from 'ready'")
        ready = report["ready"]
        if not isinstance(ready, bool):
            raise ValueError(f"health() key 'ready'={ready!r}: must be a bool")
        code = HTTPStatus.OK if ready else HTTPStatus.SERVICE_UNAVAILABLE
        return code, _json({"status": "ready" if ready else "live", **report})
    except Exception as exc:
        log.exception("health check failed")
        return HTTPStatus.INTERNAL_SERVER_ERROR, json.dumps({"status": "live", "error": str(exc)}).encode()


def _json(report: dict[str, Any]) -> bytes:
    """Strict JSON (no NaN); on failure the error names the key whose value could not be encoded."""
    try:
        return json.dumps(report, allow_nan=False).encode()
    except (TypeError, ValueError):
        for key, value in report.items():
            try:
                json.dumps(value, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"health() key {key!r}={value!r}: not JSON-encodable ({exc})") from None
        raise


async def _send(
    writer: asyncio.StreamWriter,
    status: HTTPStatus,
    body: bytes,
    *,
    content_type: str = "text/plain; charset=utf-8",
    allow: str | None = None,
) -> None:
    head = [
        f"HTTP/1.1 {status.value} {status.phrase}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
        "Connection: close",
    ]
    if allow is not None:
        head.append(f"Allow: {allow}")
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
    await writer.drain()
