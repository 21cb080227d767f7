"""How hard to try: bounded retries with exponential backoff and jitter, and the ack timeout.

Jitter spreads retries so that many orders refused together (pacing) do not come back
together and get refused again.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from alluse.common.clock import NS
from alluse.model import InvalidInput

MS = NS // 1000


@dataclass(slots=True, frozen=True)
class RetryPolicy:
    max_attempts: int = 5  # sends of one order, the first included
    initial_backoff_ns: int = 50 * MS
    max_backoff_ns: int = 5_000 * MS
    multiplier: float = 2.0
    jitter: float = 0.2  # each backoff is scaled by a random factor in [1 - jitter, 1 + jitter]
    ack_timeout_ns: int = 2_000 * MS  # no word from the venue this long after a send: ask it

    def __post_init__(self) -> None:
        for name in ("max_attempts", "initial_backoff_ns", "max_backoff_ns", "ack_timeout_ns"):
            value = getattr(self, name)
            if type(value) is not int:  # the clock takes whole ns (compiled, a float raises mid-send)
                raise InvalidInput(name, value, "must be a whole number (int)")
        for name in ("multiplier", "jitter"):
            value = getattr(self, name)
            if type(value) not in (int, float) or not math.isfinite(value):
                raise InvalidInput(name, value, "must be a finite number")
        if self.max_attempts < 1:
            raise InvalidInput("max_attempts", self.max_attempts, "at least 1")
        if not 1 <= self.multiplier <= 100:
            raise InvalidInput("multiplier", self.multiplier, "must be in [1, 100]")
        if not 0 <= self.jitter < 1:
            raise InvalidInput("jitter", self.jitter, "must be in [0, 1)")
        if self.initial_backoff_ns < 0:
            raise InvalidInput("initial_backoff_ns", self.initial_backoff_ns, "must not be negative")
        if self.max_backoff_ns < self.initial_backoff_ns:
            raise InvalidInput("max_backoff_ns", self.max_backoff_ns, "must be at least initial_backoff_ns")
        if self.ack_timeout_ns <= 0:
            raise InvalidInput("ack_timeout_ns", self.ack_timeout_ns, "must be positive")

    def backoff_ns(self, attempt: int, rng: random.Random) -> int:
        """Wait before send number `attempt + 1` (attempt >= 1 sends already made)."""
        growth = self.multiplier ** min(attempt - 1, 64)  # past 64 doublings the cap rules; no overflow
        base = min(self.max_backoff_ns, self.initial_backoff_ns * growth)
        return int(base * rng.uniform(1 - self.jitter, 1 + self.jitter))
