"""`alluse cluster`: the scale-out's processes. `up` starts PostgreSQL and Redis on loopback in a directory and
writes the `[cluster]` file the others read; `gateway` runs a gateway service for one broker login (active while
it holds the login's lease, standing by otherwise); `agent` runs the wheel for its share of the accounts."""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alluse.cli.output import console

if TYPE_CHECKING:
    import asyncpg

    from alluse.cluster.config import ClusterFileConfig
    from alluse.cluster.overview import ClusterOverview
    from alluse.common.metrics import MetricSource

CLUSTER_FILE = "cluster.toml"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cluster", help="many accounts: PostgreSQL, Redis and the gateway service")
    commands = p.add_subparsers(dest="cluster_command", required=True)
    up = commands.add_parser("up", help="start PostgreSQL and Redis on 127.0.0.1 in a directory, until Ctrl-C")
    up.add_argument("--dir", type=Path, required=True, help=f"their data, passwords and {CLUSTER_FILE}")
    up.add_argument("--duration", type=float, help="wall seconds to serve (default: until Ctrl-C)")
    up.add_argument("--config", type=Path, help="TOML: [accounts], [strategy], [market]...: also start the gateway "
                    "service, the agents and Prometheus on it")  # fmt: skip
    up.add_argument("--agents", type=int, default=2, help="how many agents (with --config; default 2)")
    up.add_argument("--standby", action="store_true", help="a second gateway service, standing by (with --config)")
    up.add_argument("--ib-port", type=int, help="a running IB gateway on 127.0.0.1 (default: start the local one)")
    up.set_defaults(func=up_command)
    gw = commands.add_parser("gateway", help="a gateway service for [cluster] login: sends while it holds the lease")
    gw.add_argument("--config", type=Path, required=True, help=f"TOML: [cluster] (`up` writes {CLUSTER_FILE}), [ibkr]")
    gw.add_argument("--login", help="the broker login (default: [cluster] login)")
    gw.add_argument("--ib-port", type=int, help="the IB gateway's port on [ibkr] host (default: [ibkr] port)")
    gw.add_argument("--holder", help="this service's name in the lease (default: host:pid:random)")
    gw.add_argument("--duration", type=float, help="wall seconds to run (default: until Ctrl-C)")
    gw.add_argument("--metrics-port", type=int, help="serve /metrics and /health on 127.0.0.1 here (0: any free port)")
    gw.set_defaults(func=gateway_command)
    ag = commands.add_parser("agent", help="an agent: runs the wheel for its share of [accounts], through the gateway")
    ag.add_argument("--config", type=Path, required=True, help="TOML: [cluster], [accounts], [strategy], [market]")
    ag.add_argument("--name", required=True, help="this agent's name in the assignment table (unique per agent)")
    ag.add_argument("--duration", type=float, help="wall seconds to run (default: until Ctrl-C)")
    ag.add_argument("--metrics-port", type=int, help="serve /metrics and /health on 127.0.0.1 here (0: any free port)")
    ag.set_defaults(func=agent_command)
    co = commands.add_parser("console", help="the console across every process, in the browser (from PostgreSQL)")
    co.add_argument("--config", type=Path, required=True, help="TOML with [cluster]")
    co.add_argument("--port", type=int, default=8780, help="on 127.0.0.1 (0: any free port; default 8780)")
    co.set_defaults(func=console_command)
    status = commands.add_parser("status", help="the whole cluster from PostgreSQL: lease, agents, accounts, orders")
    status.add_argument("--config", type=Path, required=True, help="TOML with [cluster]")
    status.set_defaults(func=status_command)
    for name, state, help_text in (("halt", "HALTED", "halt accounts wherever they run; working orders are cancelled"),
                                   ("reducing", "REDUCING", "only orders that close a position, on accounts"),
                                   ("resume", "ACTIVE", "let accounts trade again")):  # fmt: skip
        st = commands.add_parser(name, help=help_text)
        st.add_argument("--config", type=Path, required=True, help="TOML with [cluster]")
        st.add_argument("--account", action="append", help="the account (repeatable; default: every account)")
        st.add_argument("--reason", default="operator", help="recorded with the change")
        st.set_defaults(func=state_command, trading_state=state)


