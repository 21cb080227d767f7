"""The cluster's PostgreSQL schema and its upgrades: every process runs `migrate` at start-up; the steps a
database lacks run in ONE transaction under an advisory lock, so two processes starting together upgrade it
once, and a failing step leaves the database at its old version (PostgreSQL's DDL is transactional). A
database newer than the code is refused before anything runs, as the SQLite stores do (common/migrations.py).

The tables carry the rules across processes: an order row is committed before any gateway may send it, a
fill is unique on the broker's execution id, the lease's fencing token rises at every change of holder."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

log = logging.getLogger("alluse.cluster.schema")

MIGRATION_LOCK = 0x616C6C75  # pg_advisory_xact_lock key: "allu"


class SchemaError(Exception):
    """A database this program cannot use or upgrade, named in one line."""


@dataclass(frozen=True, slots=True)
class PgStep:
    """Version `to - 1` -> `to`: statements run in order, inside the upgrade's transaction."""

    to: int
    what: str
    statements: tuple[str, ...]


STEPS: tuple[PgStep, ...] = (
    PgStep(1, "the gateway lease, order ids, accounts, orders, events and fills", (
        """CREATE TABLE gateway_lease (
            login text PRIMARY KEY,
            holder text NOT NULL,
            token bigint NOT NULL,  -- the fencing token: +1 at every change of holder, never reused
            acquired_at timestamptz NOT NULL,
            expires_at timestamptz NOT NULL
        )""",
        """CREATE TABLE order_ids (  -- the broker's order-id high-water mark per login, kept across gateways
            login text PRIMARY KEY,
            next_id bigint NOT NULL CHECK (next_id > 0)
        )""",
        """CREATE TABLE accounts (
            account text PRIMARY KEY,
            login text NOT NULL,
            agent text,  -- the agent that runs it now, NULL while unassigned
            assigned_at timestamptz
        )""",
        """CREATE TABLE orders (
            client_order_id text PRIMARY KEY,  -- the idempotency key end to end (the broker's orderRef)
            account text NOT NULL REFERENCES accounts,
            login text NOT NULL,
            instrument_id text NOT NULL,
            side text NOT NULL CHECK (side IN ('BUY', 'SELL')),
            quantity integer NOT NULL CHECK (quantity > 0),
            order_type text NOT NULL,
            limit_price numeric CHECK (limit_price IS NULL OR limit_price > 0),
            time_in_force text NOT NULL,
            status text NOT NULL,
            filled_qty integer NOT NULL DEFAULT 0 CHECK (filled_qty >= 0 AND filled_qty <= quantity),
            created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            sent_token bigint,  -- the fencing token of the gateway that sent it; NULL: never sent
            sent_by text,
            sent_at timestamptz,
            broker_order_id bigint,
            reason text NOT NULL DEFAULT ''
        )""",
        "CREATE INDEX orders_unsent ON orders (login, created_at) WHERE sent_token IS NULL",
        "CREATE INDEX orders_account ON orders (account)",
        """CREATE TABLE fills (
            exec_id text PRIMARY KEY,  -- the broker's execution id: a fill seen twice is stored once
            client_order_id text NOT NULL REFERENCES orders,
            account text NOT NULL,
            instrument_id text NOT NULL,
            side text NOT NULL CHECK (side IN ('BUY', 'SELL')),
            quantity integer NOT NULL CHECK (quantity > 0),
            price numeric NOT NULL CHECK (price > 0),
            commission numeric NOT NULL,
            multiplier integer NOT NULL CHECK (multiplier > 0),
            ts_event bigint NOT NULL,
            recorded_at timestamptz NOT NULL DEFAULT clock_timestamp()
        )""",
        "CREATE INDEX fills_account ON fills (account)",
        """CREATE TABLE order_events (
            id bigserial PRIMARY KEY,
            client_order_id text NOT NULL REFERENCES orders,
            kind text NOT NULL,
            detail text NOT NULL DEFAULT '',
            fence bigint,  -- the sending gateway's token, where a gateway wrote it
            at timestamptz NOT NULL DEFAULT clock_timestamp()
        )""",
    )),
    PgStep(2, "orders: the broker session they were sent on", (
        "ALTER TABLE orders ADD COLUMN sent_session text",  # IB: the client id; NULL: a broker without sessions
    )),
    PgStep(3, "agents, their heartbeats and tenures; cancel requests", (
        """CREATE TABLE agents (
            name text PRIMARY KEY,
            epoch bigint NOT NULL,  -- this tenure's number: a restarted agent is a new tenure
            started_at timestamptz NOT NULL,
            heartbeat_at timestamptz NOT NULL
        )""",
        "CREATE SEQUENCE agent_epochs",
        "ALTER TABLE accounts ADD COLUMN agent_epoch bigint",  # with `agent`: the tenure that runs it
        "CREATE INDEX accounts_login ON accounts (login, account)",
        "ALTER TABLE orders ADD COLUMN cancel_requested boolean NOT NULL DEFAULT false",
    )),
    PgStep(4, "trading states that follow an account from agent to agent", (
        """CREATE TABLE trading_states (
            account text PRIMARY KEY REFERENCES accounts,
            state text NOT NULL CHECK (state IN ('ACTIVE', 'REDUCING', 'HALTED')),
            reason text NOT NULL,
            source text NOT NULL,  -- who set it: an operator, an agent's risk gate
            version bigint NOT NULL DEFAULT 1,  -- +1 at every change: an agent applies what it has not seen
            set_at timestamptz NOT NULL DEFAULT clock_timestamp()
        )""",
    )),
    PgStep(5, "fills: settlements at expiry (no order behind them; an option closed at 0)", (
        "ALTER TABLE fills DROP CONSTRAINT fills_client_order_id_fkey",
        "ALTER TABLE fills DROP CONSTRAINT fills_price_check",
        "ALTER TABLE fills ADD CONSTRAINT fills_price_check CHECK (price >= 0)",
    )),
    PgStep(6, "the metrics and alert events of every process", (
        """CREATE TABLE metric_samples (
            process text NOT NULL,  -- 'agent a1', 'gateway gw-a': who read it
            series text NOT NULL,  -- as the collector names it (monitoring/collector.py)
            ts timestamptz NOT NULL,
            value float8 NOT NULL
        )""",
        "CREATE INDEX metric_samples_process ON metric_samples (process, series, ts)",
        "CREATE INDEX metric_samples_ts ON metric_samples (ts)",
        """CREATE TABLE alert_events (
            seq bigserial PRIMARY KEY,
            process text NOT NULL,
            rule text NOT NULL,
            severity text NOT NULL,
            state text NOT NULL CHECK (state IN ('firing', 'resolved')),
            metric text NOT NULL,
            comparison text NOT NULL,
            value float8 NOT NULL,
            threshold float8 NOT NULL,
            ts timestamptz NOT NULL,
            started_at timestamptz NOT NULL,  -- when the episode fired
            description text NOT NULL
        )""",
        "CREATE INDEX alert_events_process ON alert_events (process, rule, seq)",
    )),
)  # fmt: skip
VERSION = STEPS[-1].to


async def migrate(conn: asyncpg.Connection, steps: Sequence[PgStep] = STEPS) -> int:
    """Bring the database up to the last step, all or nothing; returns the version found before."""
    version = steps[-1].to
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)")
        found = await conn.fetchval("SELECT max(version) FROM schema_version") or 0
        if found > version:
            raise SchemaError(
                f"cluster database: schema version {found} is newer than this program's {version}; upgrade alluse "
                "(database left untouched)"
            )
        for step in steps[found:]:
            try:
                for statement in step.statements:
                    await conn.execute(statement)
            except asyncpg.PostgresError as exc:
                raise SchemaError(
                    f"cluster database: upgrade to schema version {step.to} ({step.what}) failed: "
                    f"{type(exc).__name__}: {exc}; database left at version {found}"
                ) from None
        if found < version:
            await conn.execute("DELETE FROM schema_version")
            await conn.execute("INSERT INTO schema_version VALUES ($1)", version)
    if found < version:
        log.info("cluster database: schema version %d -> %d", found, version)
    return int(found)
