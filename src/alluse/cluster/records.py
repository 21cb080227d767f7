"""The system of record across processes: orders keyed by client order id, fills unique on the broker's
execution id, positions rebuilt from fills, the broker order-id high-water mark.

The journal-before-send rule, kept across processes: an agent commits the order row (`record_order`) before
it publishes the command; a gateway sends only an order it has claimed (`claim_for_send`), and a claim
succeeds only once per order and only under the login's valid lease, in one statement, so a gateway that lost
its lease, or a second command for the same order, finds nothing to send."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import asyncpg

from alluse.cluster.lease import Lease, LeaseLost
from alluse.model.base import InvalidInput
from alluse.model.enums import TERMINAL_STATUSES, OrderStatus
from alluse.model.events import EventKind, OrderEvent
from alluse.model.orders import Fill, Order

ORDER_FIELDS = ("account", "instrument_id", "side", "quantity", "order_type", "limit_price", "time_in_force")

# the lease clause every fenced statement shares: the login's lease is held with this token, now
_FENCE = "l.login = o.login AND l.token = $2 AND l.expires_at > clock_timestamp()"


# the statuses an order never leaves, as SQL: the model's own list
_FINAL = "(" + ", ".join(sorted(f"'{s.value}'" for s in TERMINAL_STATUSES)) + ")"
_SIGNED = "CASE side WHEN 'BUY' THEN quantity ELSE -quantity END"  # a fill's quantity, signed by its side
_STATUS_OF = {EventKind.ACCEPTED: OrderStatus.ACCEPTED, EventKind.CANCELED: OrderStatus.CANCELED,
              EventKind.REJECTED: OrderStatus.REJECTED, EventKind.EXPIRED: OrderStatus.EXPIRED}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Claimed:
    """An order a gateway may send now, under its token."""

    client_order_id: str
    account: str
    instrument_id: str
    side: str
    quantity: int
    order_type: str
    limit_price: Decimal | None
    time_in_force: str
    token: int


async def register_accounts(conn: asyncpg.Connection, login: str, accounts: list[str]) -> None:
    await conn.executemany(
        "INSERT INTO accounts (account, login) VALUES ($1, $2) ON CONFLICT (account) DO NOTHING",
        [(a, login) for a in accounts],
    )


def _order_row(order: Order) -> tuple[object, ...]:
    return (order.account, order.instrument_id, order.side.value, order.quantity, order.order_type.value,
            order.limit_price, order.time_in_force.value)  # fmt: skip


async def record_order(conn: asyncpg.Connection, order: Order, login: str) -> bool:
    """Commit the order before anyone may send it. True if new; False if this very order was recorded before
    (a resend after a crash: nothing changes). The same id with other content is refused by name: an id
    reused after a restart must never replace, or be taken for, another order."""
    row = _order_row(order)
    inserted = await conn.fetchval(
        """INSERT INTO orders (client_order_id, login, account, instrument_id, side, quantity, order_type,
               limit_price, time_in_force, status)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'SUBMITTED')
           ON CONFLICT (client_order_id) DO NOTHING RETURNING true""",
        order.client_order_id, login, *row,
    )  # fmt: skip
    if inserted:
        return True
    stored = await conn.fetchrow(
        f"SELECT {', '.join(ORDER_FIELDS)} FROM orders WHERE client_order_id = $1", order.client_order_id
    )
    if stored is None or tuple(stored.values()) != row:
        raise InvalidInput("client_order_id", order.client_order_id, "already used by another order")
    return False


async def claim_for_send(
    conn: asyncpg.Connection, client_order_id: str, lease: Lease, session: str | None, *, from_older: bool = False
) -> Claimed | None:
    """The order, stamped as sent under `lease`'s token on broker `session`, if it was never sent and the lease
    is still held; None otherwise (sent before, by this gateway or another, or the lease is lost).
    `from_older`: instead, an order a gateway that is gone claimed on this same session and the broker never
    received (gateway.py `_recover` says when that is safe)."""
    unsent = "o.sent_token < $2 AND o.sent_session IS NOT DISTINCT FROM $4" if from_older else "o.sent_token IS NULL"
    row = await conn.fetchrow(
        f"""UPDATE orders o SET sent_token = $2, sent_by = $3, sent_session = $4, sent_at = clock_timestamp()
            FROM gateway_lease l
            WHERE o.client_order_id = $1 AND {unsent} AND o.status NOT IN {_FINAL} AND {_FENCE}
            RETURNING o.client_order_id, {', '.join('o.' + f for f in ORDER_FIELDS)}""",
        client_order_id, lease.token, lease.holder, session,
    )  # fmt: skip
    return None if row is None else Claimed(**dict(row), token=lease.token)


async def unclaim(conn: asyncpg.Connection, client_order_id: str, lease: Lease) -> None:
    """An order claimed under `lease` that did not reach the broker (disconnected): to be sent again."""
    await conn.execute(
        "UPDATE orders SET sent_token = NULL, sent_by = NULL, sent_session = NULL, sent_at = NULL "
        "WHERE client_order_id = $1 AND sent_token = $2",
        client_order_id, lease.token,
    )  # fmt: skip


async def cancel_unsent(conn: asyncpg.Connection, client_order_id: str, lease: Lease) -> bool:
    """Cancel an order no gateway has claimed, under the lease (a claim and this cannot both succeed: each
    takes the row and looks again). True if cancelled here; False if it was claimed or is final."""
    async with conn.transaction():
        done = await conn.fetchval(
            f"""UPDATE orders o SET status = 'CANCELED', reason = 'cancelled before it was sent'
                FROM gateway_lease l
                WHERE o.client_order_id = $1 AND o.sent_token IS NULL AND o.status NOT IN {_FINAL} AND {_FENCE}
                RETURNING true""",
            client_order_id, lease.token,
        )  # fmt: skip
        if done:
            await conn.execute(
                "INSERT INTO order_events (client_order_id, kind, detail, fence) VALUES ($1, 'CANCELED', $2, $3)",
                client_order_id, "cancelled before it was sent", lease.token,
            )  # fmt: skip
    return bool(done)


async def cancels_outstanding(conn: asyncpg.Connection, login: str) -> list[str]:
    """Orders whose cancel was asked and that are not final: a new lease holder asks again."""
    rows = await conn.fetch(
        f"SELECT client_order_id FROM orders WHERE login = $1 AND cancel_requested AND status NOT IN {_FINAL} "
        "ORDER BY created_at",
        login,
    )  # fmt: skip
    return [r["client_order_id"] for r in rows]


async def sent_by_older(conn: asyncpg.Connection, login: str, token: int) -> list[tuple[str, str | None]]:
    """(client order id, broker session) of the orders claimed under an older token and not final: each is at
    the broker, or was never sent, or may still be sent by that session if its holder is alive."""
    rows = await conn.fetch(
        "SELECT client_order_id, sent_session FROM orders WHERE login = $1 AND sent_token < $2 "
        f"AND status NOT IN {_FINAL} ORDER BY created_at",
        login, token,
    )  # fmt: skip
    return [(r["client_order_id"], r["sent_session"]) for r in rows]


async def record_event(conn: asyncpg.Connection, event: OrderEvent, fence: int) -> None:
    """A broker event other than a fill: its row, and the order's status where the event decides it."""
    status = _STATUS_OF.get(event.kind)
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO order_events (client_order_id, kind, detail, fence) VALUES ($1, $2, $3, $4)",
            event.client_order_id, event.kind.value, event.reason, fence,
        )  # fmt: skip
        if status is not None:  # an acknowledgement never takes a (partly) filled order back; nothing leaves a final
            await conn.execute(
                f"UPDATE orders SET status = $2, reason = $3 WHERE client_order_id = $1 AND status NOT IN {_FINAL} "
                "AND ($2 <> 'ACCEPTED' OR status = 'SUBMITTED')",
                event.client_order_id, status.value, event.reason,
            )  # fmt: skip


