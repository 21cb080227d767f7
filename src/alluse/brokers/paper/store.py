"""The paper venue's own records: SQLite in WAL mode, in a file of its own (e.g. data/venue.db).

A broker keeps its book when its client crashes; so does the paper venue. This file is the
venue's truth, separate from the order journal, so that reconciliation after a crash compares
two independent records. Tables (schema version SCHEMA_VERSION in `meta`; a writable open upgrades an
older file with the steps in MIGRATIONS, none yet: common/migrations.py):
- `accounts`/`positions` each account's opening cash and positions, as seeded; its current
             cash and positions are those plus its fills, replayed on load, so they can never
             disagree with the fills (and a fill writes three rows, not five);
- `orders`   every order the venue accepted or refused, in its current state;
- `fills`    every execution and settlement fill, in the order the venue made them;
- `receipts` every submit that reached the venue and what became of it (accepted, rejected,
             duplicate, pacing): proof that no client order id reached the venue twice.

The venue collects one decision's changes in a `Batch` and writes it as one transaction before
it sends any event about that decision. Without a path the venue keeps everything in memory
(`MemoryVenueStore`), for tests and benchmarks.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import ClassVar, Protocol

from alluse.brokers.base import VenueOrder
from alluse.common.migrations import Step
from alluse.common.sqlite_files import open_wal
from alluse.model import Fill, Instrument, OrderStatus, OrderType, Side, TimeInForce
from alluse.model.errors import BrokerError, ErrorClass
from alluse.model.rows import FILL_COLUMNS, FILL_COLUMNS_DDL, INSERT_FILL, fill_from_row, fill_row

SCHEMA_VERSION = 1
MIGRATIONS: tuple[Step, ...] = ()  # version `to - 1` -> `to`, oldest first
_WHAT = "venue store"
_MARKER_TABLE = "receipts"

RECEIPT_ACCEPTED = "accepted"
RECEIPT_REJECTED = "rejected"
RECEIPT_DUPLICATE = "duplicate"
RECEIPT_PACING = "pacing"

_ZERO = Decimal(0)

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS accounts (account TEXT PRIMARY KEY, cash TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS positions (
    account TEXT NOT NULL,
    instrument_id TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    PRIMARY KEY (account, instrument_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS orders (
    client_order_id TEXT PRIMARY KEY,
    venue_order_id TEXT NOT NULL,
    venue_seq INTEGER NOT NULL,
    account TEXT NOT NULL,
    instrument_id TEXT NOT NULL,
    side TEXT,
    quantity INTEGER NOT NULL,
    order_type TEXT,
    limit_price TEXT,
    time_in_force TEXT,
    status TEXT NOT NULL,
    filled_qty INTEGER NOT NULL,
    filled_value TEXT NOT NULL,
    ts_accepted INTEGER NOT NULL,
    reason TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS fills (
    seq INTEGER PRIMARY KEY,
    fill_id TEXT NOT NULL,
{FILL_COLUMNS_DDL}
);
CREATE TABLE IF NOT EXISTS receipts (
    seq INTEGER PRIMARY KEY,
    client_order_id TEXT NOT NULL,
    ts INTEGER NOT NULL,
    outcome TEXT NOT NULL
);
"""

_UPSERT_ORDER = """
INSERT INTO orders VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
ON CONFLICT(client_order_id) DO UPDATE SET
    status=excluded.status, filled_qty=excluded.filled_qty, filled_value=excluded.filled_value,
    reason=excluded.reason
"""
_INSERT_RECEIPT = "INSERT INTO receipts (client_order_id, ts, outcome) VALUES (?,?,?)"
_INSERT_ACCOUNT = "INSERT INTO accounts VALUES (?,?)"
_INSERT_POSITION = "INSERT INTO positions VALUES (?,?,?)"


class VenueStoreError(Exception):
    """The venue store cannot be used: the file is left untouched."""


class VenueWriteFailed(BrokerError):
    """A decision could not be stored, so nothing about it was sent.

    The venue's memory holds a decision its store lacks, as a broker whose database failed:
    the outcome of the call is UNKNOWN to the client (ask), and a restart from the store
    forgets the decision.
    """

    error_class: ClassVar[ErrorClass] = ErrorClass.UNKNOWN


