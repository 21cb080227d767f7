"""The execution sections: `[execution]` (retries and timeouts of the order manager) and `[journal]` (how
the order journal writes). Times are clock time: simulated time in a simulated run."""

from __future__ import annotations

import random
from typing import Annotated

from pydantic import Field, field_validator, model_validator

from alluse.common.clock import ms_to_ns
from alluse.common.config_base import NonNegFloat, PositiveFloat, Section, one_of
from alluse.common.sqlite_files import SYNCHRONOUS_MODES


class ExecutionConfig(Section):
    """How hard to try: bounded retries with exponential backoff and jitter, and the ack timeout. Jitter
    spreads retries so that many orders refused together (pacing) do not come back together."""

    max_attempts: Annotated[int, Field(ge=1, le=20)] = 5  # sends of one order, the first included
    initial_backoff_ms: NonNegFloat = 50.0
    max_backoff_ms: PositiveFloat = 5000.0
    backoff_multiplier: Annotated[float, Field(ge=1, le=100)] = 2.0
    jitter: Annotated[float, Field(ge=0, lt=1)] = 0.2  # each backoff scaled by a factor in [1 - jitter, 1 + jitter]
    ack_timeout_ms: PositiveFloat = 2000.0  # no word from the venue this long after a send: ask it
    pacing_window_ms: PositiveFloat = 1000.0  # a send refused for the venue's rate goes again after this (IB: 1 s)
    max_throttled: Annotated[int, Field(ge=1)] = 100  # pacing refusals of one order in a row before it is given up

    @model_validator(mode="after")
    def _check_backoffs(self) -> ExecutionConfig:
        if self.max_backoff_ms < self.initial_backoff_ms:
            raise ValueError(
                f"max_backoff_ms {self.max_backoff_ms} is below initial_backoff_ms {self.initial_backoff_ms}"
            )
        return self

    @property
    def ack_timeout_ns(self) -> int:
        return ms_to_ns(self.ack_timeout_ms)

    def pacing_window_ns(self, rng: random.Random) -> int:
        """The wait after a pacing refusal: the venue's window, spread by the jitter so a burst refused together
        does not come back together."""
        return ms_to_ns(self.pacing_window_ms * rng.uniform(1, 1 + self.jitter))

    def backoff_ns(self, attempt: int, rng: random.Random) -> int:
        """Wait before send number `attempt + 1` (attempt >= 1 sends already made)."""
        growth = self.backoff_multiplier ** min(attempt - 1, 64)  # past 64 doublings the cap rules; no overflow
        base = min(self.max_backoff_ms, self.initial_backoff_ms * growth)
        return ms_to_ns(base * rng.uniform(1 - self.jitter, 1 + self.jitter))


class JournalConfig(Section):
    """How the order journal writes (execution/journal.py). The defaults are the fast and safe ones;
    the others trade speed for a stricter record and are what the benchmarks' "before" runs use."""

    synchronous: str = "NORMAL"  # NORMAL survives a process crash; FULL also a power loss
    group_commit: bool = True  # broker events ride along with the next commit; False: a commit each
    flush_ms: Annotated[float, Field(gt=0, le=1000)] = 2.0  # the longest a broker event waits for one
    background_checkpoint: bool = True  # WAL checkpoints on a thread; False: inside a commit, as SQLite does
    intent_log: bool = True  # intents made durable by an append to a log file; False: an SQLite commit each

    @field_validator("synchronous")
    @classmethod
    def _check_sync(cls, v: str) -> str:
        return one_of(v, SYNCHRONOUS_MODES)

    @property
    def flush_ns(self) -> int:
        return ms_to_ns(self.flush_ms)
