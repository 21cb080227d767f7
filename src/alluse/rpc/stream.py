"""The live stream (server-sent events): fills, order events, trading-state changes, alerts and each collector
tick's values, to every connected client, without ever making the trading loop wait for one.

An event is encoded once, when it happens, on the loop; each client has its own bounded queue, filled with
`put_nowait`. A client that reads slowly (or has vanished and not been noticed yet) fills its queue and then
loses events, counted per client and in total (`alluse_api_stream_dropped_total`), and it is told so in the
stream (`event: dropped`) when it catches up: a gap is never silent. Nothing here blocks or allocates per client
beyond the queue slot.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

from alluse.app.order_view import OrderView
from alluse.common.bus import TOPIC_FILL, TOPIC_ORDER_DENIED, TOPIC_ORDER_EVENT
from alluse.common.metrics import Metric, counter, gauge
from alluse.model import TradingState
from alluse.monitoring.alert_events import AlertEvent
from alluse.monitoring.notifiers import CallbackNotifier
from alluse.rpc.views import SystemViews, fill_out

log = logging.getLogger("alluse.rpc.stream")

QUEUE_EVENTS = 1000  # per client: ten seconds of a busy run's fills, order events and ticks
_CLOSED = b""  # the queue item that ends a client's stream (the server is stopping)


@dataclass(slots=True, eq=False)
class StreamClient:
    queue: asyncio.Queue[bytes]
    dropped: int = 0  # events lost since the client last heard of a gap
    dropped_total: int = 0


@dataclass(slots=True)
class EventHub:
    """Fans events out to the connected clients. `attach` subscribes it to the running system."""

    queue_events: int = QUEUE_EVENTS
    clients: set[StreamClient] = field(default_factory=set)
    published: int = 0
    dropped: int = 0
    unencodable: int = 0
    closed: bool = False

    def attach(self, views: SystemViews) -> None:
        system = views.system
        bus = system.c.bus
        bus.subscribe(TOPIC_FILL, lambda f: self.publish("fill", fill_out(f).model_dump(mode="json")))
        bus.subscribe(TOPIC_ORDER_EVENT, lambda m: self.publish("order", OrderView.of(m[0]).model_dump(mode="json")))
        bus.subscribe(TOPIC_ORDER_DENIED, lambda o: self.publish("order", OrderView.of(o).model_dump(mode="json")))
        states, journaled = system.c.states, system.c.states.on_change  # the kernel journals a change: it goes first

        def state_changed(account: str, old: TradingState, new: TradingState, reason: str, source: str) -> None:
            if journaled is not None:
                journaled(account, old, new, reason, source)
            self.publish("state", {"account": account, "from": old.value, "to": new.value, "reason": reason,
                                   "source": source})  # fmt: skip

        states.on_change = state_changed
        if system.monitoring is not None:
            system.monitoring.alerts.add_notifier(CallbackNotifier(self._alert, name="stream"))
            system.monitoring.value_listeners.append(self._tick)

    def _alert(self, event: AlertEvent) -> None:
        self.publish("alert", event.to_dict())

    def _tick(self, values: dict[str, float], now_ns: int) -> None:
        self.publish("metrics", {"ts_ns": now_ns, "values": values})

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        """Encoded once and queued for every client; a full queue drops it for that client (counted)."""
        if not self.clients:
            return
        try:
            text = json.dumps(data, allow_nan=False, default=str)
        except ValueError as exc:  # a NaN: strict JSON has none, and a publisher on the trading loop must not raise
            self.unencodable += 1
            log.error("live stream: %s event not sent: %s", kind, exc)
            return
        frame = f"event: {kind}\ndata: {text}\n\n".encode()
        self.published += 1
        for client in self.clients:
            try:
                client.queue.put_nowait(frame)
            except asyncio.QueueFull:
                client.dropped += 1
                client.dropped_total += 1
                self.dropped += 1

    async def frames(self) -> AsyncIterator[bytes]:
        """One client's stream until it goes away or the server stops."""
        client = StreamClient(asyncio.Queue(self.queue_events))
        self.clients.add(client)
        try:
            yield b": connected\n\n"
            while not self.closed:
                frame = await client.queue.get()
                if frame is _CLOSED:
                    return
                if client.dropped:
                    gap, client.dropped = client.dropped, 0
                    yield f"event: dropped\ndata: {json.dumps({'events': gap})}\n\n".encode()
                yield frame
        finally:
            self.clients.discard(client)

    def close(self) -> None:
        """Ends every stream (the server is stopping): each client gets the end marker, room or not."""
        self.closed = True
        for client in self.clients:
            while client.queue.full():
                client.queue.get_nowait()
            client.queue.put_nowait(_CLOSED)

    def metrics(self) -> Iterator[Metric]:
        yield gauge("alluse_api_stream_clients", "Clients on the live stream", len(self.clients))
        yield counter("alluse_api_stream_events_total", "Events published to the live stream", self.published)
        yield counter("alluse_api_stream_dropped_total", "Events a slow client's full queue lost", self.dropped)
