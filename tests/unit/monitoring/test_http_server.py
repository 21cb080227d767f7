"""/metrics and /health over real sockets on 127.0.0.1 (port 0): answers, errors, port in use, stop."""

from __future__ import annotations

import asyncio
import json
import math
import socket
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from alluse.common.metrics import LatencyHistogram, Metric, counter, histogram
from alluse.monitoring.exporter import PrometheusExporter
from alluse.monitoring.http import MetricsServer, MetricsServerError

HOST = "127.0.0.1"


class Component:
    """Stands in for a component: plain counters read at scrape time."""

    def __init__(self, histograms: int = 1, counters: int = 1) -> None:
        self.orders = 0
        self.latency = [LatencyHistogram() for _ in range(histograms)]
        self.counters = counters

    def metrics(self) -> Iterable[Metric]:
        yield counter("alluse_orders_total", "Orders by state.", self.orders, state="filled")
        for i in range(1, self.counters):
            yield counter("alluse_quotes_total", "Quotes.", i, instrument=f"I{i}")
        for i, h in enumerate(self.latency):
            yield histogram("alluse_order_latency_seconds", "Submit to fill.", h, op=f"op{i}")


def healthy(**overrides: Any) -> Callable[[], Mapping[str, Any]]:
    report = {"ready": True, "last_quote_age_s": 0.25, "broker_connected": True, "firing_alerts": []}
    report.update(overrides)
    return lambda: report


@pytest.fixture
def component() -> Component:
    return Component()


async def started(component: Component, health: Callable[[], Mapping[str, Any]], **kw: Any) -> MetricsServer:
    server = MetricsServer(PrometheusExporter([component], strict=True), health, **kw)
    await server.start(HOST, 0)
    return server


@pytest.fixture
async def server(component: Component) -> AsyncIterator[MetricsServer]:
    srv = await started(component, healthy())
    yield srv
    await srv.stop()


