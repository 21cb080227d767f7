"""The order journal: SQLite in WAL mode, written before any broker sees an order.

Tables (schema version SCHEMA_VERSION in `meta`; a writable open upgrades an older file with the steps
in MIGRATIONS, none yet: common/migrations.py):
- `events`   append-only: every order lifecycle step, fill, settlement and deposit, in order;
- `orders`   the current state of every order (a view maintained in the same transaction
             as the event that changed it, so it never disagrees with `events`);
- `fills`    every execution and settlement fill, the source of positions and cash;
- `deposits` cash put into an account (its starting capital);
- `risk_watermarks` each account's day-start and peak equity for the loss and drawdown limits;
- `trading_states` each account's ACTIVE / REDUCING / HALTED state, written by the running
             system (loss limits) or by `alluse halt`/`resume` from another process; the
             running system follows the TRADING_STATE events by sequence number.

Writes and durability. An *intent* (an order about to be sent, a cancel request, a deposit, a
trading state) is committed before the call returns: journal before send. A *broker event* (an
acknowledgement, a fill, a cancel confirmation, a settlement) only reports what the broker has
already done and keeps on the broker's side; with `group_commit` it waits in memory and is committed
with the next intent, by `flush()` (the order manager calls it within a few milliseconds), or at
close, so one transaction carries many events instead of one each. A crash can lose only such a
tail, and start-up reconciliation books it again from the broker (the CR-1 test kills the process
at random points to prove it). Without `group_commit` every event is its own transaction.

With `intent_log` (and group commit) an intent is made durable by one append to the intent log
(intent_log.py: a record encoded into a memory-mapped file) instead of an SQLite commit
(docs/performance.md measures both), and its statements ride with the next group commit like a broker
event's; opening the journal replays any the log holds past the last commit. Readers in other processes
see intents when they are committed (within `flush_ms`); a read-only `load()` also overlays the orders
the log holds (an order sent just before a crash, before the restart replays it). Events are numbered
in commit order: a record another process commits meanwhile (`alluse halt`) can come before an intent
made durable earlier. Opening a writable journal commits what a crashed process left in the log, whether
or not the new one uses the log itself.

With WAL and synchronous=NORMAL a committed transaction survives a process crash (kill -9);
`synchronous="FULL"` also survives power loss at the cost of an fsync per commit. SQLite's own
checkpoint (copying the WAL back into the database) would run inside whichever commit crosses
1,000 pages, costing that commit milliseconds; with `background_checkpoint` a thread of the
journal's own does it every 50 ms on a connection of its own instead (see _Checkpointer: the
passes still slow the commits they overlap, through the disk, and a writer that never pauses needs
a brief RESTART now and then or the WAL grows without end).
"""

from __future__ import annotations

import logging
import operator
import os
import shutil
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from mypy_extensions import mypyc_attr

from alluse.common.clock import NS
from alluse.common.migrations import Step
from alluse.common.sqlite_files import StoreIdentity, open_readonly, open_wal
from alluse.execution.config import JournalConfig
from alluse.execution.intent_log import (
    IntentLog,
    IntentLogBusy,
    IntentLogCorrupt,
    IntentLogFull,
    IntentRecord,
    log_path,
    read_records,
)
from alluse.model import Fill, Order, OrderStatus, OrderType, Side, TimeInForce, Unchecked
from alluse.model.rows import FILL_COLUMNS, FILL_COLUMNS_DDL, INSERT_FILL, fill_from_row, fill_row

log = logging.getLogger("alluse.journal")

JOURNAL_FILE = "journal.db"  # its name in a data dir
SCHEMA_VERSION = 1
# Version `to - 1` -> `to`, oldest first. `alluse run` reads the journal read-only (resume_ns) before its
# writable open upgrades it, and a read-only open refuses an older file: a step the readers can ignore lets
# them pass `readable_from` (sqlite_files.open_readonly); any other needs resume_ns to open it for writing.
MIGRATIONS: tuple[Step, ...] = ()

# `events` is append-only (no row is ever deleted), so a plain INTEGER PRIMARY KEY numbers it in order
# without AUTOINCREMENT's extra write to sqlite_sequence per row: 2 us less per order (3 rows) in the
# group commit. Journals made with AUTOINCREMENT keep it; both number the same way.
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    ts INTEGER NOT NULL,
    kind TEXT NOT NULL,
    client_order_id TEXT,
    account TEXT,
    status TEXT,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS events_by_order ON events(client_order_id);
