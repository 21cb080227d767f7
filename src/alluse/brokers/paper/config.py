"""The paper venue's configuration. Not compiled with the venue (alluse.build): it is built from
the caller's values, and its checks name a bad field, where a compiled class would refuse it at
construction with a bare TypeError."""

from __future__ import annotations

from dataclasses import dataclass, field

from alluse.brokers.paper.commissions import IBKR_FIXED, CommissionSchedule
from alluse.brokers.paper.faults import FaultConfig
from alluse.common.sqlite_files import SYNCHRONOUS_MODES
from alluse.model import InvalidInput


@dataclass(slots=True, frozen=True)  # checked once: a later change would reach the venue unchecked
class PaperVenueConfig:
    ack_latency_ns: int = 0
    fill_latency_ns: int = 0
    session_close_utc_hour: int = 20
    commissions: CommissionSchedule = IBKR_FIXED
    # Venue order and fill ids start with this. Their sequence numbers continue across restarts
    # from the venue store; a prefix per session (the system uses the journal's session number)
    # also keeps them apart when the store is in memory.
    id_prefix: str = "P1"
    faults: FaultConfig = field(default_factory=FaultConfig)
    store_synchronous: str = "NORMAL"  # the venue store's SQLite synchronous mode (OFF, NORMAL, FULL)

    def __post_init__(self) -> None:
        for name in ("ack_latency_ns", "fill_latency_ns"):
            value = getattr(self, name)
            if type(value) is not int or value < 0:
                raise InvalidInput(name, value, "must be a non-negative integer (ns)")
        hour = self.session_close_utc_hour
        if type(hour) is not int or not 0 <= hour <= 23:
            raise InvalidInput("session_close_utc_hour", hour, "must be an integer hour 0-23")
        if not isinstance(self.id_prefix, str) or not self.id_prefix:
            raise InvalidInput("id_prefix", self.id_prefix, "must be a non-empty string")
        if not isinstance(self.commissions, CommissionSchedule):
            raise InvalidInput("commissions", self.commissions, "must be a CommissionSchedule")
        if not isinstance(self.faults, FaultConfig):
            raise InvalidInput("faults", self.faults, "must be a FaultConfig")
        if self.store_synchronous not in SYNCHRONOUS_MODES:
            raise InvalidInput("store_synchronous", self.store_synchronous, "must be OFF, NORMAL or FULL")
