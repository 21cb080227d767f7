"""Which agent runs which account: a table in PostgreSQL, heartbeats, and tenures.

An agent joins with a new tenure (its name and an epoch from a sequence: a restarted agent is a new tenure,
since the old process may still be alive somewhere). It beats its heartbeat, and at every beat rebalances:
accounts of agents whose heartbeat is older than the timeout are freed, an agent holding more than its share
(ceil(accounts / live agents)) gives the surplus back, and one holding fewer takes free ones. Every step runs
under one advisory lock per login, on PostgreSQL's clock.

An account is traded by one tenure at a time because the agent commits its orders only while its tenure owns
the account (`owns_for_order`: the account row is read FOR SHARE in the order's own transaction, so a release
or takeover waits for that commit and the next owner reads the order when it loads the account)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import asyncpg

log = logging.getLogger("alluse.cluster.assignment")

ASSIGN_LOCK = 0x61676E74  # pg_advisory_xact_lock's first key: "agnt"; the second is the login's hash


class AgentFenced(Exception):
    """This tenure is over (its heartbeat lapsed and its accounts moved, or its name joined again elsewhere)."""


@dataclass(frozen=True, slots=True)
class Tenure:
    agent: str
    epoch: int


async def join(conn: asyncpg.Connection, agent: str) -> Tenure:
    """A new tenure for `agent`: what an earlier one of the same name held is free from now on."""
    epoch = await conn.fetchval(
        """INSERT INTO agents (name, epoch, started_at, heartbeat_at)
           VALUES ($1, nextval('agent_epochs'), clock_timestamp(), clock_timestamp())
           ON CONFLICT (name) DO UPDATE SET epoch = EXCLUDED.epoch, started_at = EXCLUDED.started_at,
               heartbeat_at = EXCLUDED.heartbeat_at
           RETURNING epoch""",
        agent,
    )  # fmt: skip
    log.info("agent %s joined with epoch %d", agent, epoch)
    return Tenure(agent, int(epoch))


async def heartbeat(conn: asyncpg.Connection, tenure: Tenure, timeout_s: float) -> None:
    """Beat, if the tenure is still alive: a heartbeat older than `timeout_s` is never revived (its accounts may
    have moved; the agent must join again and load them afresh)."""
    done = await conn.fetchval(
        """UPDATE agents SET heartbeat_at = clock_timestamp()
           WHERE name = $1 AND epoch = $2 AND heartbeat_at > clock_timestamp() - make_interval(secs => $3)
           RETURNING true""",
        tenure.agent, tenure.epoch, float(timeout_s),
    )  # fmt: skip
    if not done:
        raise AgentFenced(f"agent {tenure.agent} epoch {tenure.epoch}: heartbeat lapsed or joined again elsewhere")


async def rebalance(conn: asyncpg.Connection, tenure: Tenure, login: str, timeout_s: float) -> list[str]:
    """Free the accounts of agents gone silent, give back this tenure's surplus, take free accounts up to its
    share; the accounts it runs now, sorted."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", ASSIGN_LOCK, login)
        live = await conn.fetch(
            "SELECT name, epoch FROM agents WHERE heartbeat_at > clock_timestamp() - make_interval(secs => $1)",
            float(timeout_s),
        )
        if (tenure.agent, tenure.epoch) not in {(r["name"], r["epoch"]) for r in live}:
            raise AgentFenced(f"agent {tenure.agent} epoch {tenure.epoch}: heartbeat lapsed")
        silent = await conn.fetch(
            """SELECT account, agent FROM accounts a WHERE login = $1 AND agent IS NOT NULL AND NOT EXISTS (
                   SELECT 1 FROM agents g WHERE g.name = a.agent AND g.epoch = a.agent_epoch
                   AND g.heartbeat_at > clock_timestamp() - make_interval(secs => $2))""",
            login, float(timeout_s),
        )  # fmt: skip
        if silent:
            await conn.execute(
                "UPDATE accounts SET agent = NULL, agent_epoch = NULL, assigned_at = NULL WHERE account = ANY($1)",
                [r["account"] for r in silent],
            )
            gone = sorted({r["agent"] for r in silent})
            log.warning("%d accounts freed from silent agents %s", len(silent), ", ".join(gone))
        total = await conn.fetchval("SELECT count(*) FROM accounts WHERE login = $1", login)
        share = math.ceil(total / len(live)) if total else 0
        mine = await conn.fetch(
            "SELECT account FROM accounts WHERE login = $1 AND agent = $2 AND agent_epoch = $3 ORDER BY account",
            login, tenure.agent, tenure.epoch,
        )  # fmt: skip
        held = [r["account"] for r in mine]
        if len(held) > share:  # another agent joined: the surplus goes back, the highest names first
            surplus = held[share:]
            await conn.execute(
                "UPDATE accounts SET agent = NULL, agent_epoch = NULL, assigned_at = NULL WHERE account = ANY($1)",
                surplus,
            )
            held = held[:share]
        elif len(held) < share:
            taken = await conn.fetch(
                """UPDATE accounts SET agent = $2, agent_epoch = $3, assigned_at = clock_timestamp()
                   WHERE account IN (SELECT account FROM accounts WHERE login = $1 AND agent IS NULL
                                     ORDER BY account LIMIT $4 FOR UPDATE SKIP LOCKED)
                   RETURNING account""",
                login, tenure.agent, tenure.epoch, share - len(held),
            )  # fmt: skip
            held = sorted(held + [r["account"] for r in taken])
    return held


async def leave(conn: asyncpg.Connection, tenure: Tenure) -> None:
    """A clean stop: the accounts are free at once, not after the heartbeat timeout."""
    async with conn.transaction():
        await conn.execute(
            "UPDATE accounts SET agent = NULL, agent_epoch = NULL, assigned_at = NULL WHERE agent = $1 "
            "AND agent_epoch = $2",
            tenure.agent, tenure.epoch,
        )  # fmt: skip
        await conn.execute("DELETE FROM agents WHERE name = $1 AND epoch = $2", tenure.agent, tenure.epoch)
    log.info("agent %s epoch %d left", tenure.agent, tenure.epoch)


async def owns_for_order(conn: asyncpg.Connection, tenure: Tenure, account: str) -> bool:
    """Inside an order's transaction: whether this tenure runs `account`, holding the row until the commit."""
    found = await conn.fetchval(
        "SELECT true FROM accounts WHERE account = $1 AND agent = $2 AND agent_epoch = $3 FOR SHARE",
        account, tenure.agent, tenure.epoch,
    )  # fmt: skip
    return bool(found)


async def silent_agents(conn: asyncpg.Connection, timeout_s: float) -> list[str]:
    """Agents that stopped beating without leaving (a clean stop leaves): dead, or cut off, until they join again."""
    rows = await conn.fetch(
        "SELECT name FROM agents WHERE heartbeat_at <= clock_timestamp() - make_interval(secs => $1) ORDER BY name",
        float(timeout_s),
    )
    return [r["name"] for r in rows]


async def assignments(conn: asyncpg.Connection, login: str) -> dict[str, str | None]:
    """account -> agent running it (None: unassigned)."""
    rows = await conn.fetch("SELECT account, agent FROM accounts WHERE login = $1 ORDER BY account", login)
    return {r["account"]: r["agent"] for r in rows}
