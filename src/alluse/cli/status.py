"""`alluse status`: where a data dir's trading stands (trading states, connection, open orders, P&L).

It reads the data dir's files (alluse.app.status), read-only, whether or not a run holds them; the answer is one
model, `StatusView`, printed as tables or, with `--json`, as one JSON document. A source that answers for a
running system (its API) would give `status_command` another way to get the model; the printing stays the same.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import TYPE_CHECKING

from alluse.cli.inputs import add_data_dir, add_json
from alluse.cli.output import console, money, print_json, print_wide
from alluse.cli.remote import add_api, running_status

if TYPE_CHECKING:
    from alluse.app.status import ConnectionView, SessionView, StatusView

ACCOUNT_ROWS = (  # label, AccountStatus field, how it reads
    ("trading state", "trading_state", str),
    ("open orders", "open_orders", str),
    ("open positions", "positions", str),
    ("fills", "fills", str),
    ("deposits", "deposits_usd", money),
    ("cash", "cash_usd", money),
    ("equity", "equity_usd", money),
    ("return on deposits", "return_on_deposits", lambda x: "-" if x is None else f"{x:+.2%}"),
    ("premium collected", "premium_collected_usd", money),
    ("commissions", "commissions_usd", money),
    ("realized P&L net of commissions", "realized_net_usd", money),
    ("unrealized P&L", "unrealized_usd", money),
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help="trading states, connection, open orders and P&L of a data dir")
    add_data_dir(p)
    add_json(p)
    add_api(p)
    p.set_defaults(func=status_command)


def status_command(args: argparse.Namespace) -> int:
    """A running system's API answers first (when it serves this data dir); the data dir's files otherwise."""
    from alluse.app.status import status_from_data_dir

    live = running_status(args.api, args.data_dir)
    if live is not None:
        if args.json:
            print_json(live)
        else:
            print_live(live)
        return 0
    view = status_from_data_dir(args.data_dir)
    if args.json:
        print_json(view)
    else:
        print_status(view)
    return 0


def print_status(view: StatusView) -> None:
    from rich.markup import escape
    from rich.table import Table

    from alluse.cli.book import order_table

    say = console.print
    say(f"status of {view.data_dir}, read from its files, as of {_time(view.as_of)} UTC", markup=False, highlight=False)
    say(f"session: {_session(view.last_session, view.sessions)}", markup=False, highlight=False)
    say(f"broker: {_connection(view.connection)}", markup=False, highlight=False, soft_wrap=True)
    firing = "unknown (no alert history)" if view.firing_alerts is None else ", ".join(view.firing_alerts) or "none"
    say(f"alerts firing: {firing}", markup=False, highlight=False)

    accounts = Table(title="accounts")
    accounts.add_column("")
    for a in view.accounts:
        accounts.add_column(escape(a.account), justify="right")
    for label, name, show in ACCOUNT_ROWS:
        accounts.add_row(label, *(escape(show(getattr(a, name))) for a in view.accounts))
    accounts.add_row("state set by", *(escape(_state_change(a.state_source, a.state_reason, a.state_since))
                                       for a in view.accounts))  # fmt: skip
    if view.accounts:
        print_wide(accounts)
    else:
        say("accounts: none in the journal yet")
    if view.open_orders:
        print_wide(order_table(view.open_orders, "open orders"))
    else:
        say("open orders: none")
    say("positions with marks and greeks: `alluse positions`", markup=False, highlight=False)
    for note in view.notes:
        say(f"note: {note}", markup=False, highlight=False)


def _time(t: datetime | None) -> str:
    return "-" if t is None else f"{t:%Y-%m-%d %H:%M:%S}"


def _session(s: SessionView | None, sessions: int) -> str:
    if s is None:
        return "none has started on this journal"
    started = f"{s.number} of {sessions}, started {_time(s.started)} UTC"
    if s.ended is not None:
        return f"{started}, ended cleanly {_time(s.ended)} UTC"
    if s.running:
        return f"{started}, running (a process holds the journal)"
    if s.running is False:
        return f"{started}, stopped without a clean end (killed or crashed; the next start recovers)"
    return f"{started}, running or stopped without a clean end (no intent log to tell which)"


def _connection(c: ConnectionView) -> str:
    if c.connected is None:
        return c.note
    state = "connected" if c.connected else "DISCONNECTED"
    return f"{c.broker or 'broker'} {state} at {_time(c.at)} UTC, {c.note}"


def _state_change(source: str | None, reason: str, since: datetime | None) -> str:
    if source is None:
        return "-"
    return f"{source} {_time(since)}" + (f": {reason}" if reason else "")


def print_live(live: dict) -> None:
    """A running system's status, from its API: the run, then each account."""
    from rich.table import Table

    st, conn = live["status"], live["connection"]
    console.print(f"running: {st['data_dir']} (API), {'ready' if st['ready'] else 'NOT READY'}; clock {st['clock']} "
                  f"x{st['speed']:g}; session {st['session']}; broker {conn['broker']} "
                  f"{'connected' if conn['connected'] else 'DISCONNECTED'}; {st['open_orders']} open orders, "
                  f"{st['fills']} fills; firing: {', '.join(st['firing_alerts']) or 'none'}", markup=False)  # fmt: skip
    table = Table(title="accounts (live)")
    for col in ("account", "state", "equity", "cash", "realized net", "unrealized", "open orders"):
        table.add_column(col)
    for a in live["accounts"]:
        table.add_row(a["account"], a["trading_state"], money(a["equity_usd"]), money(a["cash_usd"]),
                      money(a["realized_net_usd"]), money(a["unrealized_usd"]), str(a["open_orders"]))  # fmt: skip
    print_wide(table)
