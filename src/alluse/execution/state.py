"""The order manager's state, shared by its parts (submission, dispatch, event handling, reconciliation):
its orders and counters. Only the order manager's own modules read or write it."""

from __future__ import annotations

from dataclasses import dataclass, field

from alluse.model import Order


@dataclass(slots=True)
class OrderBook:
    """Every order by client order id, the open ones, and what each order sent by this process measured
    at its submission (for execution quality and the latency histograms)."""

    orders: dict[str, Order] = field(default_factory=dict)
    open: dict[str, Order] = field(default_factory=dict)
    arrival: dict[str, tuple[float | None, int]] = field(default_factory=dict)  # id -> (arrival mid, submit ts)
    sent_at: dict[str, int] = field(default_factory=dict)  # id -> when sent, in the latency clock (OrderEventHandler)


@dataclass(slots=True)
class OmsCounters:
    submitted: int = 0
    denied: int = 0
    events_applied: int = 0
    events_refused: int = 0
    redundant_events: int = 0  # duplicates and late acks whose effect was already applied
    unknown_order_events: int = 0
    duplicate_fills: int = 0
    late_fills: int = 0  # fills that crossed a cancel/expiry confirmation
    venue_duplicate_refusals: int = 0
    settlements: int = 0
    transient_rejects: int = 0
    throttled_rejects: int = 0  # sends refused for the venue's request rate (retried without using an attempt)
    permanent_rejects: int = 0
    send_errors: int = 0
    retries: int = 0
    gave_up: int = 0
    ack_timeouts: int = 0
    cancel_timeouts: int = 0  # cancels not answered within the ack timeout (resolved by a status query)
    status_queries: int = 0
    failed_queries: int = 0
    disconnects: int = 0
    reconnects: int = 0
    reconciliations: int = 0
    adopted: int = 0
    journal_failures: int = 0