def up_command(args: argparse.Namespace) -> int:
    import asyncpg

    from alluse.cluster.schema import migrate
    from alluse.cluster.servers import PostgresServer, RedisServer

    trading = _trading_config(args) if args.config is not None else None  # refused before anything starts
    directory = args.dir.resolve()
    postgres = PostgresServer(directory / "postgres").start()
    try:
        redis = RedisServer(directory / "redis").start()
        try:

            async def prepare() -> None:
                conn = await asyncpg.connect(postgres.dsn)
                try:
                    await migrate(conn)
                finally:
                    await conn.close()

            asyncio.run(prepare())
            path = _write_cluster_file(directory, postgres.dsn, redis.url, trading)
            console.print(f"cluster: postgres 127.0.0.1:{postgres.port}, redis 127.0.0.1:{redis.port}; their "
                          f"addresses and passwords in {path} (mode 0600)", highlight=False,
                          soft_wrap=True)  # fmt: skip
            if trading is None:
                console.print(f"cluster: `alluse cluster gateway --config {path}` (Ctrl-C stops)", highlight=False,
                              soft_wrap=True)  # fmt: skip
                _wait_for_stop(args.duration)
            else:
                _run_processes(args, directory, path)
        finally:
            redis.stop()
    finally:
        postgres.stop()
    console.print("cluster: stopped")
    return 0


def _trading_config(args: argparse.Namespace) -> str:
    """The trading sections' text, checked (a [cluster] section of its own is refused: `up` writes it)."""
    from alluse.app.config import ConfigError, load_config

    load_config(args.config)
    text = Path(args.config).read_text(encoding="utf-8")
    if any(line.strip().startswith("[cluster") for line in text.splitlines()):
        raise ConfigError(f"{args.config}: has a [cluster] section; `alluse cluster up` writes it")
    if args.agents < 1:
        raise ConfigError(f"--agents = {args.agents}: at least 1")
    return text


def _run_processes(args: argparse.Namespace, directory: Path, path: Path) -> None:
    from alluse.app.config import load_config
    from alluse.cluster.launcher import ClusterProcesses
    from alluse.cluster.rules import prometheus_rules_file

    config = load_config(args.config)
    (directory / "alert-rules.yml").write_text(prometheus_rules_file(config.alerts, config.monitoring))
    processes = ClusterProcesses(directory, path, args.agents, args.standby, args.ib_port, local_config=args.config)
    try:
        processes.start()
        for p in processes.launched:
            where = f", /metrics on 127.0.0.1:{p.metrics_port}" if p.metrics_port else ""
            console.print(f"cluster: {p.name} running (pid {p.proc.pid}{where}; log {p.log_path})", highlight=False,
                          soft_wrap=True)  # fmt: skip
        if processes.console_url is not None:
            console.print(f"cluster: console on {processes.console_url}", highlight=False, soft_wrap=True)
        if processes.prometheus is not None:
            console.print(f"cluster: prometheus on {processes.prometheus.url} (Ctrl-C stops everything)",
                          highlight=False, soft_wrap=True)  # fmt: skip
        _wait_for_stop(args.duration)
        for gone in processes.gone():
            console.print(f"cluster: {gone} had stopped before the end", highlight=False, soft_wrap=True)
    finally:
        processes.stop()


def _write_cluster_file(directory: Path, dsn: str, url: str, trading: str | None) -> Path:
    """The servers' addresses (with their passwords: mode 0600), after the trading sections if there are any."""
    from alluse.cluster.servers import write_private

    path = directory / CLUSTER_FILE
    head = "" if trading is None else trading.rstrip("\n") + "\n\n"
    write_private(path, f'{head}[cluster]\npostgres = "{dsn}"\nredis = "{url}"\n')
    return path


