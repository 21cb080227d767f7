"""Brokers: one `Broker` interface; the paper venue is the default, IBKR comes later."""

from alluse.brokers.base import (
    DUPLICATE_ORDER_REASON,
    AccountSnapshot,
    Broker,
    ConnectionHandler,
    OrderEventHandler,
    SettlementHandler,
    VenueOrder,
)
from alluse.brokers.commissions import (
    IBKR_FIXED,
    CommissionSchedule,
    commission,
    commission_increment,
)
from alluse.brokers.faults import FaultConfig, FaultKind, InjectedFault
from alluse.brokers.paper import PaperVenue, PaperVenueConfig, QuoteSource
from alluse.brokers.paper_store import Receipt, VenueStoreError, VenueWriteFailed

__all__ = [
    "DUPLICATE_ORDER_REASON",
    "IBKR_FIXED",
    "AccountSnapshot",
    "Broker",
    "CommissionSchedule",
    "ConnectionHandler",
    "FaultConfig",
    "FaultKind",
    "InjectedFault",
    "OrderEventHandler",
    "PaperVenue",
    "PaperVenueConfig",
    "QuoteSource",
    "Receipt",
    "SettlementHandler",
    "VenueOrder",
    "VenueStoreError",
    "VenueWriteFailed",
    "commission",
    "commission_increment",
]
