"""The paper venue: the default broker, filling orders against the live quotes (see venue.py)."""

from alluse.brokers.paper.commissions import IBKR_FIXED, CommissionSchedule, commission, commission_increment
from alluse.brokers.paper.config import FaultConfig, PaperVenueConfig
from alluse.brokers.paper.faults import FaultKind, InjectedFault
from alluse.brokers.paper.store import Receipt, VenueStoreError, VenueWriteFailed
from alluse.brokers.paper.venue import PaperVenue, QuoteSource

__all__ = [
    "IBKR_FIXED",
    "CommissionSchedule",
    "FaultConfig",
    "FaultKind",
    "InjectedFault",
    "PaperVenue",
    "PaperVenueConfig",
    "QuoteSource",
    "Receipt",
    "VenueStoreError",
    "VenueWriteFailed",
    "commission",
    "commission_increment",
]
