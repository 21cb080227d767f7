"""The gateway service: the one process per broker login that holds the broker session and sends every
account's orders. Several may run; the one holding the login's lease (cluster/lease.py) is active, the others
stand by and take the lease when it expires.

An order goes out only when three things hold at once: its row is committed (the agent's journal before
send), this gateway's claim on it succeeded under its fencing token (once per order, only under the valid
lease), and this gateway's own clock says the lease is still good (`may_send`: renewed less than
`lease_ttl_s - send_margin_s` ago, counted from before the renewal was asked). So a gateway paused past its
lease (SIGSTOP, a long GC, a partition) wakes to find it may not send, before touching the socket, and the
standby that took over may re-send what the stale one claimed but the broker never received.

On taking the lease the active gateway recovers before serving: fills the broker made while no gateway
watched are recorded (once, by execution id), orders claimed under older tokens that the broker never
received are claimed again and sent, commands a dead gateway took but never acknowledged are reclaimed, and
committed orders whose commands were lost (a Redis that restarted empty) are found in PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg
import redis.asyncio as aioredis

from alluse.brokers.base import Broker, Connecting, HasSession, Refreshable, VenueOrder
from alluse.brokers.ibkr.order_ids import OrderIdsError, OrderIdSource
from alluse.cluster import expiry, records
from alluse.cluster import lease as leases
from alluse.cluster.config import ClusterConfig
from alluse.cluster.lease import Lease, LeaseLost
from alluse.cluster.order_ids import LeasedOrderIds
from alluse.cluster.probe import pause_state
from alluse.cluster.quotes import QuotePublisher
from alluse.cluster.streams import Entry, Topic, WorkQueue
from alluse.cluster.tasks import cancel_until_done, wait_or_stop
from alluse.model import Fill, Option, Order, OrderType, Side, TimeInForce, expiry_ns
from alluse.model.base import InvalidInput
from alluse.model.errors import BrokerDisconnected
from alluse.model.events import FINAL_EVENT_OF_STATUS, EventKind, OrderEvent, SettlementEvent
from alluse.model.registry import InstrumentRegistry

log = logging.getLogger("alluse.cluster.gateway")

GATEWAY_GROUP = "gateway"
HELD_RECHECK_S = 1.0  # how often held orders are looked for at the broker again
SETTLE_CHECK_S = 2.0  # how often options past their expiry are looked for in IB's positions (cluster/expiry.py)
UNSENT_RESCAN_S = 2.0  # how often committed orders nobody commanded (a command lost with Redis) are looked for
CANCEL_PREFIX = "cancel:"  # a command to cancel the order it names; any other command sends the order it names


def command_stream(login: str) -> str:
    return f"alluse:{login}:orders"


def events_stream(login: str) -> str:
    return f"alluse:{login}:events"


@dataclass(slots=True)
class GatewayCounts:
    leases_taken: int = 0
    sent: int = 0
    resent_after_takeover: int = 0
    claims_refused: int = 0  # sent before (a duplicate command) or the lease was lost
    commands_reclaimed: int = 0
    fills_recorded: int = 0
    fills_duplicate: int = 0
    refused_no_lease: int = 0  # sends stopped by our own clock: the lease may have run out
    pauses: int = 0  # PostgreSQL or Redis unreachable
    held: int = 0  # a gone gateway's orders, never received, on a broker session this one does not hold
    cancels_sent: int = 0
    cancelled_unsent: int = 0  # cancelled before any gateway sent them: nothing reached the broker
    settlements_recorded: int = 0  # expiry, assignment and exercise fills read from the broker's positions
    expiry_looks: int = 0  # the login's positions summed to find options past their expiry


def event_payload(event: OrderEvent) -> bytes:
    """An order event as the events stream carries it (JSON: no code is ever loaded from the bus)."""
    body: dict[str, object] = {"kind": event.kind.value, "coid": event.client_order_id, "ts": event.ts_event,
                               "venue_order_id": event.venue_order_id, "reason": event.reason}  # fmt: skip
    if event.fill is not None:
        f = event.fill
        body["fill"] = {"exec_id": f.fill_id, "account": f.account, "instrument_id": f.instrument_id,
                        "side": f.side.value, "quantity": f.quantity, "price": str(f.price),
                        "commission": str(f.commission), "ts": f.ts_event}  # fmt: skip
    return json.dumps(body, separators=(",", ":")).encode()


@dataclass(slots=True)
class _Active:
    """What one tenure as the active gateway holds."""

    lease: Lease
    broker: Broker
    ids: LeasedOrderIds  # the broker's order ids, from the login's mark in PostgreSQL
    send_deadline: float  # monotonic seconds: no send from this moment on without a renewal
    events: asyncio.Queue[OrderEvent] = field(default_factory=asyncio.Queue)
    resync: bool = False  # an event went unrecorded: read the broker's executions again
    # the broker's connection came back within this lease: what ended meanwhile (a fill, a cancel, a day's close)
    # sent no event, so every order sent and not final is asked about (GatewayService._catch_up)
    reconnected: bool = False
    held: dict[str, str | None] = field(default_factory=dict)  # orphaned orders on a session we do not hold
    held_checked_at: float = 0.0
    unsent_checked_at: float = 0.0
    settled_checked_at: float = 0.0
    # the cluster time of the next expiry among the options held, lowered by every option fill recorded (positions
    # in options appear only by those); None: look at once (a tenure's start, a settlement not booked yet)
    next_expiry_ns: int | None = None
    progress_at: float = 0.0  # monotonic seconds of the last sign of life: a loop round, a send, the connection
    stall_limit: float = 0.0  # seconds without one before the lease is given up (longer while starting)

    def on_connection(self, up: bool) -> None:
        """The broker's connection handler: a connection that came (back) up is caught up with by the loop."""
        self.reconnected = self.reconnected or up


