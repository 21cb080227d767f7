"""Market data: feeds push quote batches into the DataEngine, which validates, caches and fans out;
the chain service prices whole option chains from the cache."""

from alluse.marketdata.cache import QuoteCache
from alluse.marketdata.chains import ChainPick, ChainSnapshot, OptionChainService
from alluse.marketdata.config import MarketConfig, Underlying
from alluse.marketdata.engine import DataEngine, QuoteSink, RejectReason
from alluse.marketdata.replay import ReplayFeed
from alluse.marketdata.simulated import SimulatedMarket

__all__ = [
    "ChainPick",
    "ChainSnapshot",
    "DataEngine",
    "OptionChainService",
    "QuoteCache",
    "QuoteSink",
    "RejectReason",
    "ReplayFeed",
    "SimulatedMarket",
    "MarketConfig",
    "Underlying",
]
