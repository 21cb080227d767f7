"""The console across a cluster's processes: one page (static/cluster.html) over one read-only view, built from
PostgreSQL alone, the system of record every process writes to: the lease and its holder, each agent with its
heartbeat and accounts (cluster/overview.py), each process's latest memory, CPU and state and its alerts firing
(cluster/history.py), the orders by status and the newest alert events. No process has to be asked, so a dead one
shows as what it is: a heartbeat and samples growing old.

Read-only by design: the controls are `alluse cluster halt|reducing|resume`, recorded in PostgreSQL. It listens
on loopback only (`alluse cluster console`)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from alluse.cluster.history import firing, recent_events
from alluse.cluster.overview import read_overview
from alluse.monitoring import series

STATIC = Path(__file__).with_name("static")
RECENT_S = 600  # a process with no sample this recent is not listed
_STATE_LABEL = re.compile(r'state="([^"]*)"')
_STATE_SERIES = ("alluse_cluster_agent_info", "alluse_cluster_gateway_active")


class ProcessOut(BaseModel):
    process: str  # "agent a1", "gateway gw-a"
    state: str  # as the process last reported it
    sample_age_s: float  # since its newest sample: a dead process's only grows
    rss_mib: float | None
    cpu_percent: float | None
    firing: list[str]  # its alert rules firing now ("rule [severity]")


class AgentOut(BaseModel):
    name: str
    epoch: int
    accounts: int
    heartbeat_age_s: float


class AlertEventOut(BaseModel):
    process: str
    summary: str
    state: str
    ts: float  # epoch seconds


class ClusterOut(BaseModel):
    login: str
    lease_holder: str | None
    lease_token: int | None
    lease_valid: bool
    agents: list[AgentOut]
    processes: list[ProcessOut]
    unassigned: int
    not_active: dict[str, str]
    orders: dict[str, int]
    fills: int
    alert_events: list[AlertEventOut]


async def processes(conn: asyncpg.Connection) -> list[ProcessOut]:
    """Every process with a sample in the last RECENT_S: its state, memory, CPU and the rules it has firing."""
    figures = await conn.fetch(
        """SELECT DISTINCT ON (process, series) process, series, value FROM metric_samples
           WHERE ts > clock_timestamp() - make_interval(secs => $1) AND series = ANY($2::text[])
           ORDER BY process, series, ts DESC""",
        RECENT_S, [series.PROCESS_RSS_BYTES, series.PROCESS_CPU_PERCENT],
    )  # fmt: skip
    newest = await conn.fetch(
        """SELECT process, extract(epoch FROM clock_timestamp() - max(ts))::float8 AS age FROM metric_samples
           WHERE ts > clock_timestamp() - make_interval(secs => $1) GROUP BY process ORDER BY process""",
        RECENT_S,
    )  # fmt: skip
    states = await conn.fetch(
        """SELECT DISTINCT ON (process) process, series FROM metric_samples
           WHERE ts > clock_timestamp() - make_interval(secs => $1) AND split_part(series, '{', 1) = ANY($2::text[])
           ORDER BY process, ts DESC""",
        RECENT_S, list(_STATE_SERIES),
    )  # fmt: skip
    values = {(r["process"], r["series"]): float(r["value"]) for r in figures}
    rss = {p: v / 2**20 for (p, s), v in values.items() if s == series.PROCESS_RSS_BYTES}
    cpu = {p: v for (p, s), v in values.items() if s == series.PROCESS_CPU_PERCENT}
    alerts: dict[str, list[str]] = {}
    for p, event in await firing(conn):
        alerts.setdefault(p, []).append(f"{event.rule} [{event.severity}]")
    state = {r["process"]: m.group(1) for r in states if (m := _STATE_LABEL.search(r["series"]))}
    return [ProcessOut(process=(p := r["process"]), state=state.get(p, ""), sample_age_s=float(r["age"]),
                       rss_mib=rss.get(p), cpu_percent=cpu.get(p), firing=alerts.get(p, []))
            for r in newest]  # fmt: skip


async def cluster_view(conn: asyncpg.Connection, login: str) -> ClusterOut:
    o = await read_overview(conn, login)
    holder, token, valid = o.lease if o.lease is not None else (None, None, False)
    return ClusterOut(
        login=o.login, lease_holder=holder, lease_token=token, lease_valid=valid,
        agents=[AgentOut(name=a.name, epoch=a.epoch, accounts=a.accounts, heartbeat_age_s=a.heartbeat_age_s)
                for a in o.agents],
        processes=await processes(conn), unassigned=o.unassigned, not_active=o.not_active, orders=o.orders,
        fills=o.fills,
        alert_events=[AlertEventOut(process=p, summary=e.summary(), state=e.state.value, ts=e.ts_ns / 1e9)
                      for p, e in await recent_events(conn, 20)],
    )  # fmt: skip


def create_cluster_app(dsn: str, login: str) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
        try:
            yield
        finally:
            await app.state.pool.close()

    app = FastAPI(title="ALL-USE cluster console", lifespan=lifespan, openapi_url="/openapi.json")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def console() -> FileResponse:
        return FileResponse(STATIC / "cluster.html")

    @app.get("/api/v1/cluster", response_model=ClusterOut, summary="the whole cluster, from PostgreSQL")
    async def cluster() -> ClusterOut:
        async with app.state.pool.acquire() as conn:
            return await cluster_view(conn, login)

    return app