class GatewayService:
    def __init__(
        self,
        config: ClusterConfig,
        pool: asyncpg.Pool,
        redis: aioredis.Redis,
        broker_factory: Callable[[OrderIdSource], Broker],  # a new broker at every lease taken
        registry: InstrumentRegistry,
        holder: str | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        quotes: QuotePublisher | None = None,  # where the broker's market data goes, while this gateway is active
        wall_ns: Callable[[], int] = time.time_ns,  # the cluster's clock: events it makes, options' expiry
    ) -> None:
        self.config = config
        self.pool = pool
        self.broker_factory = broker_factory
        self.registry = registry
        self.holder = holder or leases.holder_name()
        self.monotonic = monotonic
        self.quotes = quotes
        self.wall_ns = wall_ns
        self.queue = WorkQueue(redis, command_stream(config.login), GATEWAY_GROUP)
        self.events = Topic(redis, events_stream(config.login), config.events_maxlen)
        self.counts = GatewayCounts()
        self.active: _Active | None = None
        self.became_active = asyncio.Event()
        self.state = "standby"  # standby, active, or paused: <what> unreachable

    # ------------------------------------------------------------------ the two states

    async def run(self, stop: asyncio.Event) -> None:
        """Stand by, serve while holding the lease, stand by again when it is lost; until `stop`. PostgreSQL or
        Redis unreachable pauses it (`state` says which), and it starts over from standing by when they answer:
        whatever was in flight is found again by the recovery that follows every lease taken."""
        if self.quotes is not None:
            self.quotes.start()
        try:
            await self._run(stop)
        finally:
            if self.quotes is not None:
                await self.quotes.stop()

    async def _run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.queue.ensure_group()
                taken = await self._standby(stop)
                if taken is None:
                    return
                await self._serve(*taken, stop)
            except LeaseLost as exc:
                log.error("%s: %s; standing by", self.holder, exc)
            except Exception as exc:  # never a dead service: named, then standing by again
                await self._pause(exc, stop)

    async def _pause(self, exc: Exception, stop: asyncio.Event) -> None:
        """Name what stopped the service (cluster/probe.py); an error of its own is logged whole."""
        self.state, own_error = await pause_state(self.pool, self.queue.client, exc)
        self.counts.pauses += 1
        if own_error:
            log.error("%s %s; trying again in %.1f s", self.holder, self.state, self.config.standby_poll_s,
                      exc_info=exc)  # fmt: skip
        else:
            log.error("%s %s (%s: %s); trying again in %.1f s", self.holder, self.state, type(exc).__name__, exc,
                      self.config.standby_poll_s)  # fmt: skip
        await wait_or_stop(stop, self.config.standby_poll_s)

    async def _standby(self, stop: asyncio.Event) -> tuple[Lease, float] | None:
        """The lease, and when it was asked for (the send deadline counts from then)."""
        while not stop.is_set():
            asked_at = self.monotonic()
            async with self.pool.acquire() as conn:
                lease = await leases.acquire(conn, self.config.login, self.holder, self.config.lease_ttl_s)
            if lease is not None:
                self.counts.leases_taken += 1
                return lease, asked_at
            await wait_or_stop(stop, self.config.standby_poll_s)
        return None

    async def _serve(self, lease: Lease, asked_at: float, stop: asyncio.Event) -> None:
        ids = LeasedOrderIds()
        broker = self.broker_factory(ids)
        active = self.active = _Active(lease, broker, ids, self._deadline(asked_at), progress_at=asked_at,
                                       stall_limit=self.config.start_timeout_s)  # fmt: skip
        broker.set_event_handler(active.events.put_nowait, self._on_settlement)
        broker.set_connection_handler(active.on_connection)
        renewals = asyncio.create_task(self._renew(active), name=f"{self.holder} lease")
        writer = asyncio.create_task(self._record_events(active), name=f"{self.holder} events")
        try:
            if isinstance(broker, Connecting):
                await broker.start()
                active.progress_at = self.monotonic()
            await self._recover(active)
            active.reconnected = False  # the first connection's: recovery asked already
            active.stall_limit = self.config.lease_ttl_s
            self.state = "active"
            self.became_active.set()
            while not stop.is_set():
                active.progress_at = self.monotonic()
                if renewals.done():
                    renewals.result()  # LeaseLost
                if active.reconnected:
                    await self._catch_up(active)
                if active.resync:
                    await self._record_executions(active)
                if active.held and self.monotonic() - active.held_checked_at > HELD_RECHECK_S:
                    active.held_checked_at = self.monotonic()
                    if isinstance(broker, Refreshable):  # the held orders' session is another's: ask again
                        await broker.refresh_orders()
                    await self._settle_orphans(active, list(active.held.items()))
                if self.monotonic() - active.unsent_checked_at > UNSENT_RESCAN_S:
                    await self._send_unsent(active)
                if self.monotonic() - active.settled_checked_at > SETTLE_CHECK_S:
                    await self._settle_expired(active)
                entries = await self.queue.take(self.holder, self.config.command_batch, block_ms=50)
                await self._obey(active, entries)
            await self._drain(active)
            async with self.pool.acquire() as conn:
                await leases.release(conn, active.lease)
        finally:
            renewals.cancel()
            writer.cancel()
            self.active = None
            self.state = "standby"
            self.became_active.clear()
            await _close(broker)
            await cancel_until_done([renewals, writer])  # last: a second cancellation of ours may end it

    def _deadline(self, asked_at: float) -> float:
        return asked_at + self.config.lease_ttl_s - self.config.send_margin_s

    async def _renew(self, active: _Active) -> None:
        """Extend the lease while the serving loop goes round: a loop stuck (on a broker call, a read that never
        returns) must not keep the lease from a standby that could serve. Starting (connecting, listing the
        market-data chains, recovering) may take up to `start_timeout_s`; it sends nothing meanwhile."""
        while True:
            await asyncio.sleep(self.config.renew_every_s)
            asked_at = self.monotonic()
            stalled = asked_at - active.progress_at
            if stalled > active.stall_limit:
                raise LeaseLost(
                    f"lease on {self.config.login}: not renewed, the serving loop is stuck ({stalled:.1f} s)"
                )
            async with self.pool.acquire() as conn:
                active.lease = await leases.renew(conn, active.lease, self.config.lease_ttl_s)
            active.send_deadline = self._deadline(asked_at)

    def may_send(self) -> bool:
        return self.active is not None and self.monotonic() < self.active.send_deadline

    # ------------------------------------------------------------------ sending

    async def _send(self, active: _Active, client_order_id: str, *, takeover: bool = False) -> None:
        if not self.may_send():
            self.counts.refused_no_lease += 1
            raise LeaseLost(f"lease on {self.config.login}: not renewed in time by this gateway's clock")
        async with self.pool.acquire() as conn:
            claimed = await records.claim_for_send(conn, client_order_id, active.lease, _session(active.broker),
                                                   from_older=takeover)  # fmt: skip
            if claimed is not None:
                await active.ids.ensure(conn, active.lease)
        if claimed is None:
            self.counts.claims_refused += 1
            return
        self.registry.resolve(claimed.instrument_id)  # known to the broker from its symbol, as the agent knew it
        order = Order(claimed.client_order_id, claimed.account, claimed.instrument_id, Side(claimed.side),
                      claimed.quantity, OrderType(claimed.order_type), claimed.limit_price,
                      TimeInForce(claimed.time_in_force))  # fmt: skip
        for last_try in (False, True):
            if not self.may_send():  # the round trips may have outlived the lease: left to the next holder
                self.counts.refused_no_lease += 1
                raise LeaseLost(f"lease on {self.config.login}: ran out while claiming {client_order_id}")
            try:
                active.broker.submit(order)
                break
            except OrderIdsError:  # IB asked for an id past the block: one more block, once
                if last_try:
                    raise
                async with self.pool.acquire() as conn:
                    await active.ids.ensure(conn, active.lease)
            except BrokerDisconnected as exc:  # it did not reach the broker: unclaimed, it is sent again later
                async with self.pool.acquire() as conn:
                    await records.unclaim(conn, client_order_id, active.lease)
                log.warning("%s not sent (%s): left for the next try", client_order_id, exc)
                return
        self.counts.sent += 1
        self.counts.resent_after_takeover += takeover
        active.progress_at = self.monotonic()

    async def _record_executions(self, active: _Active) -> None:
        """Every fill the broker reports, recorded once: those made while no gateway watched, and those whose
        event could not be recorded when it came."""
        active.resync = False
        for fill in active.broker.executions():
            await self._record_fill(active, _fill_event(fill))
            active.progress_at = self.monotonic()  # a long day of fills is work, not a stuck gateway

    async def _catch_up(self, active: _Active) -> None:
        """After the broker's connection came back within this lease: its fills and every sent order's end, read
        again, since none of them came as an event while it was down. (An order still open needs nothing.)"""
        active.reconnected = False
        await self._read_broker(active)
        async with self.pool.acquire() as conn:  # under this token and every older one: all the login's sent orders
            sent = await records.sent_by_older(conn, self.config.login, active.lease.token + 1)
        ended = 0
        for coid, _ in sent:
            at_broker = active.broker.order_status(coid)
            if at_broker is not None and await self._record_end(active, coid, at_broker):
                ended += 1
        cancels = await self._cancel_outstanding(active)  # a cancel asked while it was down was not sent
        log.info("%s: the broker's connection is back: %d sent orders looked at, %d ended meanwhile, %d cancels "
                 "asked again", self.holder, len(sent), ended, cancels)  # fmt: skip

    async def _cancel_outstanding(self, active: _Active) -> int:
        """Every cancel requested of an order not final, asked (again) of the broker; how many."""
        async with self.pool.acquire() as conn:
            cancels = await records.cancels_outstanding(conn, self.config.login)
        for coid in cancels:
            await self._cancel(active, coid)
        return len(cancels)

    async def _record_end(self, active: _Active, client_order_id: str, at_broker: VenueOrder) -> bool:
        """The order's end as the broker has it, recorded, when it ended with no event heard (a cancel, a day's
        close, while no gateway listened or the connection was down)."""
        ended = FINAL_EVENT_OF_STATUS.get(at_broker.status)
        if ended is None:
            return False
        await self._record_event(active, OrderEvent(ended, client_order_id, self.wall_ns(), at_broker.venue_order_id,
                                                    reason=at_broker.reason))  # fmt: skip
        return True

    async def _read_broker(self, active: _Active) -> None:
        """Every order of the login the broker has (completed ones and other sessions' too), and every fill."""
        if isinstance(active.broker, Refreshable):
            await active.broker.refresh_orders()
        await self._record_executions(active)

    async def _recover(self, active: _Active) -> None:
        await self._read_broker(active)
        async with self.pool.acquire() as conn:
            orphans = await records.sent_by_older(conn, self.config.login, active.lease.token)
        await self._settle_orphans(active, orphans)
        reclaimed = await self.queue.reclaim(self.holder, min_idle_ms=0)
        self.counts.commands_reclaimed += len(reclaimed)
        await self._obey(active, reclaimed)
        unsent = await self._send_unsent(active)
        cancels = await self._cancel_outstanding(active)  # asked of a gateway that is gone: asked again
        log.info("%s active on %s with fencing token %d: %d orphaned sends checked (%d held), %d commands "
                 "reclaimed, %d unsent orders found, %d cancels asked again", self.holder, self.config.login,
                 active.lease.token, len(orphans), len(active.held), len(reclaimed), unsent, cancels)  # fmt: skip

    async def _obey(self, active: _Active, entries: list[Entry]) -> None:
        for entry in entries:
            command = entry.payload.decode()
            if command.startswith(CANCEL_PREFIX):
                await self._cancel(active, command[len(CANCEL_PREFIX) :])
            else:
                await self._send(active, command)
        await self.queue.ack(*(e.id for e in entries))

    async def _send_unsent(self, active: _Active) -> int:
        """Committed orders never claimed (their commands lost, or not yet read): sent now, oldest first."""
        active.unsent_checked_at = self.monotonic()
        async with self.pool.acquire() as conn:
            unsent = await records.unsent(conn, self.config.login)
        for coid in unsent:
            await self._send(active, coid)
        return len(unsent)

    async def _settle_expired(self, active: _Active) -> None:
        """Record the settlements of options past their expiry, read from IB's positions (cluster/expiry.py). The
        fills are summed only once an option held may have expired, not at every round."""
        active.settled_checked_at = self.monotonic()
        now = self.wall_ns()
        if active.next_expiry_ns is not None and now < active.next_expiry_ns:
            return
        active.next_expiry_ns = expiry.NEVER  # from here on lowered by the fills recorded meanwhile, these included
        async with self.pool.acquire() as conn:
            held = await records.login_positions(conn, self.config.login)
        self.counts.expiry_looks += 1
        settled_all = True
        for item in expiry.expired(held, self.registry, now):
            try:
                at_broker = active.broker.account_snapshot(item.account).positions
            except (BrokerDisconnected, InvalidInput) as exc:  # looked at again at the next round
                log.warning("%s: positions of %s not read (%s)", self.holder, item.account, exc)
                settled_all = False
                continue
            fills = expiry.settlement(item, at_broker, now)
            settled_all = settled_all and fills is not None
            for fill in fills or ():
                await self._record_fill(active, _fill_event(fill))
                self.counts.settlements_recorded += 1
        soonest = min(expiry.next_expiry(held, self.registry, now), active.next_expiry_ns or expiry.NEVER)
        active.next_expiry_ns = soonest if settled_all else None

    async def _cancel(self, active: _Active, client_order_id: str) -> None:
        """An order nobody sent yet is cancelled in the table (under the lease, so no claim can cross it); one at
        the broker is cancelled there, and the broker's answer comes back as any event does."""
        async with self.pool.acquire() as conn:
            cancelled = await records.cancel_unsent(conn, client_order_id, active.lease)
        if cancelled:
            self.counts.cancelled_unsent += 1
            await self.events.publish(event_payload(OrderEvent(EventKind.CANCELED, client_order_id, self.wall_ns(),
                                                               reason="cancelled before it was sent")))  # fmt: skip
            return
        if not self.may_send():
            self.counts.refused_no_lease += 1
            raise LeaseLost(f"lease on {self.config.login}: not renewed in time by this gateway's clock")
        try:
            active.broker.cancel(client_order_id)
            self.counts.cancels_sent += 1
        except BrokerDisconnected as exc:  # still cancel_requested in the table: the next holder asks again
            log.warning("cancel of %s not sent (%s)", client_order_id, exc)

    async def _settle_orphans(self, active: _Active, orphans: list[tuple[str, str | None]]) -> None:
        """Orders an older holder claimed and that are not final. At the broker: nothing to do. Not there, and
        claimed on the session this gateway holds now: the broker gave us that session, so the old holder's
        connection is gone and can send nothing more: sent again. Not there, on another session: its holder may
        be alive (paused, partitioned) with the order still in its send queue; sending it again could make two
        orders, so it is held, looked for again every HELD_RECHECK_S, and counted (`counts.held`)."""
        session = _session(active.broker)
        for coid, sent_on in orphans:
            at_broker = active.broker.order_status(coid)
            if at_broker is not None:
                if coid in active.held:  # its old holder sent it after all: read its fills
                    del active.held[coid]
                    active.resync = True
                await self._record_end(active, coid, at_broker)
            elif sent_on == session:
                active.held.pop(coid, None)
                await self._send(active, coid, takeover=True)
            elif coid not in active.held:
                active.held[coid] = sent_on
                log.warning("%s: %s was claimed on %s, which this gateway does not hold, and the broker does not "
                            "have it: held, not sent again", self.holder, coid, sent_on)  # fmt: skip
        self.counts.held = len(active.held)

    # ------------------------------------------------------------------ what the broker says

    async def _record_events(self, active: _Active) -> None:
        while True:
            event = await active.events.get()
            try:
                if event.kind is EventKind.FILL and event.fill is not None:
                    await self._record_fill(active, event)
                else:
                    await self._record_event(active, event)
            except Exception:  # PostgreSQL or Redis away: the broker keeps the truth, read again once they are back
                active.resync = True
                log.exception("%s: event for %s not recorded", self.holder, event.client_order_id)
            finally:
                active.events.task_done()

    async def _record_event(self, active: _Active, event: OrderEvent) -> None:
        async with self.pool.acquire() as conn:
            await records.record_event(conn, event, active.lease.token)
        await self.events.publish(event_payload(event))
        if event.kind is EventKind.CANCEL_REJECTED:  # refused as already filled, perhaps: is a fill unrecorded?
            try:
                fills = active.broker.executions(event.client_order_id)  # this order's only, not the day's
            except BrokerDisconnected:
                active.resync = True  # read whole once the loop goes round
                return
            for fill in fills:
                await self._record_fill(active, _fill_event(fill))

    async def _record_fill(self, active: _Active, event: OrderEvent) -> None:
        fill = event.fill
        assert fill is not None
        instrument = self.registry.resolve(fill.instrument_id)  # an option's multiplier from its OCC symbol
        async with self.pool.acquire() as conn:
            new = await records.record_fill(conn, fill, instrument.multiplier)
        if new:
            self.counts.fills_recorded += 1
            if isinstance(instrument, Option) and active.next_expiry_ns is not None:  # looked at once it expires
                active.next_expiry_ns = min(active.next_expiry_ns, expiry_ns(instrument))
            await self.events.publish(event_payload(event))
        else:
            self.counts.fills_duplicate += 1

    async def _drain(self, active: _Active) -> None:
        """Record what the broker said before the stop; bounded, as the next holder reads the broker anyway."""
        try:
            await asyncio.wait_for(active.events.join(), self.config.lease_ttl_s)
        except TimeoutError:
            log.warning("%s: %d broker events unrecorded at the stop", self.holder, active.events.qsize())

    def _on_settlement(self, event: SettlementEvent) -> None:
        log.info("settlement for %s (%s): %d fills", event.account, event.reason, len(event.fills))
        if self.active is not None:
            for fill in event.fills:
                self.active.events.put_nowait(_fill_event(fill))


def _fill_event(fill: Fill) -> OrderEvent:
    """A fill read from the broker (its executions, a settlement) as the event its live report would be."""
    return OrderEvent(EventKind.FILL, fill.client_order_id, fill.ts_event, fill=fill)


def _session(broker: Broker) -> str | None:
    return broker.session if isinstance(broker, HasSession) else None


async def _close(broker: Broker) -> None:
    if isinstance(broker, Connecting):
        await broker.stop()
    else:
        broker.close()