@dataclass(slots=True)
class Receipt:
    client_order_id: str
    ts: int
    outcome: str  # RECEIPT_ACCEPTED, RECEIPT_REJECTED, RECEIPT_DUPLICATE or RECEIPT_PACING


@dataclass(slots=True)
class OrderRecord:
    """The venue's own record of one order (never the order manager's object).

    Accepted orders carry their resolved `instrument`. A refused order is kept too (its id is
    used up) with `instrument` None and any field the request got wrong as None (or 0 for the
    quantity); its reason names the bad value.
    """

    client_order_id: str
    venue_order_id: str  # "" when refused
    venue_seq: int  # 0 when refused
    account: str
    instrument_id: str
    instrument: Instrument | None
    side: Side | None
    quantity: int
    order_type: OrderType | None
    limit_price: Decimal | None
    time_in_force: TimeInForce | None
    ts_accepted: int  # when the venue received it (accepted or refused)
    status: OrderStatus = OrderStatus.ACCEPTED
    filled_qty: int = 0
    filled_value: Decimal = _ZERO  # money traded so far, for the per-order commission
    reason: str = ""
    rested: bool = False  # was not fully filled on arrival: later fills are maker fills

    def snapshot(self) -> VenueOrder:
        return VenueOrder(
            self.client_order_id,
            self.venue_order_id,
            self.account,
            self.instrument_id,
            self.side,  # type: ignore[arg-type]  # None only for a refused request
            self.quantity,
            self.order_type,  # type: ignore[arg-type]
            self.limit_price,
            self.time_in_force,  # type: ignore[arg-type]
            self.status,
            self.filled_qty,
            self.ts_accepted,
            self.reason,
        )


@dataclass(slots=True)
class Batch:
    """One venue decision's changes, written as one transaction."""

    receipts: list[Receipt] = field(default_factory=list)
    orders: dict[str, OrderRecord] = field(default_factory=dict)  # final state of each touched order
    fills: list[Fill] = field(default_factory=list)
    accounts: dict[str, tuple[Decimal, dict[str, int]]] = field(default_factory=dict)  # new: opening cash, positions

    def __bool__(self) -> bool:
        return bool(self.receipts or self.orders or self.fills or self.accounts)

    def clear(self) -> None:
        self.receipts.clear()
        self.orders.clear()
        self.fills.clear()
        self.accounts.clear()


@dataclass(slots=True)
class StoredState:
    """What a restarted venue loads."""

    accounts: dict[str, tuple[Decimal, dict[str, int]]] = field(default_factory=dict)  # opening cash, positions
    orders: list[OrderRecord] = field(default_factory=list)  # oldest first
    fills: list[Fill] = field(default_factory=list)  # in the order the venue made them
    venue_seq: int = 0
    fill_seq: int = 0


class VenueStore(Protocol):
    def write(self, batch: Batch) -> None: ...

    def load(self, instrument_of: Callable[[str], Instrument | None]) -> StoredState: ...

    def receipts(self) -> list[Receipt]: ...

    def close(self) -> None: ...


class MemoryVenueStore:
    """No file: the venue's memory is all there is; only the receipts are kept here."""

    def __init__(self) -> None:
        self._receipts: list[Receipt] = []

    def write(self, batch: Batch) -> None:
        if batch.receipts:
            self._receipts += batch.receipts

    def load(self, instrument_of: Callable[[str], Instrument | None]) -> StoredState:  # noqa: ARG002
        return StoredState()

    def receipts(self) -> list[Receipt]:
        return list(self._receipts)

    def close(self) -> None:
        pass


def _order_row(r: OrderRecord) -> tuple:
    return (
        r.client_order_id,
        r.venue_order_id,
        r.venue_seq,
        r.account,
        r.instrument_id,
        None if r.side is None else r.side.value,
        r.quantity,
        None if r.order_type is None else r.order_type.value,
        None if r.limit_price is None else str(r.limit_price),
        None if r.time_in_force is None else r.time_in_force.value,
        r.status.value,
        r.filled_qty,
        str(r.filled_value),
        r.ts_accepted,
        r.reason,
    )


