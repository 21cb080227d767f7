"""Where a data dir's trading stands, read from its files: what `alluse status` shows while no run answers.

Per account its trading state, open orders, positions and P&L; the last session and how it ended; the broker
connection as last sampled. All read-only, so a running system may hold the files meanwhile:

- the journal: orders (its recovered state, the intent log's overlay included), fills, deposits, trading states,
  sessions; the book is built from it as `alluse positions` builds it (`options_book.book_from_journal`: marks from
  `market.json` where the simulated market left it);
- the metrics store: the connection, which the journal does not record (the last `alluse_broker_connected` sample);
- the alert history: the rules firing when it was last written.

The answer is a pydantic model (`StatusView`): the command prints it as tables or one JSON document, and an API
can answer with the same shape. Journal times are the trading clock's (simulated time in a simulated run); the
metrics' and alerts' are the wall clock's.
"""

from __future__ import annotations

import fcntl
import os
from collections import Counter
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Literal

from alluse.app.options_book import AccountBook, BookLine, book_from_journal, read_journal
from alluse.app.order_view import OrderView, View
from alluse.common.clock import ns_to_datetime
from alluse.common.sqlite_files import open_readonly
from alluse.execution.intent_log import log_path
from alluse.execution.journal import JOURNAL_FILE, SCHEMA_VERSION, JournalError
from alluse.model import TradingState
from alluse.monitoring.alert_history import ALERTS_FILE, AlertHistory, AlertHistoryError
from alluse.monitoring.series import BROKER_CONNECTED
from alluse.monitoring.store import METRICS_FILE, MetricsStore, MetricsStoreError

BROKER_INFO = "alluse_broker_info"  # its label `broker` names the broker (brokers/*: one per process)
NOT_JOURNALED = "the journal does not record the broker connection"
# The journal's API has no reads for these (a change to the compiled journal needs a rebuild); read-only queries
# on its tables instead, in one snapshot. The last SESSION_START is found scanning back from the end.
_LAST_START = "SELECT seq, ts, detail FROM events WHERE kind = 'SESSION_START' ORDER BY seq DESC LIMIT 1"
_END_AFTER = "SELECT ts FROM events WHERE kind = 'SESSION_END' AND seq > ? ORDER BY seq LIMIT 1"
_STATES = "SELECT account, state, reason, source, ts FROM trading_states"


class SessionView(View):
    """The journal's last session (a process start). `running`: a process holds the journal's intent log, as a
    running `alluse run` does (None: no intent log to ask, e.g. `journal.intent_log = false`). `ended_cleanly`:
    False for a session that stopped without its end record (killed, crashed: the next start recovers), None
    while it runs or when that cannot be told."""

    number: int
    started: datetime
    started_ns: int
    ended: datetime | None
    ended_ns: int | None
    running: bool | None
    ended_cleanly: bool | None


class ConnectionView(View):
    """The broker connection as last known: `connected` None when nothing recorded it; `at` is the sample's time."""

    broker: str | None
    connected: bool | None
    at: datetime | None
    at_ns: int | None
    source: str | None  # the file it was read from
    note: str


class AccountStatus(View):
    """One account: its trading state (ACTIVE with no `since` when never changed), counts, and money from the book
    (`options_book.AccountBook`: unrealized null where a position has no mark, equity then at cost)."""

    account: str
    trading_state: str
    state_reason: str
    state_source: str | None  # who set it: "cli" (the operator), the loss limits, the system
    state_since: datetime | None
    state_since_ns: int | None
    open_orders: int
    positions: int
    fills: int
    deposits_usd: Decimal
    cash_usd: Decimal
    equity_usd: Decimal
    equity_at_cost: bool
    buying_power_used_usd: Decimal
    premium_collected_usd: Decimal
    commissions_usd: Decimal
    realized_net_usd: Decimal
    unrealized_usd: Decimal | None
    return_on_deposits: float | None


class PositionView(View):
    account: str
    instrument_id: str  # the full OCC symbol for an option
    underlying: str
    right: str | None  # "C", "P", or null for a stock
    strike: Decimal | None
    expiry: str | None  # ISO date
    dte: float | None  # calendar days to expiry
    quantity: int
    avg_cost: Decimal
    mark: float | None
    unrealized_usd: Decimal | None
    note: str  # why a figure is null


class StatusView(View):
    """A data dir's status. `as_of` is the book's time: the journal's last event, or where the simulated market
    stopped if later. `firing_alerts` is None without an alert history. `notes` say why figures are null."""

    source: Literal["journal"] = "journal"  # read from the files, not from a running system
    data_dir: str
    as_of: datetime
    as_of_ns: int
    sessions: int
    last_session: SessionView | None
    connection: ConnectionView
    accounts: list[AccountStatus]
    positions: list[PositionView]
    open_orders: list[OrderView]
    firing_alerts: list[str] | None
    notes: list[str]


def status_from_data_dir(data_dir: Path) -> StatusView:
    """Raises JournalError naming a journal that is missing or cannot be read; a metrics store or alert history
    that cannot be read is said in the answer instead (the journal's part still stands)."""
    path = data_dir / JOURNAL_FILE
    read = read_journal(path)
    state = read[0]
    book = book_from_journal(path, read)
    session, states = _journal_extras(path)
    open_orders = [o for o in state.orders.values() if o.status.is_open]
    firing, alerts_note = firing_alerts(data_dir)
    orders_of, lines_of = Counter(o.account for o in open_orders), Counter(x.account for x in book.lines)
    accounts = [_account(a, states.get(a.account), orders_of[a.account], lines_of[a.account]) for a in book.accounts]
    return StatusView(
        data_dir=str(data_dir), as_of=ns_to_datetime(book.as_of_ns), as_of_ns=book.as_of_ns, sessions=state.sessions,
        last_session=session, connection=connection(data_dir), accounts=accounts,
        positions=[_position(x) for x in book.lines], open_orders=[OrderView.of(o) for o in open_orders],
        firing_alerts=firing, notes=book.notes() + ([alerts_note] if alerts_note else []),
    )  # fmt: skip


