"""Fault injection for the paper venue: what can go wrong between a client and a broker, on purpose.

Each fault is drawn from one seeded random stream, so a configuration and a sequence of calls
always produce the same faults. Every fault injected is recorded with the error class a
correct client should end up assigning to it, so a benchmark can score the client's
classification against the truth:

| kind             | what happens                                                             | class     |
|------------------|--------------------------------------------------------------------------|-----------|
| DISCONNECT       | on submit: the connection drops for `disconnect_ms`; that submit raises  | TRANSIENT |
|                  | BrokerDisconnected and did not arrive                                    |           |
| LOST_SUBMIT      | the request never arrives: no receipt, no events                         | UNKNOWN   |
| LOST_RESPONSE    | processed normally, but every event of that order that comes due before  | UNKNOWN   |
|                  | the client's first `order_status(coid)` is dropped; later ones arrive    |           |
| DROPPED_ACK      | only the order's ACCEPTED event is lost                                  | UNKNOWN   |
| PACING_REJECT    | REJECTED, error THROTTLED, reason "pacing: ..."; the id is not used up   | THROTTLED |
| PERMANENT_REJECT | REJECTED, error PERMANENT, reason "rejected by venue"                    | PERMANENT |
| DUPLICATE_EVENT  | one event delivered twice, back to back                                  | None      |
| DELAYED_EVENT    | one event delivered up to `max_delay_ms` late, outside its order's       | None      |
|                  | ordered stream: it can arrive after events decided later (an ACCEPTED    |           |
|                  | after a FILL, a FILL after the CANCELED)                                 |           |

UNKNOWN means "no answer": the client cannot tell what happened and must ask the venue.
None means there is nothing to classify: the client must simply cope (deduplicate, reorder).
"""

from __future__ import annotations

import enum
import random
from collections import Counter
from dataclasses import dataclass, field

from alluse.brokers.paper.config import FaultConfig
from alluse.model.errors import ErrorClass

PACING_REASON = "pacing: request rate limit exceeded, retry later"
VENUE_REJECT_REASON = "rejected by venue"


class FaultKind(enum.Enum):
    DISCONNECT = "DISCONNECT"
    LOST_SUBMIT = "LOST_SUBMIT"
    LOST_RESPONSE = "LOST_RESPONSE"
    DROPPED_ACK = "DROPPED_ACK"
    PACING_REJECT = "PACING_REJECT"
    PERMANENT_REJECT = "PERMANENT_REJECT"
    DUPLICATE_EVENT = "DUPLICATE_EVENT"
    DELAYED_EVENT = "DELAYED_EVENT"


TRUE_CLASS: dict[FaultKind, ErrorClass | None] = {
    FaultKind.DISCONNECT: ErrorClass.TRANSIENT,
    FaultKind.LOST_SUBMIT: ErrorClass.UNKNOWN,
    FaultKind.LOST_RESPONSE: ErrorClass.UNKNOWN,
    FaultKind.DROPPED_ACK: ErrorClass.UNKNOWN,
    FaultKind.PACING_REJECT: ErrorClass.THROTTLED,
    FaultKind.PERMANENT_REJECT: ErrorClass.PERMANENT,
    FaultKind.DUPLICATE_EVENT: None,
    FaultKind.DELAYED_EVENT: None,
}

@dataclass(slots=True, frozen=True)
class InjectedFault:
    kind: FaultKind
    client_order_id: str  # for a fault on a settlement event: "settle:<account>"
    error: ErrorClass | None  # the class a correct client assigns (see the module table)
    ts: int


@dataclass(slots=True)
class FaultInjector:
    """Draws faults from the config's seeded stream and records every one it injects."""

    config: FaultConfig
    records: list[InjectedFault] = field(default_factory=list)
    counts: Counter[FaultKind] = field(default_factory=Counter)
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.config.seed)

    def draw(self, kind: FaultKind, rate: float, client_order_id: str, ts: int) -> bool:
        """True (and recorded) when the fault strikes; a zero rate consumes no randomness."""
        if rate <= 0 or self._rng.random() >= rate:
            return False
        self.record(kind, client_order_id, ts)
        return True

    def record(self, kind: FaultKind, client_order_id: str, ts: int) -> None:
        self.records.append(InjectedFault(kind, client_order_id, TRUE_CLASS[kind], ts))
        self.counts[kind] += 1

    def extra_delay_ns(self) -> int:
        return self._rng.randint(1, self.config.max_delay_ns)