def _wait_for_stop(duration: float | None) -> None:
    """Until SIGINT or SIGTERM (or `duration` seconds)."""
    import signal
    import threading

    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        stop.wait(duration)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _cluster_config(path: Path, overrides: dict[str, dict[str, object]]) -> ClusterFileConfig:
    from alluse.app.config import ConfigError, load_config_as
    from alluse.cluster.config import ClusterFileConfig

    config = load_config_as(ClusterFileConfig, path, overrides)
    if not config.cluster.postgres or not config.cluster.redis:
        raise ConfigError(f"{path}: cluster.postgres and cluster.redis are needed (`alluse cluster up` writes them)")
    return config


def _stop_event(duration: float | None) -> asyncio.Event:
    """Set by SIGINT, SIGTERM or after `duration` seconds; on the running loop."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if duration is not None:
        loop.call_later(duration, stop.set)
    return stop


@asynccontextmanager
async def _monitored(config: ClusterFileConfig, process: str, pool: asyncpg.Pool, readings: MetricSource,
                     health: Callable[[], Any], port: int | None,
                     loss_limit_used: Callable[[], float | None] | None = None,
                     market_open: Callable[[], bool] | None = None) -> AsyncIterator[str]:  # fmt: skip
    """The process's metrics and alerts into PostgreSQL (cluster/history.py) and, with a port, /metrics and
    /health on 127.0.0.1 for the block; yields where they go, for the banner."""
    from alluse.cluster.history import ProcessHistory

    history = None
    if config.monitoring.enabled:
        history = await ProcessHistory.open(pool, process, readings, config, loss_limit_used, market_open)
        history.start()
    try:
        if port is None:
            yield "" if history is None else ", metrics and alerts to PostgreSQL"
            return
        from alluse.cluster.exposition import serve

        server = await serve([readings, *([] if history is None else history.exported())], health, "127.0.0.1", port)
        try:
            yield f", /metrics on 127.0.0.1:{server.port}" + ("" if history is None else " and to PostgreSQL")
        finally:
            await server.stop()
    finally:
        if history is not None:
            await history.stop()


def console_command(args: argparse.Namespace) -> int:
    """Read-only and on loopback (rpc/cluster_app.py); uvicorn stops on SIGINT or SIGTERM."""
    import uvicorn

    from alluse.rpc.cluster_app import create_cluster_app
    from alluse.rpc.server import bound_socket

    config = _cluster_config(args.config, {})
    sock = bound_socket("127.0.0.1", args.port)
    sock.listen(128)  # connections wait in the backlog until uvicorn accepts them
    app = create_cluster_app(config.cluster.postgres, config.cluster.login)
    console.print(f"cluster console on http://127.0.0.1:{sock.getsockname()[1]}/ (login {config.cluster.login}; "
                  "Ctrl-C stops)", highlight=False, soft_wrap=True)  # fmt: skip
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    asyncio.run(server.serve(sockets=[sock]))
    return 0


def status_command(args: argparse.Namespace) -> int:
    """Read from PostgreSQL alone: it answers whether or not any gateway or agent is running."""
    config = _cluster_config(args.config, {})

    async def read() -> ClusterOverview:
        from alluse.cluster.overview import read_overview
        from alluse.cluster.service import postgres_connection

        async with postgres_connection(config) as conn:
            return await read_overview(conn, config.cluster.login)

    o = asyncio.run(read())
    if o.lease is None:
        lease = "no gateway has held it yet"
    else:
        holder, token, valid = o.lease
        lease = f"held by {holder} with fencing token {token}" if valid else f"expired (last {holder}, token {token})"
    lines = [f"login {o.login}: lease {lease}"]
    lines += [f"agent {a.name} (epoch {a.epoch}): {a.accounts} accounts, heartbeat {a.heartbeat_age_s:.1f} s ago"
              for a in o.agents]  # fmt: skip
    lines.append(f"accounts unassigned: {o.unassigned}")
    lines.append("accounts not ACTIVE: " + (", ".join(f"{a} {s}" for a, s in o.not_active.items()) or "none"))
    lines.append("orders: " + (", ".join(f"{n} {s}" for s, n in sorted(o.orders.items())) or "none") +
                 f"; fills: {o.fills}")  # fmt: skip
    for line in lines:
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    return 0


def state_command(args: argparse.Namespace) -> int:
    """Recorded in PostgreSQL: the agent running each account applies it at its next heartbeat, and it follows
    the account to any later agent."""
    config = _cluster_config(args.config, {})

    async def record() -> list[str]:
        from alluse.app.operator import SOURCE
        from alluse.cluster.assignment import assignments
        from alluse.cluster.service import postgres_connection
        from alluse.cluster.states import set_state
        from alluse.model import TradingState

        async with postgres_connection(config) as conn:
            accounts = args.account or list(await assignments(conn, config.cluster.login))
            async with conn.transaction():  # all the accounts, or none (an unknown one is refused by name)
                for account in accounts:
                    await set_state(conn, account, TradingState(args.trading_state), args.reason, SOURCE)
        return list(accounts)

    done = asyncio.run(record())
    console.print(f"{', '.join(done) or 'no accounts'} -> {args.trading_state} ({args.reason})", markup=False,
                  highlight=False)  # fmt: skip
    return 0


def agent_command(args: argparse.Namespace) -> int:
    config = _cluster_config(args.config, {})

    async def serve() -> int:
        from alluse.cluster.exposition import AgentReadings, agent_health
        from alluse.cluster.service import connect_agent_service

        stop = _stop_event(args.duration)
        async with connect_agent_service(config, args.name) as agent:
            async with _monitored(
                config,
                f"agent {args.name}",
                agent.pool,
                AgentReadings(agent),
                lambda: agent_health(agent),
                args.metrics_port,
                agent.loss_limit_used,
                agent.market_open,
            ) as where:
                console.print(f"agent {args.name}: login {config.cluster.login}, {len(config.accounts)} accounts in "
                              f"its configuration{where}; joining (Ctrl-C stops)", highlight=False,
                              soft_wrap=True)  # fmt: skip
                await agent.run(stop)
            c = agent.counts
            console.print(f"agent {args.name}: {c.tenures} tenures, {c.rebuilds} rebuilds, {c.orders_committed} "
                          f"orders committed, {c.refused_not_owner} refused (account moved), {c.pauses} pauses",
                          highlight=False, soft_wrap=True)  # fmt: skip
        return 0

    return asyncio.run(serve())


def gateway_command(args: argparse.Namespace) -> int:
    config = _cluster_config(args.config, {"cluster": {"login": args.login}, "ibkr": {"port": args.ib_port}})

    async def serve() -> int:
        from alluse.cluster.exposition import GatewayReadings, gateway_health
        from alluse.cluster.service import connect_gateway_service

        stop = _stop_event(args.duration)
        async with connect_gateway_service(config, args.holder) as service:
            readings = GatewayReadings(service)
            async with _monitored(
                config,
                f"gateway {service.holder}",
                service.pool,
                readings,
                lambda: gateway_health(service),
                args.metrics_port,
            ) as where:
                console.print(f"gateway service {service.holder}: login {config.cluster.login}, IB at "
                              f"{config.ibkr.host}:{config.ibkr.port}{where}; standing by for the lease (Ctrl-C "
                              "stops)", highlight=False, soft_wrap=True)  # fmt: skip
                await service.run(stop)
            c = service.counts
            console.print(f"gateway service {service.holder}: {c.leases_taken} leases taken, {c.sent} orders sent "
                          f"({c.resent_after_takeover} after a takeover), {c.claims_refused} claims refused, "
                          f"{c.refused_no_lease} sends stopped without a lease, {c.commands_reclaimed} commands "
                          f"reclaimed, {c.fills_recorded} fills recorded, {c.pauses} pauses", highlight=False,
                          soft_wrap=True)  # fmt: skip
        return 0

    return asyncio.run(serve())