async def raw(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Sends bytes as they are and reads the whole answer (the server closes after each)."""
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(request)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    return int(status_line.split(" ")[1]), headers, body


def get(port: int, path: str) -> tuple[int, str, bytes]:
    """A real HTTP client (run in a thread): status, content type, body."""
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}{path}", timeout=5) as resp:
            return resp.status, resp.headers["Content-Type"], resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], err.read()


async def test_metrics_scrape_over_http_reads_current_values(server: MetricsServer, component: Component) -> None:
    component.orders = 5
    component.latency[0].observe(3_000_000)  # 3 ms
    status, ctype, body = await asyncio.to_thread(get, server.port, "/metrics")
    assert status == 200 and ctype == "text/plain; version=0.0.4; charset=utf-8"
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    assert families["alluse_orders"].samples[0].value == 5
    buckets = {s.labels["le"]: s.value for s in families["alluse_order_latency_seconds"].samples if "le" in s.labels}
    assert (buckets["0.002"], buckets["0.005"]) == (0, 1)
    component.orders = 6
    _, _, body = await asyncio.to_thread(get, server.port, "/metrics?x=1")
    assert b'alluse_orders_total{state="filled"} 6.0' in body


async def test_health_reports_ready_with_the_callables_fields(server: MetricsServer) -> None:
    status, ctype, body = await asyncio.to_thread(get, server.port, "/health")
    assert (status, ctype) == (200, "application/json")
    assert json.loads(body) == {
        "status": "ready",
        "ready": True,
        "last_quote_age_s": 0.25,
        "broker_connected": True,
        "firing_alerts": [],
    }


async def test_health_not_ready_is_503_live_with_why_alerts_and_extra_fields(component: Component) -> None:
    alerts = [{"rule": "broker_disconnected", "severity": "critical"}]
    why = ["the broker is not connected", "no quote yet"]
    health = healthy(ready=False, broker_connected=False, last_quote_age_s=None, firing_alerts=alerts, mode="paper",
                     not_ready=why)  # fmt: skip
    srv = await started(component, health)
    try:
        status, _, body = await raw(srv.port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    finally:
        await srv.stop()
    report = json.loads(body)
    assert status == 503  # a readiness probe reads the code alone
    assert report["status"] == "live" and report["firing_alerts"] == alerts and report["not_ready"] == why
    assert (report["last_quote_age_s"], report["broker_connected"], report["mode"]) == (None, False, "paper")


def failing() -> Mapping[str, Any]:
    raise RuntimeError("oms gone")


@pytest.mark.parametrize(
    ("health", "message"),
    [
        (lambda: {"ready": True}, "lacks key(s) ['last_quote_age_s', 'broker_connected', 'firing_alerts']"),
        (healthy(ready="yes"), "health() key 'ready'='yes': must be a bool"),
        (healthy(status="ok"), "health() key 'status'='ok': the server sets it"),
        (healthy(last_quote_age_s=math.nan), "health() key 'last_quote_age_s'=nan: not JSON-encodable"),
        (healthy(firing_alerts={object()}), "health() key 'firing_alerts'="),
        (failing, "oms gone"),
    ],
)
async def test_bad_health_answers_500_naming_the_problem(
    component: Component, health: Callable[[], Mapping[str, Any]], message: str, caplog: pytest.LogCaptureFixture
) -> None:
    srv = await started(component, health)
    try:
        status, ctype, body = await asyncio.to_thread(get, srv.port, "/health")
    finally:
        await srv.stop()
    assert (status, ctype) == (500, "application/json")
    report = json.loads(body)
    assert report["status"] == "live" and message in report["error"]
    assert any(r.name == "alluse.monitoring.http" for r in caplog.records)


@pytest.mark.parametrize(
    ("request_bytes", "code"),
    [
        (b"GET /nope HTTP/1.1\r\n\r\n", 404),
        (b"GET / HTTP/1.1\r\n\r\n", 404),
        (b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 405),
        (b"DELETE /health HTTP/1.1\r\n\r\n", 405),
        (b"GET /metrics\r\n\r\n", 400),
        (b"GET /metrics SPDY/3\r\n\r\n", 400),
    ],
)
async def test_unknown_paths_methods_and_malformed_requests(
    server: MetricsServer, request_bytes: bytes, code: int
) -> None:
    status, headers, _ = await raw(server.port, request_bytes)
    assert status == code
    assert headers["connection"] == "close"
    if code == 405:
        assert headers["allow"] == "GET"


async def test_oversized_request_head_is_refused(server: MetricsServer) -> None:
    status, _, _ = await raw(server.port, b"GET /metrics HTTP/1.1\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n")
    assert status == 431


async def test_a_client_that_sends_nothing_is_dropped_after_the_read_timeout(component: Component) -> None:
    srv = await started(component, healthy(), read_timeout_s=0.02)
    try:
        reader, writer = await asyncio.open_connection(HOST, srv.port)
        assert await asyncio.wait_for(reader.read(), 2) == b""  # closed by the server, no answer
        writer.close()
    finally:
        await srv.stop()


async def test_port_in_use_is_a_clear_error(component: Component) -> None:
    with socket.socket() as holder:
        holder.bind((HOST, 0))
        holder.listen()
        port = holder.getsockname()[1]
        srv = MetricsServer(PrometheusExporter([component]), healthy())
        with pytest.raises(MetricsServerError, match=rf"cannot listen on 127\.0\.0\.1:{port}: address already in use"):
            await srv.start(HOST, port)
    with pytest.raises(RuntimeError, match="not started"):
        _ = srv.port


@pytest.mark.parametrize("port", [-1, 65536, "9108", True])
async def test_bad_port_is_a_clear_error(component: Component, port: object) -> None:
    srv = MetricsServer(PrometheusExporter([component]), healthy())
    with pytest.raises(MetricsServerError, match=rf"port={port!r} must be an integer in 0\.\.65535"):
        await srv.start(HOST, port)  # type: ignore[arg-type]


async def test_bad_host_is_a_clear_error(component: Component) -> None:
    srv = MetricsServer(PrometheusExporter([component]), healthy())
    with pytest.raises(MetricsServerError, match=r"cannot listen on 203\.0\.113\.7:0: "):
        await srv.start("203.0.113.7", 0)  # not an address of this machine: bind fails, nothing is sent


async def test_stop_closes_idle_connections_and_the_port(component: Component) -> None:
    srv = await started(component, healthy())
    port = srv.port
    reader, writer = await asyncio.open_connection(HOST, port)  # connected, request never sent
    await asyncio.sleep(0)
    await asyncio.wait_for(srv.stop(), 2)
    assert await asyncio.wait_for(reader.read(), 2) == b""
    writer.close()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection(HOST, port)
    await srv.stop()  # idempotent


async def test_start_twice_is_refused(server: MetricsServer) -> None:
    with pytest.raises(RuntimeError, match="already started"):
        await server.start(HOST, 0)


class TickRecordingExporter(PrometheusExporter):
    """Notes, as each formatting slice is produced, how often the 'trading' task has run so far."""

    def __init__(self, sources: Iterable[Any], ticks: Callable[[], int]) -> None:
        super().__init__(sources, strict=True)
        self.ticks = ticks
        self.at_slice: list[int] = []

    def read(self) -> Any:
        scrape = super().read()
        outer = self

        class Recorded:
            def chunks(self) -> Iterator[bytes]:
                for chunk in scrape.chunks():
                    outer.at_slice.append(outer.ticks())
                    yield chunk

        return Recorded()


async def test_a_big_scrape_hands_the_loop_back_between_slices() -> None:
    """500 series (~2,900 lines): the trading task runs between every two formatting slices."""
    ticks = 0
    done = asyncio.Event()

    async def trading() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0)

    exporter = TickRecordingExporter([Component(histograms=100, counters=400)], lambda: ticks)
    srv = MetricsServer(exporter, healthy())
    await srv.start(HOST, 0)
    ticker = asyncio.create_task(trading())
    try:
        status, _, body = await raw(srv.port, b"GET /metrics HTTP/1.1\r\n\r\n")
    finally:
        done.set()
        await ticker
        await srv.stop()
    assert status == 200 and body.count(b"\n") == 100 * 25 + 400 + 2 * 3
    assert len(exporter.at_slice) >= 10
    assert all(b > a for a, b in zip(exporter.at_slice, exporter.at_slice[1:], strict=False))