async def unsent(conn: asyncpg.Connection, login: str, limit: int = 1000) -> list[str]:
    """Orders committed but never claimed, oldest first: what a new lease holder sends first (their commands
    may have been lost with a bus that restarted empty)."""
    rows = await conn.fetch(
        "SELECT client_order_id FROM orders WHERE login = $1 AND sent_token IS NULL AND status = 'SUBMITTED' "
        "ORDER BY created_at LIMIT $2",
        login, limit,
    )  # fmt: skip
    return [r["client_order_id"] for r in rows]


async def reserve_order_ids(conn: asyncpg.Connection, lease: Lease, count: int, floor: int) -> range:
    """`count` broker order ids never handed out before for this login, under the lease: the high-water mark
    survives every gateway, and rises at least to `floor` (the broker's own next valid id)."""
    first = await conn.fetchval(
        f"""INSERT INTO order_ids AS o (login, next_id) SELECT $1::text, $3::bigint + $4::bigint
            FROM gateway_lease l WHERE l.login = $1 AND l.token = $2 AND l.expires_at > clock_timestamp()
            ON CONFLICT (login) DO UPDATE SET next_id = GREATEST(o.next_id, $3::bigint) + $4::bigint
            WHERE EXISTS (SELECT 1 FROM gateway_lease l WHERE {_FENCE})
            RETURNING next_id - $4::bigint""",
        lease.login, lease.token, floor, count,
    )  # fmt: skip
    if first is None:
        raise LeaseLost(f"lease on {lease.login} with fencing token {lease.token}: no order ids without it")
    return range(int(first), int(first) + count)