CREATE TABLE IF NOT EXISTS orders (
    client_order_id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    instrument_id TEXT NOT NULL,
    side TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    order_type TEXT NOT NULL,
    limit_price TEXT,
    time_in_force TEXT NOT NULL,
    status TEXT NOT NULL,
    filled_qty INTEGER NOT NULL,
    avg_fill_price TEXT NOT NULL,
    venue_order_id TEXT,
    ts_created INTEGER NOT NULL,
    ts_last INTEGER NOT NULL,
    reason TEXT NOT NULL,
    tag TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS fills (
    fill_id TEXT PRIMARY KEY,
{FILL_COLUMNS_DDL}
);
CREATE TABLE IF NOT EXISTS risk_watermarks (
    account TEXT PRIMARY KEY,
    day INTEGER NOT NULL,
    day_start TEXT NOT NULL,
    peak TEXT NOT NULL,
    ts INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS trading_states (
    account TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    reason TEXT NOT NULL,
    source TEXT NOT NULL,
    ts INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS deposits (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    account TEXT NOT NULL,
    amount TEXT NOT NULL,
    ts INTEGER NOT NULL
);
"""

_UPSERT_ORDER = """
INSERT INTO orders VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
ON CONFLICT(client_order_id) DO UPDATE SET
    status=excluded.status, filled_qty=excluded.filled_qty, avg_fill_price=excluded.avg_fill_price,
    venue_order_id=excluded.venue_order_id, ts_last=excluded.ts_last, reason=excluded.reason
"""
_INSERT_EVENT = "INSERT INTO events (ts, kind, client_order_id, account, status, detail) VALUES (?,?,?,?,?,?)"
_SET_INTENT_LSN = "INSERT OR REPLACE INTO meta VALUES ('intent_lsn', ?)"
# the columns of an `orders` row that may not be NULL (all but limit_price and venue_order_id)
_NOT_NULL = operator.itemgetter(0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 12, 13, 14, 15)
_STORABLE = frozenset({str, int, float, type(None)})
# How long a journal that is to own the intent log waits for it: a short-lived writer (`alluse halt`)
# may hold it for the moment it takes to commit a dead process's intents; a running system holds it
# for good, and a second one on the same data dir is refused.
LOG_LOCK_WAIT_S = 2.0
# broker events waiting past this many statements are committed before the next record is taken, so a
# clock that stops (a paused loop) cannot let them grow without bound
MAX_PENDING = 4096


class JournalError(Exception):
    """The journal cannot be used; the file on disk has not been touched."""


@dataclass(slots=True)
class JournalState:
    """What start-up recovers."""

    orders: dict[str, Order] = field(default_factory=dict)
    fills: list[Fill] = field(default_factory=list)
    deposits: dict[str, Decimal] = field(default_factory=dict)
    sessions: int = 0


def _order_row(o: Unchecked) -> tuple:
    """The order's `orders` row. Read unchecked (model.Unchecked): `_check_row` refuses a row SQLite
    would not take, naming it, where the compiled build would have raised a bare TypeError here."""
    # `_value_` rather than `.value`: the same string, without Enum's Python-level property (three rows an order)
    return (
        o.client_order_id,
        o.account,
        o.instrument_id,
        o.side._value_,
        o.quantity,
        o.order_type._value_,
        None if o.limit_price is None else str(o.limit_price),
        o.time_in_force._value_,
        o.status._value_,
        o.filled_qty,
        str(o.avg_fill_price),
        o.venue_order_id,
        o.ts_created,
        o.ts_last,
        o.reason,
        o.tag,
    )


def _check_row(row: tuple) -> None:
    """An `orders` row SQLite will take: values it can store, and none missing where the table needs one."""
    if None in _NOT_NULL(row) or not set(map(type, row)) <= _STORABLE:
        raise ValueError(f"journal: order row {row!r} has a missing value or one SQLite cannot store")


def _intent_statements(record: IntentRecord) -> tuple[tuple[str, tuple], tuple]:
    """The event statement and the order row an intent record stands for (see _log_intent)."""
    ts, kind, detail = record.fields[:3]
    row = record.fields[3:]
    return (_INSERT_EVENT, (ts, kind, row[0], row[1], row[8], detail)), row


def _order_from_row(row: tuple) -> Order:
    return Order(
        client_order_id=row[0],
        account=row[1],
        instrument_id=row[2],
        side=Side(row[3]),
        quantity=row[4],
        order_type=OrderType(row[5]),
        limit_price=None if row[6] is None else Decimal(row[6]),
        time_in_force=TimeInForce(row[7]),
        status=OrderStatus(row[8]),
        filled_qty=row[9],
        avg_fill_price=Decimal(row[10]),
        venue_order_id=row[11],
        ts_created=row[12],
        ts_last=row[13],
        reason=row[14],
        tag=row[15],
    )


# Small and often beats large and rare: a pass's page writes and fsync delay the commits it overlaps
# (the OS throttles the writer's WAL writes behind them). Measured on OR-1 paced at 2,500 orders/s
# (p99 from each order's due time): every 1 s 1.2-2.2 ms, every 50 ms 0.6-1.0 ms, every 10 ms 0.5 ms;
# back to back, 10 ms cost 7% of throughput and 50 ms nothing measurable, so 50 ms.
CHECKPOINT_EVERY_S = 0.05
# A passive checkpoint copies pages back without stopping the writer, but only a writer that starts a
# transaction while nothing is left to copy can start the WAL over; one that never pauses that long
# (a sustained burst) would grow it without end. Past this many frames (~40 MB of 4 KiB pages) the
# passive pass is followed by a RESTART, which holds writers back while it copies the few frames
# written since and starts the WAL over. It is not tried while a reader (another process) holds a
# snapshot the passive pass could not copy past, and waits at most RESTART_WAIT_MS for a writer or a
# reader before it gives up until the next round.
RESTART_FRAMES = 10_000
RESTART_WAIT_MS = 20


class _Checkpointer:
    """Copies the WAL back into the database every CHECKPOINT_EVERY_S, off the writer's thread (sqlite3 releases
    the GIL while it works), so no commit on the trading path does the copying; the commits a pass
    overlaps still wait a few milliseconds on the disk (OR-1's paced figures show it)."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute(f"PRAGMA busy_timeout={RESTART_WAIT_MS}")
        self.restarts = 0
        self._stop = threading.Event()
        self._ckpt_thread = threading.Thread(target=self._run, name="alluse-journal-checkpoint", daemon=True)
        self._ckpt_thread.start()

    def _run(self) -> None:
        while not self._stop.wait(CHECKPOINT_EVERY_S):
            try:
                self.checkpoint()
            except sqlite3.Error as exc:  # busy or locked now: the next round tries again
                log.debug("journal checkpoint skipped: %s", exc)

    def checkpoint(self) -> None:
        _, frames, copied = self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if frames > RESTART_FRAMES and copied == frames:  # else a reader holds an old snapshot: it would wait
            busy, _, _ = self._db.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
            self.restarts += not busy

    def close(self) -> None:
        self._stop.set()
        self._ckpt_thread.join()
        self._db.close()


@mypyc_attr(allow_interpreted_subclasses=True)  # tests subclass it to make a write fail
class Journal:
    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: str = "NORMAL",
        readonly: bool = False,
        group_commit: bool = True,
        background_checkpoint: bool = True,
        intent_log: bool = True,
    ) -> None:
        self.path = Path(path)
        self.readonly = readonly
        store: StoreIdentity = {"version": SCHEMA_VERSION, "marker_table": "events", "error": JournalError}
        self._checkpointer: _Checkpointer | None = None
        if readonly:
            self._db = open_readonly(self.path, "journal", **store)
        else:
            self._db = open_wal(
                self.path, "journal", schema=_SCHEMA, steps=MIGRATIONS, synchronous=synchronous, **store
            )
            if background_checkpoint:
                self._db.execute("PRAGMA wal_autocheckpoint=0")
                self._checkpointer = _Checkpointer(self.path)
        self.group_commit = group_commit and not readonly
        self.writes = 0  # committed transactions
        self.replayed = 0  # intents the log held past the last commit when this journal opened
        # statements waiting for the next commit, by statement in first-seen order: one executemany each
        # (the order across tables does not matter inside one transaction; within a table it is kept)
        self._pending: dict[str, list[tuple]] = {}
        self._pending_count = 0
        self._pending_orders: dict[str, tuple] = {}  # client order id -> its newest `orders` row
        self._log: IntentLog | None = None
        self._lsn = self._committed_lsn = self._applied_lsn()
        try:
            self.journal_id = self._journal_id()
            if not readonly:
                self._open_intent_log(keep=intent_log and self.group_commit, fsync=synchronous == "FULL")
        except BaseException:
            self._close_files()
            raise

    @classmethod
    def from_config(cls, path: str | Path, config: JournalConfig) -> Journal:
        return cls(
            path,
            synchronous=config.synchronous,
            group_commit=config.group_commit,
            background_checkpoint=config.background_checkpoint,
            intent_log=config.intent_log,
        )

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def _applied_lsn(self) -> int:
        """The number of the last intent-log record a commit carried."""
        return int(self._meta("intent_lsn") or 0)

    def _journal_id(self) -> str | None:
        """This journal's identity, which its intent log carries (made on the first writable open)."""
        journal_id = self._meta("journal_id")
        if journal_id is None and not self.readonly:  # OR IGNORE: another process opening it right now may win
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('journal_id', ?)", (uuid.uuid4().hex,))
            journal_id = self._meta("journal_id")
        return journal_id

    def _open_intent_log(self, *, keep: bool, fsync: bool) -> None:
        """Take the log and commit what it holds past the last commit (a crashed process's intents),
        whether or not this journal goes on to use it; then start it over and keep it (`keep`) or
        let it go. A log another process holds is that process's: a journal that is to own it waits
        LOG_LOCK_WAIT_S and then refuses to open; one that is not goes on without it."""
        path = log_path(self.path)
        if not keep and not path.exists():
            return
        deadline = time.monotonic() + (LOG_LOCK_WAIT_S if keep else 0.0)
        while True:
            try:
                self._log = IntentLog(path, fsync=fsync)
                break
            except IntentLogBusy as exc:
                if not keep:
                    log.info("journal: %s; this process commits its intents directly", exc)
                    return
                if time.monotonic() >= deadline:
                    raise JournalError(
                        f"journal {self.path}: its intent log is held by another process "
                        "(is another `alluse run` using this data dir?)"
                    ) from None
                time.sleep(0.05)
        try:
            owner = self._log.owner
            if self._log.format == 1:
                self._start_over_format1(path)
            elif owner is not None and owner != self.journal_id:
                self._set_aside(path, f"of-journal-{owner}" if owner.isalnum() else "unrecognised")
            elif owner is None and self._log.holds_anything():
                self._set_aside(path, "unrecognised")
            else:
                self._replay(self._logged_records())
            assert self.journal_id is not None
            self._log.start_over(self.journal_id)
        except BaseException:
            self._log.close()
            self._log = None
            raise
        if not keep:
            self._log.close()
            self._log = None

    def _start_over_format1(self, path: Path) -> None:
        """A log of the release before this format pickled its records, and unpickling a file of the data
        directory can run code: it is never read. Empty (its release committed what it held), it starts
        over; otherwise that release is the one to commit its intents."""
        assert self._log is not None
        if self._log.holds_format1_records():
            raise JournalError(
                f"journal {self.path}: its intent log {path} is of an earlier alluse (format 1) and may hold "
                "intents not yet committed; run that release once on this data dir to commit them, or move "
                "the file aside to discard them"
            )
        log.info("journal: %s is of an earlier alluse (format 1) and holds no intents; starting it over", path)

    def _logged_records(self) -> list[IntentRecord]:
        """The records this journal's log holds; one this version cannot read refuses the journal."""
        try:
            return read_records(log_path(self.path), self.journal_id)
        except IntentLogCorrupt as exc:
            raise JournalError(
                f"journal {self.path}: its intent log holds a record this version cannot read ({exc}); "
                "nothing was changed: move the file aside to start without it"
            ) from None

    def _set_aside(self, path: Path, suffix: str) -> None:
        """A log that is not this journal's (journal.db was replaced after a crash, or the file is not
        one this version wrote): its intents are not this journal's to commit, but they may be orders
        that were sent, so the file is copied aside, synced, for a person to look at."""
        aside = path.with_name(f"{path.name}.{suffix}")
        shutil.copyfile(path, aside)
        fd = os.open(aside, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            readable = f"{len(read_records(path))} intents readable"
        except IntentLogCorrupt as exc:
            readable = f"unreadable: {exc}"
        log.error(
            "journal: %s is not this journal's (%s; %s); not committed, copied to %s", path, suffix, readable, aside
        )

    def _replay(self, records: list[IntentRecord]) -> None:
        fresh = [r for r in records if r.lsn > self._committed_lsn]
        if not fresh:
            return
        try:
            for record in fresh:
                event, row = _intent_statements(record)
                _check_row(row)
                self._defer([event], row)
            self._lsn = fresh[-1].lsn
            self.flush()
        except (ValueError, TypeError, IndexError, sqlite3.IntegrityError) as exc:
            raise JournalError(
                f"journal {self.path}: its intent log {log_path(self.path)} holds a record that cannot be "
                f"committed ({exc}); nothing was changed: move the file aside to start without it"
            ) from exc
        self.replayed = len(fresh)
        log.warning("journal: committed %d intents the log held from before a crash", len(fresh))

    # ------------------------------------------------------------------ writes

    @property
    def pending(self) -> int:
        """Statements recorded but not yet committed (broker events, and intents the log holds)."""
        return self._pending_count + len(self._pending_orders)

    def flush(self) -> None:
        """Commits what waits, if anything. Raises like any write."""
        if self._pending or self._pending_orders:
            self._write([])

    def _write(self, statements: list[tuple[str, tuple]]) -> None:
        """One transaction: what waits, then `statements`. On failure nothing is written and what
        waits stays waiting."""
        db = self._db
        db.execute("BEGIN")
        try:
            for sql, rows in self._pending.items():
                db.executemany(sql, rows)
            if self._pending_orders:
                db.executemany(_UPSERT_ORDER, self._pending_orders.values())
            for sql, params in statements:
                db.execute(sql, params)
            if self._lsn != self._committed_lsn:
                db.execute(_SET_INTENT_LSN, (str(self._lsn),))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:  # SQLite has already rolled back after some errors (disk full)
                db.execute("ROLLBACK")
            raise
        self._pending.clear()
        self._pending_count = 0
        self._pending_orders.clear()
        self.writes += 1
        if self._lsn != self._committed_lsn:
            self._committed_lsn = self._lsn
            if self._log is not None:
                self._log.clear()

    def _log_intent(self, ts: int, kind: str, detail: str, row: tuple) -> None:
        """An order's intent as one record (see _intent_statements); its event row is derived from it.
        The row is checked first: SQLite sees it only at the next group commit, after the broker has
        the order, and a row it refuses there would fail that commit and every one after it."""
        assert self._log is not None
        _check_row(row)
        if type(kind) is not str or type(detail) is not str:
            raise ValueError(f"journal: kind={kind!r}, detail={detail!r}: must be strings")
        fields = (ts, kind, detail) + row  # flat: a record holds plain values (intent_log.encode_record)
        try:
            self._log.append(self._lsn + 1, fields)
        except IntentLogFull:
            self.flush()  # commits what the log holds, which starts it over
            self._log.append(self._lsn + 1, fields)
        self._lsn += 1

    def _defer(self, statements: list[tuple[str, tuple]], order_row: tuple | None = None) -> None:
        pending = self._pending
        for sql, params in statements:
            rows = pending.get(sql)
            if rows is None:
                pending[sql] = [params]
            else:
                rows.append(params)
        self._pending_count += len(statements)
        if order_row is not None:
            self._pending_orders[order_row[0]] = order_row  # only the newest state of an order matters

    def sessions(self) -> int:
        """How many sessions have started on this journal."""
        return int(self._meta("sessions") or 0)

    def start_session(self, ts: int) -> int:
        """Counts process starts; the number makes client order ids unique across restarts."""
        session = self.sessions() + 1
        self._write(
            [
                ("INSERT OR REPLACE INTO meta VALUES ('sessions', ?)", (str(session),)),
                (_INSERT_EVENT, (ts, "SESSION_START", None, None, None, str(session))),
            ]
        )
        return session

    def end_session(self, ts: int) -> None:
        """Marks a clean stop; simulated time on the next start resumes after it."""
        self._write([(_INSERT_EVENT, (ts, "SESSION_END", None, None, None, ""))])

    def record_trading_state(self, account: str, state: str, reason: str, source: str, ts: int) -> int:
        """Returns the event's sequence number."""
        self._write(
            [
                ("INSERT OR REPLACE INTO trading_states VALUES (?,?,?,?,?)", (account, state, reason, source, ts)),
                (_INSERT_EVENT, (ts, "TRADING_STATE", None, account, state, f"{source}: {reason}")),
            ]
        )
        return self._db.execute("SELECT max(seq) FROM events WHERE kind = 'TRADING_STATE'").fetchone()[0]

    def trading_states(self) -> dict[str, tuple[str, str, str]]:
        """account -> (state, reason, source) as last recorded."""
        rows = self._db.execute("SELECT account, state, reason, source FROM trading_states")
        return {account: (state, reason, source) for account, state, reason, source in rows}

    def trading_state_changes(self, after_seq: int) -> list[tuple[int, str, str, str]]:
        """(seq, account, state, detail) of TRADING_STATE events after `after_seq`, oldest first."""
        return list(
            self._db.execute(
                "SELECT seq, account, status, detail FROM events WHERE kind = 'TRADING_STATE' AND seq > ? ORDER BY seq",
                (after_seq,),
            )
        )

    def record_control(self, action: str, account: str | None, detail: str, ts: int) -> None:
        """An operator's control through the API (halt, cancel all, flatten...), with who and when in `detail`:
        committed at once, the audit trail of every control."""
        self._write([(_INSERT_EVENT, (ts, "CONTROL", None, account, action, detail))])

    def controls(self) -> list[tuple[int, str | None, str, str]]:
        """(ts, account, action, detail) of every CONTROL event, oldest first."""
        self.flush()
        rows = self._db.execute("SELECT ts, account, status, detail FROM events WHERE kind = 'CONTROL' ORDER BY seq")
        return [(ts, account, action, detail) for ts, account, action, detail in rows]

    def record_watermark(self, account: str, day: int, day_start: Decimal, peak: Decimal, ts: int) -> None:
        """The loss monitor's day start and peak equity, so limits hold across a restart."""
        self._write(
            [
                (
                    "INSERT OR REPLACE INTO risk_watermarks VALUES (?,?,?,?,?)",
                    (account, day, str(day_start), str(peak), ts),
                )
            ]
        )

    def watermarks(self) -> dict[str, tuple[int, Decimal, Decimal]]:
        rows = self._db.execute("SELECT account, day, day_start, peak FROM risk_watermarks")
        return {account: (day, Decimal(start), Decimal(peak)) for account, day, start, peak in rows}

    def record_wheel_phase(self, account: str, underlying: str, phase: str, detail: str, ts: int) -> None:
        """The strategy's phase on one underlying (puts / shares / calls), so the book shows where the wheel is."""
        statements = [(_INSERT_EVENT, (ts, "WHEEL", None, account, phase, f"{underlying}: {detail}"))]
        if self.group_commit:
            self._defer(statements)
        else:
            self._write(statements)

    def wheel_phases(self) -> dict[tuple[str, str], tuple[str, int]]:
        """(account, underlying) -> (phase, since ts), as last recorded."""
        self.flush()
        rows = self._db.execute("SELECT account, status, detail, ts FROM events WHERE kind = 'WHEEL' ORDER BY seq")
        return {(account, detail.split(":", 1)[0]): (phase, ts) for account, phase, detail, ts in rows}

    def record_deposit(self, account: str, amount: Decimal, ts: int) -> None:
        self._write(
            [
                ("INSERT INTO deposits (account, amount, ts) VALUES (?,?,?)", (account, str(amount), ts)),
                (_INSERT_EVENT, (ts, "DEPOSIT", None, account, None, str(amount))),
            ]
        )

    def record_order(
        self, order: Order, kind: str, ts: int, detail: str = "", fill: Fill | None = None, *, intent: bool = True
    ) -> None:
        """Append one lifecycle event and bring the order's current row up to date, atomically. An intent
        is durable before this returns (in the intent log, or committed); a broker event (`intent=False`)
        may wait for the next commit."""
        event = (_INSERT_EVENT, (ts, kind, order.client_order_id, order.account, order.status._value_, detail))
        row = _order_row(order)
        # an intent with a fill (not one the order manager makes) is committed at once, so a bad fill is
        # refused here rather than failing the group commit that would carry it
        if self.group_commit and (not intent or (self._log is not None and fill is None)):
            if self._pending_count >= MAX_PENDING:
                self.flush()  # before anything of this record is taken, so a failure leaves no trace of it
            deferred = [event] if fill is None else [event, (INSERT_FILL, fill_row(fill))]
            if intent:
                self._log_intent(ts, kind, detail, row)
            self._defer(deferred, row)
            return
        statements = [event, (_UPSERT_ORDER, row)]
        if fill is not None:
            statements.append((INSERT_FILL, fill_row(fill)))
        self._write(statements)

    def record_settlement(self, account: str, reason: str, fills: tuple[Fill, ...], ts: int) -> None:
        """A broker event: may wait for the next commit (see the module docstring)."""
        statements = [(_INSERT_EVENT, (ts, "SETTLEMENT", None, account, None, reason))]
        statements += [(INSERT_FILL, fill_row(f)) for f in fills]
        if self.group_commit:
            self._defer(statements)
        else:
            self._write(statements)

    # ------------------------------------------------------------------ reads

    def load(self) -> JournalState:
        """The whole book. Read-only, it also shows the orders the writer's intent log holds (sent,
        not yet committed). The log is read first, then the database in one snapshot, and only the
        records past that snapshot's committed number are laid over it: a commit landing in between
        is then seen once, from the database, never hidden and never overlaid by an older row."""
        self.flush()
        logged = self._logged_records() if self.readonly and self.journal_id else []
        state = JournalState()
        self._db.execute("BEGIN")  # one snapshot for everything below
        try:
            committed = self._applied_lsn()
            for row in self._db.execute("SELECT * FROM orders ORDER BY ts_created, rowid"):
                order = _order_from_row(row)
                state.orders[order.client_order_id] = order
            for row in self._db.execute(f"SELECT {FILL_COLUMNS} FROM fills ORDER BY ts, rowid"):
                state.fills.append(fill_from_row(row))
            for account, amount in self._db.execute("SELECT account, amount FROM deposits ORDER BY seq"):
                state.deposits[account] = state.deposits.get(account, Decimal(0)) + Decimal(amount)
            state.sessions = self.sessions()
        finally:
            self._db.execute("COMMIT")
        for record in logged:
            if record.lsn > committed:
                _, row = _intent_statements(record)
                state.orders[row[0]] = _order_from_row(row)
        return state

    def events(self, client_order_id: str | None = None) -> list[dict]:
        self.flush()
        sql = "SELECT seq, ts, kind, client_order_id, account, status, detail FROM events"
        params: tuple = ()
        if client_order_id is not None:
            sql += " WHERE client_order_id = ?"
            params = (client_order_id,)
        cols = ("seq", "ts", "kind", "client_order_id", "account", "status", "detail")
        return [dict(zip(cols, row, strict=True)) for row in self._db.execute(sql + " ORDER BY seq", params)]

    def last_event_ts(self) -> int | None:
        self.flush()
        return self._db.execute("SELECT max(ts) FROM events").fetchone()[0]

    def schema_version(self) -> int:
        return int(self._meta("schema_version"))  # type: ignore[arg-type]  # open_wal/open_readonly checked it

    def close(self) -> None:
        """Commits what waits, then stops the checkpointer (its last round runs on the next open)."""
        try:
            self.flush()
        except sqlite3.Error as exc:  # intents stay in the log for the next open; broker events are booked
            log.error("journal: %d records not committed at close: %s", self.pending, exc)  # by reconciliation
        finally:
            self._close_files()

    def _close_files(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
        if self._log is not None:
            self._log.close()
            self._log = None
        self._db.close()


def resume_ns(journal_path: Path, start_ns: int) -> int:
    """Where simulated time starts on this journal: `start_ns`, or just after its last event, so a
    restart never moves time backwards."""
    if not journal_path.exists():
        return start_ns
    journal = Journal(journal_path, readonly=True)
    try:
        last = journal.last_event_ts()
    finally:
        journal.close()
    return start_ns if last is None else max(start_ns, last + NS)
