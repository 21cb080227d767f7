"""Every change to an order goes through here: the state machine moves it and the journal records it, or
neither happens (a failed write restores the order). Broker events wait for the next group commit, at most
`flush_ns` of clock time; a write that fails stops new orders until the process restarts and recovers."""

from __future__ import annotations

import logging
import operator

from alluse.common.clock import Clock, TimerHandle
from alluse.execution import fsm
from alluse.execution.journal import Journal
from alluse.execution.state import OmsCounters
from alluse.model import Fill, Order

log = logging.getLogger("alluse.oms")

# what a transition may change (fsm.apply and the venue id); restored together if the journal write fails
_CHANGED_BY_EVENTS = ("status", "filled_qty", "avg_fill_price", "venue_order_id", "ts_last", "reason")
_snapshot = operator.attrgetter(*_CHANGED_BY_EVENTS)


class OrderRecorder:
    def __init__(self, journal: Journal, clock: Clock, flush_ns: int, counters: OmsCounters) -> None:
        self.journal = journal
        self.clock = clock
        self.flush_ns = flush_ns
        self.counters = counters
        self.journal_error: str | None = None
        self._flush_timer: TimerHandle | None = None

    def apply(
        self,
        order: Order,
        trigger: fsm.Trigger,
        ts: int,
        *,
        reason: str = "",
        fill: Fill | None = None,
        venue_order_id: str | None = None,
        intent: bool = True,
    ) -> None:
        """Apply one transition and journal it; if the journal write fails the order is restored.
        `intent=False`: a broker event, which the journal may commit with the next intent (group commit);
        an intent may also wait for that commit once the journal's intent log holds it."""
        before = _snapshot(order)
        fsm.apply(order, trigger, ts, fill=fill, reason=reason)
        if venue_order_id and not order.venue_order_id:
            order.venue_order_id = venue_order_id
        try:
            self.journal.record_order(order, trigger._value_, ts, reason, fill, intent=intent)  # see _order_row
        except Exception:
            for name, value in zip(_CHANGED_BY_EVENTS, before, strict=True):
                setattr(order, name, value)
            raise
        self.schedule_flush()

    def note(self, order: Order, kind: str, detail: str) -> None:
        """An event that changes nothing about the order but belongs in its history (a retry)."""
        try:
            self.journal.record_order(order, kind, self.clock.now_ns(), detail, intent=False)
        except Exception as exc:
            self.failed(exc)
        self.schedule_flush()

    def settlement(self, account: str, reason: str, fills: tuple[Fill, ...], ts: int) -> bool:
        """Journal fills no order caused (expiry, assignment); False if the write failed."""
        try:
            self.journal.record_settlement(account, reason, fills, ts)
        except Exception as exc:
            self.failed(exc)
            return False
        self.schedule_flush()
        return True

    def schedule_flush(self) -> None:
        """Records wait at most `flush_ns` for a commit (one before then takes them along)."""
        if self._flush_timer is None and self.journal.pending:
            self._flush_timer = self.clock.call_later(self.flush_ns, self._flush)

    def _flush(self) -> None:
        self._flush_timer = None
        try:
            self.journal.flush()
        except Exception as exc:  # the venue has these, we could not write them: stop sending, recover on restart
            self.failed(exc)

    def failed(self, exc: BaseException) -> str:
        """Counted, logged critical, and no new orders from now on; returns what `journal_error` now says."""
        message = f"journal write failed: {exc}"
        self.counters.journal_failures += 1
        self.journal_error = message
        log.critical("%s; no new orders until restart (recovery will reconcile with the venue)", message)
        return message
