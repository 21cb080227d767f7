"""The Broker port an agent's order manager trades through: the cluster itself is its venue.

`submit` queues the order; one task commits queued orders to PostgreSQL (each only while this agent's tenure
owns the account: cluster/assignment.py) and then publishes their commands for the gateway. So the row is
committed before any gateway may send it, and an order is never half-applied: it is in the table, or the
order manager hears it refused. What the gateway reports comes back on the login's events stream; the agent
keeps a mirror of its accounts' orders and fills, loaded from PostgreSQL at the start and after every outage,
and answers the order manager's queries (`order_status`, `open_orders`, `executions`) from it. An outage of
PostgreSQL or Redis is a disconnect: the order manager parks what is in flight, and at the reconnect the
mirror is loaded again and the order manager reconciles with it.

An order committed but not yet acknowledged by the broker is reported SUBMITTED: the cluster holds it (a
gateway will send it) and nothing is sent again for it. A broker's refusal is final here: the gateway sends an
order once, so a resend under the same id would only be refused by its claim."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from alluse.brokers.base import (
    AccountSnapshot,
    ConnectionHandler,
    OrderEventHandler,
    SettlementHandler,
    VenueOrder,
)
from alluse.cluster import records
from alluse.cluster.assignment import Tenure, owns_for_order
from alluse.cluster.expiry import SETTLEMENT_PREFIX
from alluse.cluster.gateway import CANCEL_PREFIX, GATEWAY_GROUP, command_stream, events_stream
from alluse.cluster.streams import Topic, WorkQueue
from alluse.cluster.tasks import cancel_until_done
from alluse.common.clock import Clock
from alluse.common.metrics import Metric, counter, gauge
from alluse.model import Fill, Order, OrderStatus, OrderType, Side, TimeInForce
from alluse.model.base import InvalidInput
from alluse.model.errors import BrokerDisconnected, ErrorClass
from alluse.model.events import EventKind, OrderEvent, SettlementEvent
from alluse.model.registry import InstrumentRegistry

log = logging.getLogger("alluse.cluster.agent_broker")

RECONNECT_S = 0.5  # how often an agent cut off from PostgreSQL or Redis tries again
NOT_OWNER = "account {account} is run by another agent now; not sent"

_STATUS_AFTER = {EventKind.ACCEPTED: OrderStatus.ACCEPTED, EventKind.CANCELED: OrderStatus.CANCELED,
                 EventKind.REJECTED: OrderStatus.REJECTED, EventKind.EXPIRED: OrderStatus.EXPIRED}  # fmt: skip


class ClusterBroker:
    name = "cluster"

    def __init__(
        self,
        pool: asyncpg.Pool,
        redis: aioredis.Redis,
        login: str,
        tenure: Tenure,
        accounts: Mapping[str, Decimal],  # the accounts this agent runs, with their starting cash
        registry: InstrumentRegistry,
        clock: Clock,
        events_maxlen: int,
    ) -> None:
        self.pool = pool
        self.login = login
        self.tenure = tenure
        self.accounts = dict(accounts)
        self.registry = registry
        self.clock = clock
        self.commands = WorkQueue(redis, command_stream(login), GATEWAY_GROUP)
        self.events = Topic(redis, events_stream(login), events_maxlen)
        self._orders: dict[str, VenueOrder] = {}
        self._fills: dict[str, list[Fill]] = {}  # by client order id, oldest first
        self._fill_ids: set[str] = set()
        self._queued: dict[str, Order] = {}  # submitted, not yet committed
        self._cancels: set[str] = set()  # cancel requests not yet committed
        self._wake = asyncio.Event()
        self._events_after: bytes | str = "0-0"
        self._tasks: list[asyncio.Task[None]] = []
        self._connected = False
        self._reconnecting = asyncio.Lock()
        self._on_event: OrderEventHandler | None = None
        self._on_settlement: SettlementHandler | None = None
        self._on_connection: ConnectionHandler | None = None
        self.fenced = False  # an order was refused because its account moved: this tenure is over
        self.committed = 0
        self.commanded = 0  # commands published (orders and cancels)
        self._writing = False  # a batch is being committed and published
        self.refused_not_owner = 0
        self.outages = 0
        self.bad_events = 0

    # ------------------------------------------------------------------ the port

    @property
    def connected(self) -> bool:
        return self._connected

    def set_event_handler(self, on_order_event: OrderEventHandler, on_settlement: SettlementHandler) -> None:
        self._on_event = on_order_event
        self._on_settlement = on_settlement  # expiries the gateway read from IB's positions (cluster/expiry.py)

    def set_connection_handler(self, on_connection: ConnectionHandler) -> None:
        self._on_connection = on_connection

    def submit(self, order: Order) -> None:
        if not self._connected:
            raise BrokerDisconnected("the cluster's PostgreSQL or Redis is unreachable")
        self._queued[order.client_order_id] = order
        self._wake.set()

    def cancel(self, client_order_id: str) -> None:
        if not self._connected:
            raise BrokerDisconnected("the cluster's PostgreSQL or Redis is unreachable")
        if self._queued.pop(client_order_id, None) is not None:  # never committed: nobody can send it
            self._emit(OrderEvent(EventKind.CANCELED, client_order_id, self.clock.now_ns(),
                                  reason="cancelled before it was committed"))  # fmt: skip
            return
        self._cancels.add(client_order_id)
        self._wake.set()

    def open_orders(self) -> list[VenueOrder]:
        self._require_connection()
        return [v for v in self._orders.values() if v.status.is_open]

    def order_status(self, client_order_id: str) -> VenueOrder | None:
        self._require_connection()
        return self._orders.get(client_order_id)

    def executions(self, client_order_id: str | None = None) -> list[Fill]:
        self._require_connection()
        if client_order_id is not None:
            return list(self._fills.get(client_order_id, ()))
        return sorted((f for fs in self._fills.values() for f in fs), key=lambda f: f.ts_event)

    def account_snapshot(self, account: str) -> AccountSnapshot:
        """The system of record's view: positions and cash from the recorded fills (no collateral is kept)."""
        self._require_connection()
        cash = self.accounts[account]
        positions: dict[str, int] = {}
        for fills in self._fills.values():
            for f in fills:
                if f.account == account:
                    signed = f.quantity * f.side.sign
                    positions[f.instrument_id] = positions.get(f.instrument_id, 0) + signed
                    multiplier = self.registry.resolve(f.instrument_id).multiplier
                    cash -= f.price * signed * multiplier + f.commission
        return AccountSnapshot(account, cash, {k: q for k, q in positions.items() if q}, Decimal(0))

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()

    # ------------------------------------------------------------------ connecting

    async def start(self) -> None:
        """Load the mirror and start the writer and the events reader; connected once both servers answered."""
        await self._load()
        self._connected = True
        self._tasks = [asyncio.create_task(self._write_loop(), name=f"{self.tenure.agent} orders"),
                       asyncio.create_task(self._read_loop(), name=f"{self.tenure.agent} events")]  # fmt: skip

    async def stop(self, flush_s: float = 2.0) -> None:
        """Commit what is queued and publish its commands (bounded), then stop."""
        deadline = asyncio.get_running_loop().time() + flush_s
        while (
            (self._queued or self._cancels or self._writing)
            and self._connected
            and (asyncio.get_running_loop().time() < deadline)
        ):
            await asyncio.sleep(0.01)
        await cancel_until_done(self._tasks)

    def _require_connection(self) -> None:
        if not self._connected:
            raise BrokerDisconnected("the cluster's PostgreSQL or Redis is unreachable")

    async def _load(self) -> None:
        """The events stream's position first, then the tables: an event in between is read twice, never missed
        (the order manager ignores what it already shows)."""
        newest: Any = await self.events.client.xrevrange(self.events.stream, count=1)
        after = newest[0][0] if newest else b"0-0"
        names = list(self.accounts)
        async with self.pool.acquire() as conn:
            order_rows = await conn.fetch(
                "SELECT client_order_id, account, instrument_id, side, quantity, order_type, limit_price, "
                "time_in_force, status, filled_qty, broker_order_id, reason, "
                "(extract(epoch FROM created_at) * 1e9)::bigint AS ts FROM orders WHERE account = ANY($1)",
                names,
            )
            fill_rows = await conn.fetch(
                "SELECT exec_id, client_order_id, account, instrument_id, side, quantity, price, commission, "
                "ts_event FROM fills WHERE account = ANY($1) ORDER BY ts_event, recorded_at",
                names,
            )
        self._orders = {r["client_order_id"]: _venue_order(r) for r in order_rows}
        self._fills = {}
        self._fill_ids = set()
        for r in fill_rows:
            settled = r["client_order_id"].startswith(SETTLEMENT_PREFIX)
            self._add_fill(Fill(r["client_order_id"], r["account"], r["instrument_id"], Side(r["side"]),
                                r["quantity"], r["price"], r["commission"], r["ts_event"], r["exec_id"],
                                liquidity="X" if settled else "T"))  # fmt: skip
        self._events_after = after

    def _add_fill(self, fill: Fill) -> bool:
        if fill.fill_id in self._fill_ids:
            return False
        self._fill_ids.add(fill.fill_id)
        self._fills.setdefault(fill.client_order_id, []).append(fill)
        return True

    async def _outage(self, exc: BaseException) -> None:
        """Disconnected until PostgreSQL and Redis both answer and the mirror is loaded again; then the order
        manager reconciles with it. The writer and the reader may both meet the outage: one reconnects."""
        if self._connected:
            self._connected = False
            self.outages += 1
            log.error("%s: cluster unreachable (%s: %s); orders wait", self.tenure.agent, type(exc).__name__, exc)
            if self._on_connection is not None:
                self._on_connection(False)
        async with self._reconnecting:
            while not self._connected:
                await asyncio.sleep(RECONNECT_S)
                try:
                    await self._load()
                except Exception as again:  # whatever a server going away raises: still away
                    log.debug("still unreachable: %s", again)
                    continue
                self._connected = True
                log.warning("%s: cluster reachable again; reconciling", self.tenure.agent)
                if self._on_connection is not None:
                    self._on_connection(True)

    # ------------------------------------------------------------------ writing

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._connected:
                continue
            orders = list(self._queued.values())
            cancels = sorted(self._cancels)
            self._writing = True
            try:
                refused, committed = await self._commit(orders, cancels)
                for order, _ in refused:
                    self._queued.pop(order.client_order_id, None)
                for order in committed:
                    self._queued.pop(order.client_order_id, None)
                self._cancels.difference_update(cancels)
                payloads = [o.client_order_id.encode() for o in committed]
                payloads += [(CANCEL_PREFIX + c).encode() for c in cancels]
                for payload in payloads:  # a command lost here is found by the gateway's scan of unsent orders
                    await self.commands.put(payload)
                    self.commanded += 1
            except Exception as exc:  # a server away (or anything else, named): queued orders stay queued
                await self._outage(exc)
                self._wake.set()
                continue
            finally:
                self._writing = False
            for order, reason in refused:
                self._emit(OrderEvent(EventKind.REJECTED, order.client_order_id, self.clock.now_ns(), reason=reason,
                                      error=ErrorClass.PERMANENT))  # fmt: skip

    async def _commit(self, orders: list[Order], cancels: list[str]) -> tuple[list[tuple[Order, str]], list[Order]]:
        """One transaction: the accounts' ownership held, the orders recorded, the cancels marked. Refused, with
        the reason: an order whose account moved to another agent (this tenure is over), an id used before by
        another order."""
        refused: list[tuple[Order, str]] = []
        committed: list[Order] = []
        async with self.pool.acquire() as conn, conn.transaction():
            owned: dict[str, bool] = {}
            for order in orders:
                if order.account not in owned:
                    owned[order.account] = await owns_for_order(conn, self.tenure, order.account)
                if not owned[order.account]:
                    refused.append((order, NOT_OWNER.format(account=order.account)))
                    self.refused_not_owner += 1
                    self.fenced = True
                    continue
                try:
                    await records.record_order(conn, order, self.login)
                except InvalidInput as exc:  # checked by a read: the transaction goes on
                    refused.append((order, str(exc)))
                    continue
                committed.append(order)
            if cancels:
                await conn.execute("UPDATE orders SET cancel_requested = true WHERE client_order_id = ANY($1)",
                                   cancels)  # fmt: skip
        for order in committed:
            self._orders.setdefault(order.client_order_id, _submitted(order, self.clock.now_ns()))
        self.committed += len(committed)
        return refused, committed

    # ------------------------------------------------------------------ reading

    async def _read_loop(self) -> None:
        while True:
            if not self._connected:
                await asyncio.sleep(RECONNECT_S)
                continue
            try:
                entries = await self.events.read(after=self._events_after, count=1000, block_ms=200)
            except Exception as exc:
                await self._outage(exc)
                continue
            for entry in entries:
                self._events_after = entry.id
                try:
                    self._apply(json.loads(entry.payload))
                except (ValueError, KeyError, TypeError, AssertionError) as exc:  # a bad event is named, not obeyed
                    self.bad_events += 1
                    log.error("%s: event %r refused: %s", self.tenure.agent, entry.payload[:200], exc)

    def _apply(self, body: dict[str, object]) -> None:
        """One event of the login's stream: ours if it names an order of our accounts."""
        coid = str(body["coid"])
        known = self._orders.get(coid)
        if known is None:
            if coid.startswith(SETTLEMENT_PREFIX):
                self._settled(body)
            return  # another agent's order (ours are all in the mirror: loaded, or committed by us)
        kind = EventKind(body["kind"])
        ts = int(body["ts"])  # type: ignore[call-overload]
        venue_id = str(body.get("venue_order_id") or "") or None
        reason = str(body.get("reason") or "")
        if kind is EventKind.FILL:
            fill = _fill_of(coid, body)
            if not self._add_fill(fill):
                return
            filled = known.filled_qty + fill.quantity
            status = OrderStatus.FILLED if filled >= known.quantity else OrderStatus.PARTIALLY_FILLED
            self._orders[coid] = dataclasses.replace(known, filled_qty=filled, status=status)
            self._emit(OrderEvent(kind, coid, ts, venue_id, fill=fill))
            return
        after = _STATUS_AFTER.get(kind)
        if after is not None and not known.status.is_terminal:
            if after is not OrderStatus.ACCEPTED or known.status is OrderStatus.SUBMITTED:
                self._orders[coid] = dataclasses.replace(known, status=after, reason=reason,
                                                         venue_order_id=venue_id or known.venue_order_id)  # fmt: skip
        error = ErrorClass.PERMANENT if kind is EventKind.REJECTED else None
        self._emit(OrderEvent(kind, coid, ts, venue_id, reason=reason, error=error))

    def _settled(self, body: dict[str, object]) -> None:
        """An expiry, assignment or exercise the gateway read from the broker's positions, for our accounts."""
        fill = _fill_of(str(body["coid"]), body)
        if fill.account in self.accounts and self._add_fill(fill) and self._on_settlement is not None:
            self._on_settlement(SettlementEvent(fill.account, "settled at expiry", (fill,), fill.ts_event))

    def _emit(self, event: OrderEvent) -> None:
        if self._on_event is not None:
            self._on_event(event)

    def metrics(self) -> list[Metric]:
        return [gauge("alluse_broker_connected", "1 while the cluster's PostgreSQL and Redis answer",
                      1 if self._connected else 0),
                counter("alluse_cluster_orders_committed_total", "Orders this agent committed for the gateway",
                        self.committed),
                counter("alluse_cluster_orders_refused_not_owner_total",
                        "Orders refused because their account had moved to another agent", self.refused_not_owner),
                counter("alluse_cluster_outages_total", "Times PostgreSQL or Redis went unreachable", self.outages),
                gauge("alluse_cluster_orders_queued", "Orders submitted and not yet committed",
                      len(self._queued))]  # fmt: skip


def _fill_of(coid: str, body: dict[str, object]) -> Fill:
    raw = body["fill"]
    assert isinstance(raw, dict)
    return Fill(coid, raw["account"], raw["instrument_id"], Side(raw["side"]), int(raw["quantity"]),
                Decimal(raw["price"]), Decimal(raw["commission"]), int(raw["ts"]), raw["exec_id"],
                liquidity="X" if coid.startswith(SETTLEMENT_PREFIX) else "T")  # fmt: skip


def _venue_order(r: asyncpg.Record) -> VenueOrder:
    return VenueOrder(r["client_order_id"], str(r["broker_order_id"] or ""), r["account"], r["instrument_id"],
                      Side(r["side"]), r["quantity"], OrderType(r["order_type"]), r["limit_price"],
                      TimeInForce(r["time_in_force"]), OrderStatus(r["status"]), r["filled_qty"], r["ts"],
                      r["reason"])  # fmt: skip


def _submitted(order: Order, now: int) -> VenueOrder:
    return VenueOrder(
        order.client_order_id,
        "",
        order.account,
        order.instrument_id,
        order.side,
        order.quantity,
        order.order_type,
        order.limit_price,
        order.time_in_force,
        OrderStatus.SUBMITTED,
        0,
        now,
    )
