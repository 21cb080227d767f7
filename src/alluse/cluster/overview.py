"""What the whole cluster is doing, read from PostgreSQL alone (the system of record): the lease and its
holder, every agent with its heartbeat and accounts, the accounts not running normally, and the orders by
state. What `alluse cluster status` prints; any process can read it, none has to be asked."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True, slots=True)
class AgentRow:
    name: str
    epoch: int
    heartbeat_age_s: float
    accounts: int


@dataclass(frozen=True, slots=True)
class ClusterOverview:
    login: str
    lease: tuple[str, int, bool] | None  # holder, fencing token, still valid
    agents: list[AgentRow]
    unassigned: int  # accounts no live agent runs
    not_active: dict[str, str]  # account -> its trading state, where it is not ACTIVE
    orders: dict[str, int]  # status -> count
    fills: int


async def read_overview(conn: asyncpg.Connection, login: str) -> ClusterOverview:
    lease = await conn.fetchrow(
        "SELECT holder, token, expires_at > clock_timestamp() AS valid FROM gateway_lease WHERE login = $1", login
    )
    agents = await conn.fetch(
        """SELECT g.name, g.epoch, extract(epoch FROM clock_timestamp() - g.heartbeat_at)::float8 AS age,
                  count(a.account) AS accounts
           FROM agents g LEFT JOIN accounts a ON a.agent = g.name AND a.agent_epoch = g.epoch AND a.login = $1
           GROUP BY g.name, g.epoch, g.heartbeat_at ORDER BY g.name""",
        login,
    )  # fmt: skip
    unassigned = await conn.fetchval("SELECT count(*) FROM accounts WHERE login = $1 AND agent IS NULL", login)
    states = await conn.fetch(
        """SELECT t.account, t.state FROM trading_states t JOIN accounts a USING (account)
           WHERE a.login = $1 AND t.state <> 'ACTIVE' ORDER BY t.account""",
        login,
    )  # fmt: skip
    orders = await conn.fetch("SELECT status, count(*) AS n FROM orders WHERE login = $1 GROUP BY status", login)
    fills = await conn.fetchval(
        "SELECT count(*) FROM fills f JOIN accounts a USING (account) WHERE a.login = $1", login
    )
    return ClusterOverview(
        login=login,
        lease=None if lease is None else (lease["holder"], int(lease["token"]), bool(lease["valid"])),
        agents=[AgentRow(r["name"], int(r["epoch"]), float(r["age"]), int(r["accounts"])) for r in agents],
        unassigned=int(unassigned),
        not_active={r["account"]: r["state"] for r in states},
        orders={r["status"]: int(r["n"]) for r in orders},
        fills=int(fills),
    )
