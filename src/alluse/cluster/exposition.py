"""`/metrics` and `/health` for the cluster's processes, on the server the single process uses
(monitoring/http.py), so one Prometheus scrapes the gateway services and every agent with the same rules.

An agent's readings are its own counts and states plus, while it trades, every component of its current
trading system (the same series `alluse run` exports: orders, fills, risk, the ledger, the quote cache); a
gateway service's are its counts, its lease and, while active, its broker's and the quote publisher's."""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Iterable, Iterator
from typing import Any

from alluse.cluster import rules
from alluse.cluster.agent import AgentService
from alluse.cluster.gateway import GatewayService
from alluse.common.metrics import Metric, MetricSource, counter, gauge
from alluse.monitoring.exporter import PrometheusExporter
from alluse.monitoring.http import MetricsServer
from alluse.monitoring.resources import ResourceSampler
from alluse.monitoring.service import MarketSession


def _counts(prefix: str, what: str, counts: object) -> Iterator[Metric]:
    for f in dataclasses.fields(counts):  # type: ignore[arg-type]
        words = f.name.replace("_", " ")
        yield counter(f"{prefix}_{f.name}_total", f"{what}: {words}", getattr(counts, f.name))


def _process() -> ResourceSampler:
    """This process's memory and CPU (the disk it reports: the temporary directory's, where agents keep their
    scratch journals)."""
    return ResourceSampler(tempfile.gettempdir())


class AgentReadings:
    def __init__(self, agent: AgentService) -> None:
        self.agent = agent
        self.resources = _process()
        self.session = MarketSession(agent.market_open)  # for Prometheus' rules held to the session

    def metrics(self) -> Iterable[Metric]:
        yield from self.resources.metrics()
        yield from self.session.metrics()
        a = self.agent
        yield gauge("alluse_cluster_agent_info", "This agent and its state", 1, agent=a.name, state=a.state)
        yield gauge("alluse_cluster_agent_accounts", "Accounts this agent runs now", len(a.accounts), agent=a.name)
        # no label: the rule (cluster/rules.py) names the series as is; the process is the scrape's instance
        yield gauge(rules.AGENTS_SILENT, "Other agents that stopped beating without leaving", len(a.silent_agents))
        yield from _counts("alluse_cluster_agent", "Agent", a.counts)
        if a.system is not None:
            for source in a.system.metric_sources():
                yield from source.metrics()


class GatewayReadings:
    def __init__(self, gateway: GatewayService) -> None:
        self.gateway = gateway
        self.resources = _process()

    def metrics(self) -> Iterable[Metric]:
        yield from self.resources.metrics()
        g = self.gateway
        active = g.active
        yield gauge("alluse_cluster_gateway_active", "1 while this gateway service holds the login's lease",
                    1 if active is not None else 0, holder=g.holder, state=g.state)  # fmt: skip
        if active is not None:
            yield gauge("alluse_cluster_lease_token", "The fencing token of the lease held", active.lease.token)
            yield gauge("alluse_cluster_orders_held", "A gone gateway's orders held, never sent twice",
                        len(active.held))  # fmt: skip
            if isinstance(active.broker, MetricSource):
                yield from active.broker.metrics()
        yield from _counts("alluse_cluster_gateway", "Gateway service", g.counts)
        if g.quotes is not None:
            yield from g.quotes.metrics()


def agent_health(agent: AgentService) -> dict[str, Any]:
    system = agent.system
    connected = system is not None and system.c.broker.connected
    report: dict[str, Any] = {} if system is None else system.health()
    why = [] if connected else [f"agent {agent.state}"]
    return {**report, "ready": connected and bool(report.get("ready")), "not_ready": why + report.get("not_ready", []),
            "last_quote_age_s": report.get("last_quote_age_s"), "broker_connected": connected,
            "firing_alerts": report.get("firing_alerts", []), "agent": agent.name, "state": agent.state,
            "accounts": len(agent.accounts)}  # fmt: skip


def gateway_health(gateway: GatewayService) -> dict[str, Any]:
    """A standby is healthy too: ready means serving its purpose (active and sending, or standing by)."""
    ok = gateway.state in ("active", "standby")
    return {"ready": ok, "not_ready": [] if ok else [gateway.state], "last_quote_age_s": None,
            "broker_connected": gateway.active is not None and gateway.active.broker.connected,
            "firing_alerts": [], "holder": gateway.holder, "state": gateway.state}  # fmt: skip


async def serve(sources: list[MetricSource], health: Any, host: str, port: int) -> MetricsServer:
    server = MetricsServer(PrometheusExporter(sources), health)
    await server.start(host, port)
    return server
