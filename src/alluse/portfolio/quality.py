"""Execution quality: what each fill cost against the market when the order was sent.

Slippage is measured against the arrival mid (the mid when the order was submitted), in
basis points, signed so that positive always means worse for us, whatever the side.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import fmean, median

from alluse.model import Fill, fast_frozen


@fast_frozen
@dataclass(slots=True, frozen=True)
class FillQuality:
    client_order_id: str
    instrument_id: str
    arrival_mid: float | None
    price: float
    slippage_bps: float | None
    latency_ns: int


@dataclass(slots=True, frozen=True)
class QualitySummary:
    fills: int
    mean_slippage_bps: float | None
    median_latency_ms: float | None
    fill_ratio: float | None  # filled quantity / ordered quantity, over orders that reached a final state
    reject_rate: float | None  # venue rejects / orders sent to the venue


class ExecutionQuality:
    def __init__(self) -> None:
        self.records: list[FillQuality] = []
        self.ordered_qty = 0
        self.filled_qty = 0
        self.sent = 0
        self.rejected = 0

    def on_fill(self, fill: Fill, arrival_mid: float | None, ts_submitted: int, ts_received: int) -> FillQuality:
        """Latency is submit to *receipt* of the fill, what the strategy experiences (the venue's
        execution stamp would hide the fill latency)."""
        price = float(fill.price)
        slippage = None
        if arrival_mid and arrival_mid > 0:
            slippage = fill.side.sign * (price - arrival_mid) / arrival_mid * 1e4
        rec = FillQuality(
            fill.client_order_id, fill.instrument_id, arrival_mid, price, slippage, ts_received - ts_submitted
        )
        self.records.append(rec)
        return rec

    def on_sent(self) -> None:
        self.sent += 1

    def on_rejected(self) -> None:
        self.rejected += 1

    def on_final(self, quantity: int, filled: int) -> None:
        self.ordered_qty += quantity
        self.filled_qty += filled

    def summary(self) -> QualitySummary:
        slips = [r.slippage_bps for r in self.records if r.slippage_bps is not None]
        lats = [r.latency_ns for r in self.records]
        return QualitySummary(
            fills=len(self.records),
            mean_slippage_bps=fmean(slips) if slips else None,
            median_latency_ms=median(lats) / 1e6 if lats else None,
            fill_ratio=self.filled_qty / self.ordered_qty if self.ordered_qty else None,
            reject_rate=self.rejected / self.sent if self.sent else None,
        )
