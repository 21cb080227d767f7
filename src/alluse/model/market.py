"""A quote: the market data every component reads (floats: an observation, not money)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Quote:
    instrument_id: str
    bid: float
    ask: float
    bid_size: int
    ask_size: int
    ts_event: int  # ns, when the venue/feed stamped it
    ts_recv: int  # ns, when we received it

    @property
    def mid(self) -> float:
        return (self.bid + self.ask) * 0.5
