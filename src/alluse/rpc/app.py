"""The API as a FastAPI application: `/health` and `/metrics` as before, and `/api/v1/...` read-only views, each
answer typed by a model of rpc/models.py (the OpenAPI schema at `/openapi.json`, browsable at `/docs`).

Handlers are plain `async def`s: FastAPI runs them on the event loop, the trading loop, so a view reads the
components between two of their callbacks, never while one runs, and no lock is needed. Each is a quick pass
over in-memory state; /metrics formats in slices and hands the loop back between them.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles

from alluse.monitoring.exporter import CONTENT_TYPE, PrometheusExporter
from alluse.monitoring.http import exposition, health_answer
from alluse.rpc import controls
from alluse.rpc.auth import Guard
from alluse.rpc.controls import CancelIn, ControlOut, FlattenIn, StateIn
from alluse.rpc.models import (
    AccountOut,
    AlertRuleOut,
    ConnectionOut,
    FillOut,
    MarketDataOut,
    OrderView,
    PositionOut,
    StatusOut,
)
from alluse.rpc.stream import EventHub
from alluse.rpc.views import VERSION, SystemViews

API = "/api/v1"
STATIC = Path(__file__).with_name("static")  # the console: a page, its script and style, uPlot vendored
Limit = Query(100, ge=0, description="newest N; 0 is all")


def create_app(views: SystemViews, exporter: PrometheusExporter | None, hub: EventHub, guard: Guard) -> FastAPI:
    """Reads need the token only off loopback (`guard.read`); every control needs it (`guard.token`); no route
    answers a cross-origin browser request."""
    app = FastAPI(title="ALL-USE market integration", version=VERSION, openapi_url="/openapi.json",
                  dependencies=[Depends(guard.read)])  # fmt: skip
    system = views.system
    control = [Depends(guard.token)]
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def console() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    def who(request: Request) -> str:
        return f"api from {request.client.host if request.client else 'unknown'}"

    @app.post(f"{API}/control/{{action}}", response_model=ControlOut, dependencies=control,
              summary="halt, reducing or resume: the accounts' trading state (all accounts when none are given)")
    async def set_state(action: str, body: StateIn, request: Request) -> ControlOut:
        if action not in ("halt", "reducing", "resume"):
            raise HTTPException(404, f"no control {action!r} (halt, reducing, resume, cancel-all, flatten)")
        return controls.set_state(system, action, body, who(request))

    @app.post(f"{API}/cancel-all", response_model=ControlOut, dependencies=control,
              summary="cancel every working order (of one account, or all)")
    async def cancel_all(body: CancelIn, request: Request) -> ControlOut:
        return controls.cancel_all(system, body, who(request))

    @app.post(f"{API}/flatten", response_model=ControlOut, dependencies=control,
              summary="cancel the account's working orders and close each of its positions at market")
    async def flatten(body: FlattenIn, request: Request) -> ControlOut:
        return controls.flatten(system, body, who(request))

    @app.get(f"{API}/controls", summary="every control journaled, oldest first, with who and when")
    async def journaled() -> list[dict[str, object]]:
        return controls.journaled(system)

    @app.get("/health", summary="200 when ready to trade, 503 while not (the reasons in not_ready)")
    async def health() -> Response:
        code, body = health_answer(system.health)
        return Response(body, status_code=code.value, media_type="application/json")

    if exporter is not None:

        @app.get("/metrics", summary="Prometheus text exposition")
        async def metrics() -> Response:
            return Response(b"".join(await exposition(exporter)), media_type=CONTENT_TYPE)

    @app.get(f"{API}/stream", summary="server-sent events: fill, order, state, alert, metrics (each tick), dropped",
             response_class=StreamingResponse)  # fmt: skip
    async def stream() -> StreamingResponse:
        return StreamingResponse(hub.frames(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})  # fmt: skip

    @app.get(f"{API}/status", response_model=StatusOut)
    async def status() -> StatusOut:
        return views.status()

    @app.get(f"{API}/accounts", response_model=list[AccountOut])
    async def accounts() -> list[AccountOut]:
        return views.accounts()

    @app.get(f"{API}/positions", response_model=list[PositionOut], summary="open positions with greeks and DTE")
    async def positions() -> list[PositionOut]:
        return views.positions()

    @app.get(f"{API}/orders", response_model=list[OrderView], summary="orders, newest first")
    async def orders(working: bool = Query(False, description="only working orders"), limit: int = Limit
                     ) -> list[OrderView]:  # fmt: skip
        return views.orders(working, limit)

    @app.get(f"{API}/fills", response_model=list[FillOut], summary="fills, newest first")
    async def fills(limit: int = Limit) -> list[FillOut]:
        return views.fills_out(limit)

    @app.get(f"{API}/alerts", response_model=list[AlertRuleOut], summary="every alert rule and where it stands")
    async def alerts() -> list[AlertRuleOut]:
        return views.alerts()

    @app.get(f"{API}/market-data", response_model=MarketDataOut)
    async def market_data() -> MarketDataOut:
        return views.market_data()

    @app.get(f"{API}/connection", response_model=ConnectionOut)
    async def connection() -> ConnectionOut:
        return views.connection()

    return app
