"""Trading states (ACTIVE, REDUCING, HALTED) kept in PostgreSQL, so a halt follows its account to whichever
agent runs it next, and an operator can set one without knowing which agent that is (`alluse cluster halt`).

An agent seeds its trading system's states from the table when it builds it, applies changes it has not seen
(by version) at every heartbeat, and writes back the changes its own risk gate makes (a loss limit's halt)."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from alluse.model import TradingState
from alluse.model.base import InvalidInput


@dataclass(frozen=True, slots=True)
class StoredState:
    state: TradingState
    reason: str
    source: str
    version: int


async def set_state(conn: asyncpg.Connection, account: str, state: TradingState, reason: str, source: str) -> int:
    """Record `account`'s state; its new version. An account the cluster does not know is refused by name."""
    version = await conn.fetchval(
        """INSERT INTO trading_states AS t (account, state, reason, source)
           SELECT account, $2, $3, $4 FROM accounts WHERE account = $1
           ON CONFLICT (account) DO UPDATE SET state = EXCLUDED.state, reason = EXCLUDED.reason,
               source = EXCLUDED.source, version = t.version + 1, set_at = clock_timestamp()
           RETURNING version""",
        account, state.value, reason, source,
    )  # fmt: skip
    if version is None:
        raise InvalidInput("account", account, "not an account of the cluster")
    return int(version)


async def states_of(conn: asyncpg.Connection, accounts: list[str]) -> dict[str, StoredState]:
    rows = await conn.fetch(
        "SELECT account, state, reason, source, version FROM trading_states WHERE account = ANY($1)", accounts
    )
    return {r["account"]: StoredState(TradingState(r["state"]), r["reason"], r["source"], r["version"]) for r in rows}
