"""The paper venue's accounts: cash and positions as the venue books them, and the cash short puts hold.

Selling puts that open or grow a short position needs free cash of strike * multiplier per contract;
positions and working sell-put orders both hold collateral (model.put_collateral, which the risk gate uses
too).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from alluse.brokers.paper.store import OrderRecord
from alluse.model import Fill, Instrument, Option, Right, Side, put_collateral

_ZERO = Decimal(0)


@dataclass(slots=True)
class VenueAccount:
    name: str
    cash: Decimal
    positions: dict[str, int]
    working: dict[str, OrderRecord] = field(default_factory=dict)

    def book(self, fill: Fill, multiplier: int) -> int:
        """Apply a fill's cash and quantity; returns the instrument's position after it."""
        sign = fill.side.sign
        self.cash -= sign * fill.quantity * fill.price * multiplier + fill.commission
        iid = fill.instrument_id
        position = self.positions.get(iid, 0) + sign * fill.quantity
        if position:
            self.positions[iid] = position
        else:
            self.positions.pop(iid, None)
        return position

    def put_collateral(self, option: Option, extra_sell: int) -> Decimal:
        """What `option` would hold if every working sell of it, and `extra_sell` more contracts, filled."""
        selling = extra_sell + sum(
            e.quantity - e.filled_qty
            for e in self.working.values()
            if e.instrument_id == option.id and e.side is Side.SELL
        )
        return put_collateral(option, self.positions.get(option.id, 0), selling)

    def reserved(self, instrument_of: Callable[[str], Instrument | None]) -> Decimal:
        """Cash held for short puts, open and working."""
        puts = {
            inst.id: inst
            for inst in (instrument_of(i) for i in self.positions)
            if isinstance(inst, Option) and inst.right is Right.PUT
        }
        for e in self.working.values():
            if isinstance(e.instrument, Option) and e.instrument.right is Right.PUT and e.side is Side.SELL:
                puts[e.instrument.id] = e.instrument
        return sum((self.put_collateral(put, 0) for put in puts.values()), _ZERO)