class SqliteVenueStore:
    def __init__(self, path: str | Path, *, synchronous: str = "NORMAL") -> None:
        self.path = Path(path)
        self._db = open_wal(
            self.path,
            _WHAT,
            version=SCHEMA_VERSION,
            marker_table=_MARKER_TABLE,
            schema=_SCHEMA,
            steps=MIGRATIONS,
            synchronous=synchronous,
            error=VenueStoreError,
        )
        self.writes = 0

    def write(self, batch: Batch) -> None:
        db = self._db
        db.execute("BEGIN")
        try:
            if batch.receipts:
                db.executemany(_INSERT_RECEIPT, [(r.client_order_id, r.ts, r.outcome) for r in batch.receipts])
            if batch.orders:
                db.executemany(_UPSERT_ORDER, [_order_row(r) for r in batch.orders.values()])
            if batch.fills:
                db.executemany(INSERT_FILL, [fill_row(f) for f in batch.fills])
            for account, (cash, positions) in batch.accounts.items():
                db.execute(_INSERT_ACCOUNT, (account, str(cash)))
                db.executemany(_INSERT_POSITION, [(account, i, q) for i, q in positions.items()])
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:  # SQLite may have rolled back already (disk full): keep the real error
                db.execute("ROLLBACK")
            raise
        self.writes += 1

    def load(self, instrument_of: Callable[[str], Instrument | None]) -> StoredState:
        """Everything the venue decided, as it decided it; a row that cannot be read is a corrupt store."""
        state = StoredState()
        db = self._db
        try:
            for account, cash in db.execute("SELECT account, cash FROM accounts ORDER BY account"):
                state.accounts[account] = (Decimal(cash), {})
            for account, instrument_id, qty in db.execute("SELECT * FROM positions ORDER BY account, instrument_id"):
                state.accounts[account][1][instrument_id] = qty
            for row in db.execute("SELECT * FROM orders ORDER BY ts_accepted, venue_seq, client_order_id"):
                state.orders.append(self._order_of(row, instrument_of))
            for row in db.execute(f"SELECT {FILL_COLUMNS} FROM fills ORDER BY seq"):
                state.fills.append(fill_from_row(row))
        except (KeyError, ValueError, ArithmeticError, sqlite3.DatabaseError) as exc:
            raise VenueStoreError(f"{_WHAT} {self.path}: unreadable record ({exc!r})") from None
        state.venue_seq = db.execute("SELECT coalesce(max(venue_seq), 0) FROM orders").fetchone()[0]
        state.fill_seq = db.execute("SELECT coalesce(max(seq), 0) FROM fills").fetchone()[0]
        return state

    def _order_of(self, row: tuple, instrument_of: Callable[[str], Instrument | None]) -> OrderRecord:
        status = OrderStatus(row[10])
        instrument = None
        if row[2]:  # accepted once: its instrument must resolve
            instrument = instrument_of(row[4])
            if instrument is None:
                raise ValueError(f"order {row[0]}: unknown instrument {row[4]!r}")
        return OrderRecord(
            client_order_id=row[0],
            venue_order_id=row[1],
            venue_seq=row[2],
            account=row[3],
            instrument_id=row[4],
            instrument=instrument,
            side=None if row[5] is None else Side(row[5]),
            quantity=row[6],
            order_type=None if row[7] is None else OrderType(row[7]),
            limit_price=None if row[8] is None else Decimal(row[8]),
            time_in_force=None if row[9] is None else TimeInForce(row[9]),
            ts_accepted=row[13],
            status=status,
            filled_qty=row[11],
            filled_value=Decimal(row[12]),
            reason=row[14],
            rested=status.is_open,
        )

    def receipts(self) -> list[Receipt]:
        return [
            Receipt(*row) for row in self._db.execute("SELECT client_order_id, ts, outcome FROM receipts ORDER BY seq")
        ]

    def close(self) -> None:
        self._db.close()