async def record_fill(conn: asyncpg.Connection, fill: Fill, multiplier: int) -> bool:
    """Store a fill once: True if new (its order's filled quantity rises with it, in one transaction), False
    for an execution id seen before (a replay after a reconnect, the other gateway's report)."""
    async with conn.transaction():
        new = await conn.fetchval(
            """INSERT INTO fills (exec_id, client_order_id, account, instrument_id, side, quantity, price,
                   commission, multiplier, ts_event)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (exec_id) DO NOTHING RETURNING true""",
            fill.fill_id, fill.client_order_id, fill.account, fill.instrument_id, fill.side.value, fill.quantity,
            fill.price, fill.commission, multiplier, fill.ts_event,
        )  # fmt: skip
        if new:
            await conn.execute(
                """UPDATE orders SET filled_qty = filled_qty + $2,
                       status = CASE WHEN filled_qty + $2 >= quantity THEN 'FILLED' ELSE 'PARTIALLY_FILLED' END
                   WHERE client_order_id = $1""",
                fill.client_order_id, fill.quantity,
            )  # fmt: skip
    return bool(new)


async def positions(conn: asyncpg.Connection, account: str) -> dict[str, int]:
    """The account's signed quantities, rebuilt from its fills alone (zero positions left out)."""
    rows = await conn.fetch(
        f"""SELECT instrument_id, sum({_SIGNED}) AS qty FROM fills WHERE account = $1
            GROUP BY instrument_id HAVING sum({_SIGNED}) <> 0 ORDER BY instrument_id""",
        account,
    )  # fmt: skip
    return {r["instrument_id"]: int(r["qty"]) for r in rows}


async def login_positions(conn: asyncpg.Connection, login: str) -> dict[tuple[str, str], int]:
    """(account, instrument) -> signed quantity for every account of the login, from the fills alone."""
    rows = await conn.fetch(
        f"""SELECT account, instrument_id, sum({_SIGNED}) AS qty FROM fills
            WHERE account IN (SELECT account FROM accounts WHERE login = $1) GROUP BY account, instrument_id
            HAVING sum({_SIGNED}) <> 0""",
        login,
    )  # fmt: skip
    return {(r["account"], r["instrument_id"]): int(r["qty"]) for r in rows}
