"""A trading system running for real (1x, the 24/7 calendar, the wheel off) for tests that inject faults into it:
its config, a load of small market orders, a local webhook receiver, and waiting for a condition."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count
from pathlib import Path
from typing import Any

from alluse.app.config import Config, load_config
from alluse.app.system import Service, TradingSystem, run_live
from alluse.model import Order, OrderType, Side
from alluse.monitoring.alert_events import AlertEvent

STOCK = "AAPL"


def system_config(data_dir: Path, **sections: dict[str, Any]) -> Config:
    """A small, fast market (about 4,700 quotes/s), a short collector interval and window; `sections` add to it."""
    base: dict[str, dict[str, Any]] = {
        "run": {"speed": 1.0, "start": "now", "duration_s": 120.0, "data_dir": str(data_dir)},
        "market": {"calendar": "24/7", "step_interval_s": 0.02, "weekly_expiries": 1, "strikes_each_side": 4},
        "strategy": {"enabled": False},
        "risk": {"orders_per_second": 200.0, "order_burst": 200, "duplicate_window_s": 0.0},
        "monitoring": {"interval_s": 0.25, "window_s": 2.0, "min_orders": 5, "min_observations": 5},
    }
    for name, values in sections.items():
        base.setdefault(name, {}).update(values)
    return load_config(overrides=base)


async def send_orders(system: TradingSystem, every_s: float = 0.03) -> None:
    """One-share market orders, buying and selling in turn, until cancelled."""
    oms, account = system.c.oms, next(iter(system.config.accounts))
    for n in count():
        side = Side.BUY if n % 2 == 0 else Side.SELL
        oms.submit(Order(oms.next_client_order_id(), account, STOCK, side, 1, order_type=OrderType.MARKET))
        await asyncio.sleep(every_s)


async def until(what: Callable[[], Any], timeout_s: float, why: str) -> Any:
    """What `what()` returns once it is true, checked every 20 ms; an AssertionError naming `why` after the timeout."""
    deadline = time.monotonic() + timeout_s
    while not (got := what()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{why}: not within {timeout_s} s")
        await asyncio.sleep(0.02)
    return got


@asynccontextmanager
async def running(config: Config, data_dir: Path, alerts: list[AlertEvent], orders: bool = False,
                  api: Service | None = None) -> AsyncIterator[TradingSystem]:  # fmt: skip
    """The system, once ready (and with the order load running, if asked); stopped cleanly on exit."""
    box: dict[str, TradingSystem] = {}
    stop = asyncio.Event()
    run = asyncio.create_task(run_live(config, stop, data_dir, on_progress=lambda s, _: box.setdefault("s", s),
                                       on_alert=alerts.append, api=api))  # fmt: skip
    load = None
    try:
        system = await until(lambda: box.get("s") or run.done(), 20, "the system started")
        if run.done():
            run.result()  # raises what stopped it
        await until(lambda: system.health()["ready"], 20, "the system is ready")
        if orders:
            load = asyncio.create_task(send_orders(system))
        yield system
    finally:
        if load is not None:
            load.cancel()
        stop.set()
        await run


class Receiver:
    """A local webhook endpoint: every JSON body POSTed to it, in order."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        bodies = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the http.server name)
                bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
