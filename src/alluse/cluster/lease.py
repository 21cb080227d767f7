"""The gateway lease: exactly one gateway per broker login holds the broker session, and its fencing token
proves it. Times are PostgreSQL's own clock (`clock_timestamp()`), so gateways on machines whose clocks
disagree still agree on when a lease expired.

A holder is one process's identity (host, pid, a random part): a restarted gateway is a new holder and gets a
new token, because the old process may still be alive somewhere (paused, partitioned). The token rises by one
at every change of holder and is never reused; every order a gateway sends is claimed under its token
(cluster/records.py `claim_for_send`), so a gateway that lost its lease can no longer claim anything."""

from __future__ import annotations

import logging
import os
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime

import asyncpg

log = logging.getLogger("alluse.cluster.lease")


class LeaseLost(Exception):
    """The lease expired or another gateway holds it now: stop sending at once."""


@dataclass(frozen=True, slots=True)
class Lease:
    login: str
    holder: str
    token: int  # the fencing token
    expires_at: datetime


def holder_name() -> str:
    """This process, unique across restarts and machines."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


async def acquire(conn: asyncpg.Connection, login: str, holder: str, ttl_s: float) -> Lease | None:
    """The login's lease if it was free or expired (with the next token); None while another holds it."""
    row = await conn.fetchrow(
        """INSERT INTO gateway_lease AS l (login, holder, token, acquired_at, expires_at)
           VALUES ($1, $2, 1, clock_timestamp(), clock_timestamp() + make_interval(secs => $3))
           ON CONFLICT (login) DO UPDATE SET holder = EXCLUDED.holder, token = l.token + 1,
               acquired_at = EXCLUDED.acquired_at, expires_at = EXCLUDED.expires_at
           WHERE l.expires_at <= clock_timestamp()
           RETURNING token, expires_at""",
        login, holder, float(ttl_s),
    )  # fmt: skip
    if row is None:
        return None
    lease = Lease(login, holder, int(row["token"]), row["expires_at"])
    log.info("lease on %s taken by %s with fencing token %d", login, holder, lease.token)
    return lease


async def renew(conn: asyncpg.Connection, lease: Lease, ttl_s: float) -> Lease:
    """Extend a lease still held; an expired one is never revived (the holder must acquire again, with a new
    token, and reconcile: it cannot know what happened while it had no lease)."""
    expires_at = await conn.fetchval(
        """UPDATE gateway_lease SET expires_at = clock_timestamp() + make_interval(secs => $3)
           WHERE login = $1 AND token = $2 AND expires_at > clock_timestamp() RETURNING expires_at""",
        lease.login, lease.token, float(ttl_s),
    )  # fmt: skip
    if expires_at is None:
        raise LeaseLost(f"lease on {lease.login} with fencing token {lease.token}: expired or taken over")
    return Lease(lease.login, lease.holder, lease.token, expires_at)


async def release(conn: asyncpg.Connection, lease: Lease) -> bool:
    """End a lease at once (a clean stop): a standby takes it at its next try instead of at expiry."""
    done = await conn.fetchval(
        """UPDATE gateway_lease SET expires_at = clock_timestamp()
           WHERE login = $1 AND token = $2 AND expires_at > clock_timestamp() RETURNING token""",
        lease.login, lease.token,
    )  # fmt: skip
    if done is not None:
        log.info("lease on %s with fencing token %d released", lease.login, lease.token)
    return done is not None


async def current(conn: asyncpg.Connection, login: str) -> tuple[str, int, bool] | None:
    """(holder, token, still valid) of the login's lease, or None if none was ever taken."""
    row = await conn.fetchrow(
        "SELECT holder, token, expires_at > clock_timestamp() AS valid FROM gateway_lease WHERE login = $1", login
    )
    return None if row is None else (row["holder"], int(row["token"]), bool(row["valid"]))
