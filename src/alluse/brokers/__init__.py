"""Brokers: one `Broker` interface; the paper venue is the default, IBKR comes later."""

from alluse.brokers.base import (
    DUPLICATE_ORDER_REASON,
    AccountSnapshot,
    Broker,
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
from alluse.brokers.paper import PaperVenue, PaperVenueConfig, QuoteSource

__all__ = [
    "DUPLICATE_ORDER_REASON",
    "IBKR_FIXED",
    "AccountSnapshot",
    "Broker",
    "CommissionSchedule",
    "OrderEventHandler",
    "PaperVenue",
    "PaperVenueConfig",
    "QuoteSource",
    "SettlementHandler",
    "VenueOrder",
    "commission",
    "commission_increment",
]
