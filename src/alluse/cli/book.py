"""`alluse orders` and `alluse positions`: the book as a data dir's journal holds it, read-only (a
running system may hold the journal at the same time)."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import TYPE_CHECKING

from alluse.cli.inputs import add_data_dir, add_json, add_limit, check_limit
from alluse.cli.output import console, money, print_json, print_wide

if TYPE_CHECKING:
    from rich.table import Table

    from alluse.app.options_book import OptionsBook
    from alluse.app.order_view import OrderView
    from alluse.model import OrderStatus

ORDER_COLUMNS = (
    "created (UTC)", "client order id", "account", "instrument", "side", "qty", "type", "limit", "status", "filled",
    "avg px", "updated (UTC)", "tag", "reason",
)  # fmt: skip
# never wrapped or cut: a full OCC symbol ("TSLA  261218P00250000"), a time, an id (print_wide widens the table)
ORDER_WHOLE = frozenset({"created (UTC)", "client order id", "instrument", "status", "updated (UTC)"})
POSITION_COLUMNS = (
    "account", "instrument", "qty", "underlying px", "DTE", "delta", "theta/day", "mark (mid)", "avg cost",
    "unrealized P&L", "note",
)  # fmt: skip


def register(sub: argparse._SubParsersAction) -> None:
    orders = sub.add_parser("orders", help="list the orders in a data dir's journal")
    add_data_dir(orders)
    orders.add_argument("--status", help="only orders in this status (e.g. FILLED)")
    add_limit(orders, "orders")
    add_json(orders)
    orders.set_defaults(func=orders_command)

    positions = sub.add_parser("positions", help="show the options book (positions, greeks, accounts) of a journal")
    add_data_dir(positions)
    add_json(positions)
    positions.set_defaults(func=positions_command)


def orders_command(args: argparse.Namespace) -> int:
    """Oldest first (the newest last, nearest the prompt), in the table and the JSON alike."""
    from alluse.app.order_view import OrderView
    from alluse.execution.journal import JOURNAL_FILE, Journal

    limit = check_limit("--limit", args.limit)
    status = None if args.status is None else _order_status(args.status)
    path = args.data_dir / JOURNAL_FILE
    journal = Journal(path, readonly=True)
    try:
        orders = list(journal.load().orders.values())
    finally:
        journal.close()
    if status is not None:
        orders = [o for o in orders if o.status is status]
    views = [OrderView.of(o) for o in orders[-limit:]]
    if args.json:
        print_json({"journal": str(path), "orders": views})
    else:
        print_wide(order_table(views, f"orders in {path}"))
    return 0


def order_table(orders: Iterable[OrderView], title: str) -> Table:
    """Orders as a table, times in UTC to the second (the trading clock's: simulated time in a simulated run)."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=escape(title))
    for col in ORDER_COLUMNS:
        table.add_column(col, no_wrap=col in ORDER_WHOLE, justify="right" if col in ("qty", "filled") else "left")
    for o in orders:
        table.add_row(
            f"{o.created:%Y-%m-%d %H:%M:%S}",
            escape(o.client_order_id),
            escape(o.account),
            escape(o.instrument_id),
            o.side,
            str(o.quantity),
            o.order_type,
            money(o.limit_price),
            o.status,
            str(o.filled_qty),
            money(o.avg_fill_price),
            f"{o.updated:%Y-%m-%d %H:%M:%S}",
            escape(o.tag),
            escape(o.reason or ""),
        )
    return table


def _order_status(text: str) -> OrderStatus:
    from alluse.model import InvalidInput, OrderStatus

    try:
        return OrderStatus(text.upper())
    except ValueError:
        names = ", ".join(s.value for s in OrderStatus)
        raise InvalidInput("--status", text, f"not an order status (one of {names})") from None


def positions_command(args: argparse.Namespace) -> int:
    from alluse.app.options_book import book_from_journal, book_json
    from alluse.execution.journal import JOURNAL_FILE

    path = args.data_dir / JOURNAL_FILE
    book = book_from_journal(path)
    if args.json:
        print_json({"journal": str(path), **book_json(book)})
    else:
        print_book(book, f"positions in {path}")
    return 0


def _num(x: float | None, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def print_book(book: OptionsBook, title: str) -> None:
    """The options book as tables: the positions (a "-" carries the number of the footnote saying why), then the
    accounts, one column each (their figures' names are long). `alluse positions` and `alluse run` share it."""
    from rich.markup import escape
    from rich.table import Table

    from alluse.common.clock import ns_to_datetime

    notes = book.notes()
    pos = Table(title=f"{title} as of {ns_to_datetime(book.as_of_ns):%a %Y-%m-%d %H:%M} UTC")
    for col in POSITION_COLUMNS:
        pos.add_column(col, justify="left" if col in ("account", "instrument", "note") else "right",
                       no_wrap=col == "instrument")  # fmt: skip
    for p in book.lines:
        pos.add_row(
            escape(p.account),
            escape(p.instrument_id),
            str(p.quantity),
            _num(p.underlying_price, ",.2f"),
            _num(p.dte, ".1f"),
            _num(p.delta, "+,.1f"),
            _num(p.theta, "+,.2f"),
            _num(p.mark, ",.2f"),
            money(p.avg_cost),
            money(p.unrealized),
            f"[{notes.index(p.note) + 1}]" if p.note else "",
        )
    if not book.lines:
        pos.add_row("-", "no open positions", *[""] * (len(POSITION_COLUMNS) - 2))
    print_wide(pos)
    console.print(
        "delta in shares (per-contract delta x multiplier x contracts; a stock's is its quantity), theta in money "
        "per calendar day, both for the whole position; mark = mid of the last quote",
        highlight=False,
    )
    for n, note in enumerate(notes, 1):
        console.print(f"[{n}] {note}", highlight=False, markup=False)

    accounts = Table(title="accounts")
    accounts.add_column("")
    for a in book.accounts:
        accounts.add_column(escape(a.account), justify="right")
    underlyings = sorted({u for a in book.accounts for u in a.net_delta})
    rows: list[tuple[str, list[str]]] = [
        (f"net delta {u} (shares)", [_num(a.net_delta[u], "+,.1f") if u in a.net_delta else "" for a in book.accounts])
        for u in underlyings
    ]
    wheeled = sorted({u for phases in book.wheel.values() for u in phases})
    rows += [(f"wheel {u} (puts / shares / calls)", [book.wheel.get(a.account, {}).get(u, "") for a in book.accounts])
             for u in wheeled]  # fmt: skip
    rows += [
        ("theta per day", [_num(a.theta, "+,.2f") for a in book.accounts]),
        ("premium collected (option sells - buys)", [money(a.premium_collected) for a in book.accounts]),
        ("buying power used (short puts' cash + long stock)", [money(a.buying_power_used) for a in book.accounts]),
        ("deposits", [money(a.deposits) for a in book.accounts]),
        ("cash", [money(a.cash) for a in book.accounts]),
        ("equity" + ("*" if any(a.at_cost for a in book.accounts) else ""), [money(a.equity) for a in book.accounts]),
        ("return on deposits", [_num(a.return_on_deposits, "+.2%") for a in book.accounts]),
        ("realized P&L gross (before commissions)", [money(a.realized_gross) for a in book.accounts]),
        ("commissions", [money(a.commissions) for a in book.accounts]),
        ("realized P&L net of commissions", [money(a.realized_net) for a in book.accounts]),
        ("unrealized P&L", [money(a.unrealized) for a in book.accounts]),
        ("fills", [str(a.fills) for a in book.accounts]),
    ]
    for label, cells in rows:
        accounts.add_row(label, *cells)
    console.print(accounts)
    console.print(
        "premium: proceeds of option sells - cost of option buys; short puts' cash: strike x multiplier x contracts; "
        "realized P&L: closed lots (FIFO), net = gross - every commission paid; return = equity / deposits - 1"
        + ("; * positions without a mark at their cost" if any(a.at_cost for a in book.accounts) else ""),
        highlight=False,
    )