def _journal_extras(path: Path) -> tuple[SessionView | None, dict[str, tuple[str, str, str, int]]]:
    """The last session, and account -> (state, reason, source, ts) as last recorded."""
    db = open_readonly(path, "journal", version=SCHEMA_VERSION, marker_table="events", error=JournalError)
    try:
        db.execute("BEGIN")
        start = db.execute(_LAST_START).fetchone()
        end = None if start is None else db.execute(_END_AFTER, (start[0],)).fetchone()
        states = {account: (st, reason, source, ts) for account, st, reason, source, ts in db.execute(_STATES)}
        db.execute("COMMIT")
    finally:
        db.close()
    if start is None:
        return None, states
    _, started_ns, number = start
    ended_ns = None if end is None else end[0]
    running = journal_in_use(path) if ended_ns is None else False
    return SessionView(
        number=int(number), started=ns_to_datetime(started_ns), started_ns=started_ns,
        ended=None if ended_ns is None else ns_to_datetime(ended_ns), ended_ns=ended_ns, running=running,
        ended_cleanly=True if ended_ns is not None else (False if running is False else None),
    ), states  # fmt: skip


def journal_in_use(journal_path: Path) -> bool | None:
    """Does a process hold the journal's intent log? A running `alluse run` holds it (flock) for as long as it runs,
    and the kernel lets go of it when the process dies, so a crashed run does not read as running. None when there
    is no intent log to ask. Asking takes a shared lock for an instant: a run starting just then waits for it."""
    try:
        fd = os.open(log_path(journal_path), os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # and with it the shared lock, if taken
    return False


def connection(data_dir: Path) -> ConnectionView:
    """The last `alluse_broker_connected` sample in the metrics store, and the broker its last info sample names."""
    path = data_dir / METRICS_FILE
    if not path.exists():
        return _unknown_connection(f"there is no {METRICS_FILE} in {data_dir}")
    try:
        reader = MetricsStore.open_readonly(path)
    except MetricsStoreError as exc:
        return _unknown_connection(str(exc))
    try:
        latest = reader.latest("alluse_broker_")
    finally:
        reader.close()
    infos = sorted((ts, name) for name, (ts, _) in latest.items() if name.startswith(BROKER_INFO + "{"))
    broker = (infos[-1][1].partition('broker="')[2].partition('"')[0] or None) if infos else None
    if BROKER_CONNECTED not in latest:
        return _unknown_connection(f"{path} holds no {BROKER_CONNECTED} sample", broker, str(path))
    ts, value = latest[BROKER_CONNECTED]
    return ConnectionView(broker=broker, connected=value >= 1, at=ns_to_datetime(ts), at_ns=ts, source=str(path),
                          note=f"the last sample in {path} ({NOT_JOURNALED})")  # fmt: skip


def _unknown_connection(why: str, broker: str | None = None, source: str | None = None) -> ConnectionView:
    return ConnectionView(broker=broker, connected=None, at=None, at_ns=None, source=source,
                          note=f"unknown: {NOT_JOURNALED}, and {why}")  # fmt: skip


def firing_alerts(data_dir: Path) -> tuple[list[str] | None, str]:
    """The rules whose last event is FIRING (a run stopped while they fired, or one still running), sorted; with
    no alert history None and a note saying why."""
    path = data_dir / ALERTS_FILE
    if not path.exists():
        return None, f"alerts unknown: no {ALERTS_FILE} in {data_dir}"
    try:
        history = AlertHistory(path, readonly=True)
    except AlertHistoryError as exc:
        return None, f"alerts unknown: {exc}"
    try:
        return sorted(history.open_episodes()), ""
    finally:
        history.close()


def _account(a: AccountBook, st: tuple[str, str, str, int] | None, open_orders: int, positions: int) -> AccountStatus:
    if st is None:  # never changed: accounts start ACTIVE
        state, reason, source, since = TradingState.ACTIVE.value, "", None, None
    else:
        state, reason, source, since = st
    return AccountStatus(
        account=a.account, trading_state=state, state_reason=reason, state_source=source,
        state_since=None if since is None else ns_to_datetime(since), state_since_ns=since, open_orders=open_orders,
        positions=positions, fills=a.fills, deposits_usd=a.deposits, cash_usd=a.cash, equity_usd=a.equity,
        equity_at_cost=a.at_cost > 0, buying_power_used_usd=a.buying_power_used,
        premium_collected_usd=a.premium_collected, commissions_usd=a.commissions, realized_net_usd=a.realized_net,
        unrealized_usd=a.unrealized, return_on_deposits=a.return_on_deposits,
    )  # fmt: skip


def _position(x: BookLine) -> PositionView:
    return PositionView(
        account=x.account, instrument_id=x.instrument_id, underlying=x.underlying, right=x.right, strike=x.strike,
        expiry=None if x.expiry is None else x.expiry.isoformat(), dte=x.dte, quantity=x.quantity,
        avg_cost=x.avg_cost, mark=x.mark, unrealized_usd=x.unrealized, note=x.note,
    )  # fmt: skip
