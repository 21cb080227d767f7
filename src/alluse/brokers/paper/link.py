"""The paper venue's line to its client: what the venue says, delivered late, out of order or not at all.

The venue decides; the link delivers. It owns the client's handlers, the latency streams,
the connection state and the event faults (see faults.py), so the venue's book-keeping never
depends on whether, when or how often the client hears about it.

- Each order (and each account's settlements) is one ordered stream: an event is delivered at
  max(send time + its latency, delivery of the stream's previous event). Streams do not wait
  for each other.
- Events a handler triggers are queued until it returns, so handlers are never re-entered.
- While the connection is down, events that come due are lost (counted in `events_lost`).
- An order under a lost-response fault (`mute`) loses every event that comes due until the
  client asks its status (`unmute`), counted in `events_muted`.
- A delayed event (fault) leaves its stream: it can arrive after events sent later.
"""

from __future__ import annotations

import logging
from collections import deque

from alluse.brokers.base import ConnectionHandler, OrderEventHandler, SettlementHandler
from alluse.brokers.paper.faults import FaultInjector, FaultKind
from alluse.common.clock import NS, Clock
from alluse.model import InvalidInput, Unchecked
from alluse.model.errors import BrokerDisconnected
from alluse.model.events import OrderEvent, SettlementEvent

log = logging.getLogger("alluse.brokers.paper")

Event = OrderEvent | SettlementEvent


def stream_key(event: Event) -> str:
    return event.client_order_id if isinstance(event, OrderEvent) else f"settle:{event.account}"


class ClientLink:
    def __init__(self, clock: Clock, faults: FaultInjector | None) -> None:
        self._clock = clock
        self._faults = faults
        self.connected = True
        self._on_order_event: OrderEventHandler | None = None
        self._on_settlement: SettlementHandler | None = None
        self._on_connection: ConnectionHandler | None = None
        self._reconnect_at = 0
        self._muted: set[str] = set()
        # stream key -> events in flight as (seq, due, event)
        self._in_flight: dict[str, deque[tuple[int, int, Event]]] = {}
        self._ready: deque[Event] = deque()
        self._event_seq = 0
        self._delivering = False
        self.disconnects = 0
        self.events_lost = 0
        self.events_muted = 0

    # ------------------------------------------------------------------ wiring

    def set_event_handler(self, on_order_event: OrderEventHandler, on_settlement: SettlementHandler) -> None:
        self._on_order_event = on_order_event
        self._on_settlement = on_settlement

    def set_connection_handler(self, on_connection: ConnectionHandler) -> None:
        self._on_connection = on_connection

    def require_handler(self) -> None:
        if self._on_order_event is None:
            raise RuntimeError("PaperVenue: set_event_handler() before submitting or canceling")

    def require_connection(self) -> None:
        if not self.connected:
            raise BrokerDisconnected("paper venue: not connected")

    # ------------------------------------------------------------------ connection

    def set_faults(self, faults: FaultInjector) -> None:
        self._faults = faults

    def disconnect(self, duration_ns: Unchecked) -> None:
        """Drop the connection for `duration_ns`; a drop while down extends the outage."""
        if type(duration_ns) is not int or duration_ns <= 0:
            raise InvalidInput("duration_ns", duration_ns, "must be a positive integer (ns)")
        until = self._clock.now_ns() + duration_ns
        if until > self._reconnect_at:
            self._reconnect_at = until
            self._clock.call_at(until, self._reconnect, until)
        if self.connected:
            self.connected = False
            self.disconnects += 1
            log.warning("connection dropped for %.3f s", duration_ns / NS)
            if self._on_connection is not None:
                self._on_connection(False)

    def _reconnect(self, until: int) -> None:
        if until != self._reconnect_at or self.connected:
            return  # the outage was extended: a later timer reconnects
        self.connected = True
        log.info("connection restored")
        if self._on_connection is not None:
            self._on_connection(True)

    def mute(self, client_order_id: str) -> None:
        self._muted.add(client_order_id)

    def is_muted(self, client_order_id: str) -> bool:
        return client_order_id in self._muted

    def unmute(self, client_order_id: str) -> None:
        self._muted.discard(client_order_id)

    # ------------------------------------------------------------------ delivery

    def send(self, delay_ns: int, event: Event) -> None:
        faults = self._faults
        if faults is not None:
            rates = faults.config
            key = stream_key(event)
            now = self._clock.now_ns()
            if faults.draw(FaultKind.DELAYED_EVENT, rates.delay_rate, key, now):
                # out of its stream: events sent later may overtake it
                self._clock.call_at(now + delay_ns + faults.extra_delay_ns(), self._deliver, event)
                return
            if faults.draw(FaultKind.DUPLICATE_EVENT, rates.duplicate_event_rate, key, now):
                self._schedule(delay_ns, event)
        self._schedule(delay_ns, event)

    def _schedule(self, delay_ns: int, event: Event) -> None:
        """Deliver `event` now (delay 0) or after `delay_ns`, never overtaking an earlier event of its stream."""
        if not delay_ns and not self._in_flight:  # no stream has anything queued: nothing to wait behind
            self._deliver(event)
            return
        key = stream_key(event)
        now = self._clock.now_ns()
        stream = self._in_flight.get(key)
        due = now + delay_ns
        if stream:
            due = max(due, stream[-1][1])
        elif due <= now:
            self._deliver(event)
            return
        elif stream is None:
            stream = self._in_flight[key] = deque()
        self._event_seq += 1
        stream.append((self._event_seq, due, event))
        self._clock.call_at(due, self._release, key, self._event_seq)

    def _release(self, key: str, through_seq: int) -> None:
        """Deliver a stream's events up to `through_seq` in order (timers may fire out of order on ties)."""
        stream = self._in_flight.get(key)
        while stream and stream[0][0] <= through_seq:
            self._deliver(stream.popleft()[2])
        if stream is not None and not stream:
            del self._in_flight[key]

    def _deliver(self, event: Event) -> None:
        """Hand an event to the client, unless the line is down or the order is muted."""
        self._ready.append(event)
        if self._delivering:
            return
        self._delivering = True
        try:
            while self._ready:
                ready = self._ready.popleft()
                if not self.connected:
                    self.events_lost += 1
                elif isinstance(ready, OrderEvent):
                    if self._muted and ready.client_order_id in self._muted:
                        self.events_muted += 1
                    else:
                        self._on_order_event(ready)  # type: ignore[misc]
                else:
                    self._on_settlement(ready)  # type: ignore[misc]
        finally:
            self._delivering = False
