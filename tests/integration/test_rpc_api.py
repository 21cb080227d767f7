"""The REST API on a running system: every view answers its model, the schema is published, live state shows
(an order's fill is in /fills and /accounts), limits mean what they say, and bad input is a 422 naming it."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from running_system import STOCK, running, system_config, until

from alluse.model import Order, OrderType, Side
from alluse.monitoring.alert_events import AlertEvent
from alluse.rpc.models import AccountOut, AlertRuleOut, ConnectionOut, FillOut, MarketDataOut, OrderView, StatusOut
from alluse.rpc.server import ApiServer

pytestmark = pytest.mark.slow  # a running system: once, not again on the pure build


async def exercise(data_dir) -> dict:
    api = ApiServer("127.0.0.1", 0)
    alerts: list[AlertEvent] = []
    seen: dict = {}
    async with running(system_config(data_dir), data_dir, alerts, api=api) as system:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api.port}", timeout=5) as client:

            async def get(path: str, **params) -> httpx.Response:
                return await client.get(path, params=params)

            seen["schema"] = (await get("/openapi.json")).json()
            seen["health"] = await get("/health")
            seen["metrics"] = await get("/metrics")
            seen["before"] = (await get("/api/v1/fills")).json()
            oms, account = system.c.oms, next(iter(system.config.accounts))
            order = Order(oms.next_client_order_id(), account, STOCK, Side.BUY, 3, order_type=OrderType.MARKET)
            oms.submit(order)
            fills = await until(lambda: api.views.fills if api.views and api.views.fills else None, 5, "a fill")
            seen["coid"], seen["fill_id"] = order.client_order_id, fills[-1].fill_id
            for name in ("status", "accounts", "positions", "orders", "fills", "alerts", "market-data", "connection"):
                seen[name] = (await get(f"/api/v1/{name}")).json()
            seen["working"] = (await get("/api/v1/orders", working="true")).json()
            seen["all_orders"] = (await get("/api/v1/orders", limit=0)).json()
            seen["one_order"] = (await get("/api/v1/orders", limit=1)).json()
            seen["negative"] = await get("/api/v1/orders", limit=-1)
    return seen


def test_the_api_serves_typed_views_of_the_running_system(tmp_path):
    seen = asyncio.run(exercise(tmp_path))
    paths = set(seen["schema"]["paths"])
    assert {f"/api/v1/{n}" for n in ("status", "accounts", "positions", "orders", "fills", "alerts", "market-data",
                                      "connection")} <= paths and "/health" in paths  # fmt: skip
    assert seen["health"].status_code == 200 and seen["health"].json()["status"] == "ready"
    assert 'alluse_quotes_total{outcome="accepted"}' in seen["metrics"].text
    # each answer is its model, exactly
    StatusOut.model_validate(seen["status"])
    MarketDataOut.model_validate(seen["market-data"])
    ConnectionOut.model_validate(seen["connection"])
    accounts = [AccountOut.model_validate(a) for a in seen["accounts"]]
    orders = [OrderView.model_validate(o) for o in seen["orders"]]
    fills = [FillOut.model_validate(f) for f in seen["fills"]]
    rules = [AlertRuleOut.model_validate(r) for r in seen["alerts"]]
    # live state: the order sent during the run, its fill, the account's cash after it
    assert seen["before"] == [] and (fills[0].client_order_id, fills[0].execution_id) == (seen["coid"], seen["fill_id"])
    assert orders[0].client_order_id == seen["coid"] and orders[0].status == "FILLED" and orders[0].filled_qty == 3
    bought = next(a for a in accounts if a.account == fills[0].account)
    assert bought.fills == 1 and bought.cash_usd < bought.equity_usd  # the shares are worth something
    assert any(p["instrument_id"] == STOCK and p["quantity"] == 3 for p in seen["positions"])
    assert seen["status"]["fills"] == 1 and seen["status"]["ready"] is True
    assert seen["connection"]["connected"] is True and seen["market-data"]["quotes_accepted"] > 0
    assert {r.rule for r in rules} >= {"trading_error_rate", "feed_stalled"}
    assert next(r for r in rules if r.rule == "trading_error_rate").insufficient_data  # one order: no ratio yet
    # limits: 0 is all, N the newest N, negative refused naming the parameter
    assert seen["working"] == [] and len(seen["one_order"]) == 1 and len(seen["all_orders"]) >= 1
    assert seen["negative"].status_code == 422 and "limit" in seen["negative"].text


async def stream_a_fill(data_dir) -> dict:
    api = ApiServer("127.0.0.1", 0)
    async with running(system_config(data_dir), data_dir, [], api=api) as system:
        booked: dict[str, float] = {}
        system.c.bus.subscribe("order.fill", lambda f: booked.setdefault(f.client_order_id, time.monotonic()))
        events: list[tuple[float, str, dict]] = []

        async def listen() -> None:
            async with httpx.AsyncClient(timeout=None) as client:
                async with client.stream("GET", f"http://127.0.0.1:{api.port}/api/v1/stream") as r:
                    kind = None
                    async for line in r.aiter_lines():
                        if line.startswith("event: "):
                            kind = line[7:]
                        elif line.startswith("data: ") and kind is not None:
                            events.append((time.monotonic(), kind, json.loads(line[6:])))

        reader = asyncio.create_task(listen())
        await until(lambda: api.hub.clients, 5, "the client connected")
        oms, account = system.c.oms, next(iter(system.config.accounts))
        order = Order(oms.next_client_order_id(), account, STOCK, Side.BUY, 2, order_type=OrderType.MARKET)
        oms.submit(order)
        fill = await until(lambda: next((e for e in events if e[1] == "fill"), None), 5, "the fill streamed")
        system.c.states.set(account, "REDUCING", "streamed", "test")
        await until(lambda: any(e[1] == "state" for e in events), 5, "the state change streamed")
        await until(lambda: sum(e[1] == "metrics" for e in events) >= 2, 5, "two ticks streamed")
        reader.cancel()
        return {"coid": order.client_order_id, "booked": booked, "fill": fill, "events": events}


def test_the_live_stream_carries_the_fill_within_a_second_and_each_tick(tmp_path):
    got = asyncio.run(stream_a_fill(tmp_path))
    at, _, data = got["fill"]
    assert data["client_order_id"] == got["coid"] and data["quantity"] == 2
    assert 0 <= at - got["booked"][got["coid"]] < 1.0  # from the fill booked (after its journal record) to the client
    kinds = [e[1] for e in got["events"]]
    assert kinds.index("order") < kinds.index("fill")  # the order's events come first
    ticks = [e[2] for e in got["events"] if e[1] == "metrics"]
    assert all('alluse_quotes_total{outcome="accepted"}' in t["values"] for t in ticks)
    assert "dropped" not in kinds  # a client that keeps up loses nothing
    state = next(e[2] for e in got["events"] if e[1] == "state")
    assert (state["from"], state["to"], state["source"]) == ("ACTIVE", "REDUCING", "test")
