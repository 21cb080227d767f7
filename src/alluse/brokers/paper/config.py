"""The paper venue's section (`[venue]`, `[venue.faults]`): its latencies, session close, commissions and
the faults it injects. Not compiled with the venue (alluse.build): it is built from a person's values and
names a bad one, where a compiled class would refuse it with a bare TypeError."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from alluse.brokers.paper.commissions import IBKR_FIXED, CommissionSchedule
from alluse.common.clock import ms_to_ns
from alluse.common.config_base import NonNegFloat, Rate, Section

FAULT_RATES = (
    "lose_submit_rate",
    "lose_response_rate",
    "drop_ack_rate",
    "duplicate_event_rate",
    "delay_rate",
    "disconnect_rate",
    "pacing_reject_rate",
    "permanent_reject_rate",
)


class FaultConfig(Section):
    """Faults the paper venue injects, to rehearse what a real broker does (see faults.py): probabilities
    per submit (disconnect, lost submit/response, pacing, permanent reject), per accepted order (dropped
    ack) or per event (duplicate, delay). The default injects nothing."""

    seed: int = 0
    lose_submit_rate: Rate = 0.0  # the request never arrives
    lose_response_rate: Rate = 0.0  # it arrives, but the answers are lost until the client asks
    drop_ack_rate: Rate = 0.0
    duplicate_event_rate: Rate = 0.0
    delay_rate: Rate = 0.0
    max_delay_ms: NonNegFloat = 0.0
    disconnect_rate: Rate = 0.0
    disconnect_ms: NonNegFloat = 0.0
    pacing_reject_rate: Rate = 0.0
    permanent_reject_rate: Rate = 0.0

    @model_validator(mode="after")
    def _durations_for_rates(self) -> FaultConfig:
        for duration, rate in (("max_delay_ms", "delay_rate"), ("disconnect_ms", "disconnect_rate")):
            if getattr(self, rate) > 0 and ms_to_ns(getattr(self, duration)) == 0:
                raise ValueError(f"{duration} {getattr(self, duration)}: must be positive when {rate} > 0")
        return self

    @property
    def enabled(self) -> bool:
        return any(getattr(self, name) > 0 for name in FAULT_RATES)

    @property
    def max_delay_ns(self) -> int:
        return ms_to_ns(self.max_delay_ms)

    @property
    def disconnect_ns(self) -> int:
        return ms_to_ns(self.disconnect_ms)


class PaperVenueConfig(Section):
    ack_latency_ms: NonNegFloat = 2.0  # clock time from a decision to its answer reaching the client
    fill_latency_ms: NonNegFloat = 5.0
    session_close_utc_hour: Annotated[int, Field(ge=0, le=23)] = 20  # the 24/7 calendar's daily close (DAY orders)
    commissions: CommissionSchedule = IBKR_FIXED
    faults: FaultConfig = FaultConfig()

    @property
    def ack_latency_ns(self) -> int:
        return ms_to_ns(self.ack_latency_ms)

    @property
    def fill_latency_ns(self) -> int:
        return ms_to_ns(self.fill_latency_ms)
