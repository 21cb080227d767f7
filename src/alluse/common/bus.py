"""In-process publish/subscribe: topics to handlers, synchronous and cheap.

A handler that raises is logged and counted, never allowed to break the publisher or the
other subscribers: one bad strategy must not stop fills from reaching the portfolio.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("alluse.common.bus")

Handler = Callable[[Any], None]


class MessageBus:
    def __init__(self) -> None:
        # tuples, replaced on (un)subscribe: a handler that subscribes or leaves mid-publish does not
        # change the round in progress, and publish copies nothing
        self._handlers: dict[str, tuple[Handler, ...]] = {}
        self.published = 0
        self.handler_errors = 0

    def subscribe(self, topic: str, handler: Handler) -> None:
        handlers = self._handlers.get(topic, ())
        if handler not in handlers:
            self._handlers[topic] = (*handlers, handler)

    def unsubscribe(self, topic: str, handler: Handler) -> None:
        handlers = self._handlers.get(topic, ())
        if handler in handlers:
            kept = list(handlers)
            kept.remove(handler)
            self._handlers[topic] = tuple(kept)

    def publish(self, topic: str, message: Any) -> None:
        self.published += 1
        handlers = self._handlers.get(topic)
        if not handlers:
            return
        for handler in handlers:
            try:
                handler(message)
            except Exception:
                self.handler_errors += 1
                log.exception("handler %r failed on topic %s", handler, topic)


# Topics used across components.
TOPIC_ORDER_EVENT = "order.event"  # payload: (Order, OrderEvent) (model.events)
TOPIC_FILL = "order.fill"  # payload: Fill
TOPIC_ORDER_DENIED = "order.denied"  # payload: Order (with reason)
