"""The one row format of a fill, which the journal and the paper venue's store both keep.

Prices and commissions are stored as the text of their Decimal, so a fill read back is the fill written.
"""

from __future__ import annotations

from decimal import Decimal

from alluse.model.enums import Side
from alluse.model.orders import Fill

# The fills table the journal and the venue store both keep, in one column order: one codec for both.
# Its columns after `fill_id` (the two tables' keys differ):
FILL_COLUMNS_DDL = """    client_order_id TEXT NOT NULL,
    account TEXT NOT NULL,
    instrument_id TEXT NOT NULL,
    side TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    price TEXT NOT NULL,
    commission TEXT NOT NULL,
    ts INTEGER NOT NULL,
    liquidity TEXT NOT NULL"""
FILL_COLUMNS = "fill_id, client_order_id, account, instrument_id, side, quantity, price, commission, ts, liquidity"
INSERT_FILL = f"INSERT INTO fills ({FILL_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)"


def fill_row(f: Fill) -> tuple:
    return (
        f.fill_id,
        f.client_order_id,
        f.account,
        f.instrument_id,
        f.side.value,
        f.quantity,
        str(f.price),
        str(f.commission),
        f.ts_event,
        f.liquidity,
    )


def fill_from_row(row: tuple) -> Fill:
    """A row of `SELECT {FILL_COLUMNS} FROM fills`."""
    fill_id, coid, account, instrument_id, side, quantity, price, commission, ts, liquidity = row
    return Fill(
        coid, account, instrument_id, Side(side), quantity, Decimal(price), Decimal(commission), ts, fill_id, liquidity
    )
