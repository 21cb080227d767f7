"""Fault injection for the paper venue: what can go wrong between a client and a broker, on purpose.

Each fault is drawn from one seeded random stream, so a configuration and a sequence of calls
always produce the same faults. Every fault injected is recorded with the error class a
correct client should end up assigning to it, so a benchmark can score the client's
classification against the truth:

| kind             | what happens                                                             | class     |
|------------------|--------------------------------------------------------------------------|-----------|
| DISCONNECT       | on submit: the connection drops for `disconnect_ns`; that submit raises  | TRANSIENT |
|                  | BrokerDisconnected and did not arrive                                    |           |
| LOST_SUBMIT      | the request never arrives: no receipt, no events                         | UNKNOWN   |
| LOST_RESPONSE    | processed normally, but every event of that order that comes due before  | UNKNOWN   |
|                  | the client's first `order_status(coid)` is dropped; later ones arrive    |           |
| DROPPED_ACK      | only the order's ACCEPTED event is lost                                  | UNKNOWN   |
| PACING_REJECT    | REJECTED, error TRANSIENT, reason "pacing: ..."; the id is not used up   | TRANSIENT |
| PERMANENT_REJECT | REJECTED, error PERMANENT, reason "rejected by venue"                    | PERMANENT |
| DUPLICATE_EVENT  | one event delivered twice, back to back                                  | None      |
| DELAYED_EVENT    | one event delivered up to `max_delay_ns` late, outside its order's       | None      |
|                  | ordered stream: it can arrive after events decided later (an ACCEPTED    |           |
|                  | after a FILL, a FILL after the CANCELED)                                 |           |

UNKNOWN means "no answer": the client cannot tell what happened and must ask the venue.
None means there is nothing to classify: the client must simply cope (deduplicate, reorder).
"""

from __future__ import annotations

import enum
import math
import random
from collections import Counter
from dataclasses import dataclass, field

from alluse.model import InvalidInput
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
    FaultKind.PACING_REJECT: ErrorClass.TRANSIENT,
    FaultKind.PERMANENT_REJECT: ErrorClass.PERMANENT,
    FaultKind.DUPLICATE_EVENT: None,
    FaultKind.DELAYED_EVENT: None,
}

_RATES = (
    "lose_submit_rate",
    "lose_response_rate",
    "drop_ack_rate",
    "duplicate_event_rate",
    "delay_rate",
    "disconnect_rate",
    "pacing_reject_rate",
    "permanent_reject_rate",
)


@dataclass(slots=True)
class FaultConfig:
    """Probabilities per submit (disconnect, lost submit/response, pacing, permanent reject), per
    accepted order (dropped ack) or per event (duplicate, delay). The default injects nothing."""

    seed: int = 0
    lose_submit_rate: float = 0.0
    lose_response_rate: float = 0.0
    drop_ack_rate: float = 0.0
    duplicate_event_rate: float = 0.0
    delay_rate: float = 0.0
    max_delay_ns: int = 0
    disconnect_rate: float = 0.0
    disconnect_ns: int = 0
    pacing_reject_rate: float = 0.0
    permanent_reject_rate: float = 0.0

    def __post_init__(self) -> None:
        if type(self.seed) is not int:
            raise InvalidInput("faults.seed", self.seed, "must be an integer")
        for name in _RATES:
            rate = getattr(self, name)
            if isinstance(rate, bool) or not isinstance(rate, int | float) or not (math.isfinite(rate)):
                raise InvalidInput(f"faults.{name}", rate, "must be a number between 0 and 1")
            if not 0 <= rate <= 1:
                raise InvalidInput(f"faults.{name}", rate, "must be between 0 and 1")
        for name, rate_name in (("max_delay_ns", "delay_rate"), ("disconnect_ns", "disconnect_rate")):
            value = getattr(self, name)
            if type(value) is not int or value < 0:
                raise InvalidInput(f"faults.{name}", value, "must be a non-negative integer (ns)")
            if getattr(self, rate_name) > 0 and value == 0:
                raise InvalidInput(f"faults.{name}", value, f"must be positive when {rate_name} > 0")

    @property
    def enabled(self) -> bool:
        return any(getattr(self, name) > 0 for name in _RATES)


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
