"""How the paper venue matches: orders take the displayed touch (buy at the ask, sell at the bid) up to
the displayed size.

Displayed size is consumed per quote: several orders matched against one quote share its size; the next
quote brings fresh size. Fills are priced at the touch, also for a resting limit that a later quote
crosses (the client gets the improvement). A crossed quote is bad data and never fills.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from decimal import Decimal

from alluse.brokers.paper.store import OrderRecord
from alluse.model import Quote, Side, to_money

log = logging.getLogger("alluse.brokers.paper")


@dataclass(slots=True)
class Touch:
    """One quote's displayed liquidity, and how much of it orders have already taken."""

    key: tuple[object, ...]
    bid: Decimal | None  # None: that side shows nothing usable
    ask: Decimal | None
    bid_left: int
    ask_left: int


def touch_of(quote: Quote, touches: dict[str, Touch]) -> Touch | None:
    """The quote's liquidity left to take (remembered per instrument in `touches`), or None for a crossed quote."""
    key = (quote.ts_event, quote.ts_recv, quote.bid, quote.ask, quote.bid_size, quote.ask_size)
    touch = touches.get(quote.instrument_id)
    if touch is not None and touch.key == key:
        return touch
    bid = _side_price(quote.bid, quote.bid_size)
    ask = _side_price(quote.ask, quote.ask_size)
    if bid is not None and ask is not None and bid > ask:
        log.warning("ignoring crossed quote %r", quote)
        return None
    bid_size = quote.bid_size if bid is not None else 0
    touch = Touch(key, bid, ask, bid_size, quote.ask_size if ask is not None else 0)
    touches[quote.instrument_id] = touch
    return touch


def take(entry: OrderRecord, touch: Touch) -> tuple[int, Decimal] | None:
    """What `entry` takes from the touch (quantity and price, size consumed), or None if it does not trade."""
    if entry.side is Side.BUY:
        price, available = touch.ask, touch.ask_left
        if price is None or available <= 0 or (entry.limit_price is not None and price > entry.limit_price):
            return None
        qty = min(available, entry.quantity - entry.filled_qty)
        touch.ask_left -= qty
    else:
        price, available = touch.bid, touch.bid_left
        if price is None or available <= 0 or (entry.limit_price is not None and price < entry.limit_price):
            return None
        qty = min(available, entry.quantity - entry.filled_qty)
        touch.bid_left -= qty
    return qty, price


def _side_price(price: float, size: int) -> Decimal | None:
    if type(size) is not int or size <= 0 or not (math.isfinite(price) and price > 0):
        return None
    return to_money(price)
