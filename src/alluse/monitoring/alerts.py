"""The alert engine: turns each interval's series values into alert episodes, once each.

Per rule: INACTIVE -> PENDING (condition true, waiting `for_s`) -> FIRING -> RESOLVED, and from
RESOLVED to INACTIVE or PENDING at the next value. PENDING falls back to INACTIVE silently when the
condition stops holding before `for_s`; FIRING stays until the value is past `clear_threshold`
(or the threshold itself) on the good side. So an episode produces exactly one FIRING and one
RESOLVED event, and a value hovering at the line neither flaps nor repeats a notification.

A series missing from `values` (or NaN) keeps the rule's state and timers as they are: no data is
not evidence either way. The collector always supplies throughput, so a stalled feed reads 0; a
`market_hours_only` rule reads no data while `market_open()` says the market is closed.

Every event is recorded in the history and handed to each notifier; a failing history or
notifier is logged and counted and never reaches the caller (the collector, and so trading).
An episode never stays open past the run that watched it: a clean stop closes what is still firing
(`close_all`, "run stopped"), and an episode a crashed run left open is closed when the next run
starts, with that reason; if the condition still holds, the new run fires a new episode of its own.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace

from alluse.common.clock import NS, ns_to_datetime
from alluse.common.metrics import Metric, counter, gauge
from alluse.monitoring import series as s
from alluse.monitoring.alert_events import CLOSED, AlertEvent, AlertStatus
from alluse.monitoring.alert_history import EpisodeRecord
from alluse.monitoring.alert_rules import COMPARATORS
from alluse.monitoring.config import ALERT_SEVERITIES, AlertRuleConfig
from alluse.monitoring.notifiers import Notifier

log = logging.getLogger("alluse.monitoring.alerts")


@dataclass(slots=True, frozen=True)
class AlertState:
    """Where one rule stands. `since_ns` is when it entered `status` (None: never left INACTIVE);
    `value`/`value_ns` the last value it saw."""

    rule: AlertRuleConfig
    status: AlertStatus
    since_ns: int | None = None
    value: float | None = None
    value_ns: int | None = None


@dataclass(slots=True)
class _Track:
    rule: AlertRuleConfig
    check: Callable[[float, float], bool]
    for_ns: int
    clear: float
    state: AlertState
    fired_ns: int = 0


class AlertEngine:
    """Evaluated by the collector every interval, on whatever thread the collector uses (one at a time).
    `now_ns` (wall time, epoch ns) is used when `evaluate` is not given a time."""

    def __init__(
        self,
        rules: Iterable[AlertRuleConfig],
        notifiers: Iterable[Notifier] = (),
        history: EpisodeRecord | None = None,
        now_ns: Callable[[], int] = time.time_ns,
        market_open: Callable[[], bool] | None = None,
    ) -> None:
        """`market_open`: whether the market is in session now (the trading clock's); without it, always."""
        self._tracks: list[_Track] = []
        for r in rules:
            if any(t.rule.name == r.name for t in self._tracks):
                raise ValueError(f"alert rule name {r.name!r} used twice")
            clear = r.threshold if r.clear_threshold is None else r.clear_threshold
            state = AlertState(r, AlertStatus.INACTIVE)
            self._tracks.append(_Track(r, COMPARATORS[r.comparison], round(r.for_s * NS), clear, state))
        self.notifiers: list[Notifier] = []
        self._raised: dict[str, int] = {}  # notify() calls that raised, per notifier
        for n in notifiers:
            self.add_notifier(n)
        self.history = history
        self._now_ns = now_ns
        self._market_open = market_open if any(t.rule.market_hours_only for t in self._tracks) else None
        # rules that had no value at the last evaluation ("insufficient data": too few orders or observations
        # in the window, a detector still filling, the market closed): blind now, whatever their state says
        self.insufficient_data: list[str] = [t.rule.name for t in self._tracks]
        self.history_failures = 0
        if history is not None:
            self._close_left_open(history.open_episodes())

    def add_notifier(self, notifier: Notifier) -> None:
        """One more receiver of every event from now on (the API's live stream joins once the run is up)."""
        if notifier.name in self._raised:
            raise ValueError(f"notifier name {notifier.name!r} used twice (names label the metrics)")
        self.notifiers.append(notifier)
        self._raised[notifier.name] = 0

    def _close_left_open(self, open_episodes: dict[str, AlertEvent]) -> None:
        """Episodes a run left firing (it crashed, or could not record its stop) are closed now, with why."""
        now = self._now_ns()
        for fired in open_episodes.values():
            reason = f"{CLOSED} at start: the run that fired it ended without closing it"
            log.warning("alert %s: firing since %s in an earlier run; %s", fired.rule,
                        ns_to_datetime(fired.started_ns).isoformat(), reason)  # fmt: skip
            self._publish(replace(fired, state=AlertStatus.RESOLVED, ts_ns=now, description=reason))

    def close_all(self, reason: str, now_ns: int | None = None) -> list[AlertEvent]:
        """Close every firing episode (a clean stop: "run stopped"), so none stays firing in the history."""
        now = self._now_ns() if now_ns is None else now_ns
        events = []
        for t in self._tracks:
            st = t.state
            if st.status is AlertStatus.FIRING:
                value = st.value if st.value is not None else t.rule.threshold
                events.append(replace(self._event(t, AlertStatus.RESOLVED, value, t.clear, now),
                                      description=f"{CLOSED}: {reason}"))  # fmt: skip
                t.state = AlertState(t.rule, AlertStatus.INACTIVE, now, st.value, st.value_ns)
        for event in events:
            self._publish(event)
        return events

    # ------------------------------------------------------------------ evaluation

    def evaluate(
        self, values: Mapping[str, float], now_ns: int | None = None, notes: Mapping[str, str] | None = None
    ) -> list[AlertEvent]:
        """Advance every rule by this interval's values; returns the events it produced (already
        recorded and notified). `notes` says, per series, what its value means now (a forecast's interval,
        an anomaly's z-score: monitoring/foresight.py); it leads the description of an event on that series."""
        now = self._now_ns() if now_ns is None else now_ns
        closed = self._market_open is not None and not self._market_open()
        events = []
        blind = []
        for t in self._tracks:
            v = values.get(t.rule.metric)
            if v is None or math.isnan(v) or (closed and t.rule.market_hours_only):  # no data: neither fires
                blind.append(t.rule.name)  # nor resets a wait (the docstring's rule)
                continue
            event = self._step(t, float(v), now)
            if event is not None and notes and (note := notes.get(t.rule.metric)):
                event = replace(event, description=f"{note}; {event.description}" if event.description else note)
            if event is not None:
                events.append(event)
        self.insufficient_data = blind
        for event in events:
            self._publish(event)
        return events

    def _step(self, t: _Track, v: float, now: int) -> AlertEvent | None:
        r, st = t.rule, t.state
        status, since = st.status, st.since_ns
        event = None
        if status is AlertStatus.FIRING:
            if not t.check(v, t.clear):
                status, since = AlertStatus.RESOLVED, now
                event = self._event(t, AlertStatus.RESOLVED, v, t.clear, now)
        elif not t.check(v, r.threshold):
            if status is not AlertStatus.INACTIVE:
                status, since = AlertStatus.INACTIVE, now
        else:
            if status is not AlertStatus.PENDING or since is None:  # a PENDING state always has its since_ns
                status, since = AlertStatus.PENDING, now
            if now - since >= t.for_ns:
                status, since, t.fired_ns = AlertStatus.FIRING, now, now
                event = self._event(t, AlertStatus.FIRING, v, r.threshold, now)
        t.state = AlertState(r, status, since, v, now)
        return event

    @staticmethod
    def _event(t: _Track, state: AlertStatus, v: float, threshold: float, now: int) -> AlertEvent:
        r = t.rule
        return AlertEvent(
            r.name, r.severity, state, r.metric, r.comparison, v, threshold, now, t.fired_ns, r.description
        )

    def _publish(self, event: AlertEvent) -> None:
        if self.history is not None:
            try:
                self.history.record(event)
            except Exception as exc:  # a locked or full disk must not stop notifications or trading
                self.history_failures += 1
                log.error("alert history: could not record %s %s: %s", event.rule, event.state.value, exc)
        for n in self.notifiers:
            try:
                n.notify(event)
            except Exception:  # a notifier's bug is its own; the others still hear of the event
                self._raised[n.name] += 1
                log.exception("notifier %s raised on %s %s", n.name, event.rule, event.state.value)

    # ------------------------------------------------------------------ reading

    def states(self) -> list[AlertState]:
        return [t.state for t in self._tracks]

    def firing(self) -> list[AlertState]:
        return [t.state for t in self._tracks if t.state.status is AlertStatus.FIRING]

    def metrics(self) -> Iterator[Metric]:
        firing = dict.fromkeys(ALERT_SEVERITIES, 0)
        for st in self.firing():
            firing[st.rule.severity] += 1
        for severity, count in firing.items():
            yield gauge(s.ALERTS_FIRING, "Alerts firing now", count, severity=severity)
        yield gauge(s.ALERT_RULES_INSUFFICIENT_DATA, "Rules without a value at the last evaluation (they cannot fire)",
                    len(self.insufficient_data))  # fmt: skip
        for n in self.notifiers:
            yield counter(s.ALERT_NOTIFICATIONS_TOTAL, "Alert events delivered", n.delivered, notifier=n.name)
            yield counter(
                s.ALERT_NOTIFIER_FAILURES_TOTAL,
                "Alert events a notifier failed to deliver (after its retries)",
                n.failures + self._raised[n.name],
                notifier=n.name,
            )
        yield counter(s.ALERT_HISTORY_FAILURES_TOTAL, "Alert events the history failed to store", self.history_failures)
