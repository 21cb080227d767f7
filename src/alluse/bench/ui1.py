"""UI-1: the live stream under load. A system trades for real (1x, the paper venue) at RATE one-share market
orders a second, so RATE fills a second, with its REST API up; CLIENTS server-sent-event clients, in a process of
their own, read `/api/v1/stream`.

- fill to stream: from the moment the order manager books a fill (after its journal record; the bus's fill
  message) to the moment a client has read its event, over every client and fill (wall clock, one machine);
- the order path with the clients connected against without: the order manager's own submit latency (validation,
  risk, the journal's intent) in a phase with no client, then in one with CLIENTS, same rate, same length;
- events the clients' queues dropped (a client that keeps up loses none).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from itertools import count
from pathlib import Path
from typing import Any

from alluse.app.config import load_config
from alluse.app.system import TradingSystem, run_live
from alluse.bench.figures import OPTIMISED, Figure
from alluse.common.bus import TOPIC_FILL
from alluse.model import Fill, Order, OrderType, Side
from alluse.rpc.server import ApiServer

WORKLOAD = "UI-1"
RATE = 100  # fills a second
CLIENTS = 10
PHASE_S_FULL, PHASE_S_QUICK = 10.0, 3.0


def ui1_figures(quick: bool) -> list[Figure]:
    return asyncio.run(_measure(PHASE_S_QUICK if quick else PHASE_S_FULL, CLIENTS))


async def _measure(phase_s: float, clients: int) -> list[Figure]:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        config = load_config(overrides={
            "run": {"speed": 1.0, "start": "now", "duration_s": 4 * phase_s + 60, "data_dir": str(data)},
            "market": {"calendar": "24/7", "step_interval_s": 0.05, "weekly_expiries": 1, "strikes_each_side": 4},
            "strategy": {"enabled": False},
            "risk": {"orders_per_second": 10 * RATE, "order_burst": 10 * RATE, "duplicate_window_s": 0.0},
        })  # fmt: skip
        api = ApiServer("127.0.0.1", 0)
        box: dict[str, TradingSystem] = {}
        stop = asyncio.Event()
        def seen(system: TradingSystem, _elapsed: float) -> None:
            box.setdefault("s", system)

        run = asyncio.create_task(run_live(config, stop, data, on_progress=seen, api=api))
        try:
            system = await _until(lambda: box.get("s"), run)
            await _until(lambda: system.health()["ready"], run)
            booked: dict[str, int] = {}
            system.c.bus.subscribe(TOPIC_FILL, lambda f: _book(booked, f))
            alone = await _load(system, phase_s)
            out = data / "received.json"
            argv = [f"http://127.0.0.1:{api.port}", str(clients), str(phase_s + 3), str(out)]
            readers = subprocess.Popen([sys.executable, "-m", "alluse.bench.ui1", *argv], stdout=subprocess.DEVNULL)
            await _until(lambda: len(api.hub.clients) >= clients, run, 30)
            watched = await _load(system, phase_s)
            await asyncio.to_thread(readers.wait, 60)
            received = json.loads(out.read_text())
            dropped = api.hub.dropped
        finally:
            stop.set()
            await run
            if "s" in box:
                box["s"].close()
    delays = [(t - booked[coid]) / 1e3 for coid, t in received if coid in booked]  # us
    if not delays:
        raise RuntimeError("UI-1: no fill reached a client")
    q = statistics.quantiles(delays, n=100)
    a50, w50 = statistics.median(alone), statistics.median(watched)
    return [
        Figure(WORKLOAD, "fill to stream p50", q[49], "us"),
        Figure(WORKLOAD, "fill to stream p99", q[98], "us"),
        Figure(WORKLOAD, "deliveries", float(len(delays)), "events"),
        Figure(WORKLOAD, "dropped", float(dropped), "events"),
        Figure(WORKLOAD, "order path slowdown with clients", 100.0 * (w50 / a50 - 1), "%"),
        Figure(WORKLOAD, "order path p50", w50, "us", OPTIMISED),
        Figure(WORKLOAD, "order path p50", a50, "us", "no client connected"),
    ]


def _book(booked: dict[str, int], fill: Fill) -> None:
    booked.setdefault(fill.client_order_id, time.time_ns())


async def _until(what: Callable[[], Any], run: asyncio.Task[TradingSystem], timeout_s: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (got := what()):
        if run.done():
            run.result()
            raise RuntimeError("UI-1: the run ended early")
        if time.monotonic() > deadline:
            raise RuntimeError("UI-1: timed out waiting for the system")
        await asyncio.sleep(0.02)
    return got


async def _load(system: TradingSystem, seconds: float) -> list[float]:
    """RATE one-share market orders a second, buying and selling in turn, each due on a fixed grid; the submit
    path's own time of each (us)."""
    oms, account = system.c.oms, next(iter(system.config.accounts))
    took: list[float] = []
    start, step = time.perf_counter(), 1.0 / RATE
    for n in count():
        due = start + n * step
        if due - start >= seconds:
            return took
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        side = Side.BUY if n % 2 == 0 else Side.SELL
        order = Order(oms.next_client_order_id(), account, "AAPL", side, 1, order_type=OrderType.MARKET)
        t0 = time.perf_counter_ns()
        oms.submit(order)
        took.append((time.perf_counter_ns() - t0) / 1e3)
    return took


# ------------------------------------------------------------------ the clients' process


async def _read(url: str, clients: int, seconds: float) -> list[tuple[str, int]]:
    import httpx

    got: list[tuple[str, int]] = []

    async def one(client: httpx.AsyncClient) -> None:
        async with client.stream("GET", url + "/api/v1/stream") as r:
            kind = None
            async for line in r.aiter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif kind == "fill" and line.startswith("data: "):
                    got.append((json.loads(line[6:])["client_order_id"], time.time_ns()))

    async with httpx.AsyncClient(timeout=None) as client:
        tasks = [asyncio.create_task(one(client)) for _ in range(clients)]
        await asyncio.sleep(seconds)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return got


def _clients(argv: Iterable[str]) -> None:
    url, clients, seconds, out = argv
    got = asyncio.run(_read(url, int(clients), float(seconds)))
    Path(out).write_text(json.dumps(got))


if __name__ == "__main__":
    _clients(sys.argv[1:])
