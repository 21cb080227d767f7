"""Market data: feeds push quote batches into the DataEngine, which validates, caches and fans out."""

from alluse.marketdata.cache import QuoteCache
from alluse.marketdata.engine import DataEngine, QuoteSink, RejectReason
from alluse.marketdata.replay import ReplayFeed

__all__ = ["DataEngine", "QuoteCache", "QuoteSink", "RejectReason", "ReplayFeed"]
