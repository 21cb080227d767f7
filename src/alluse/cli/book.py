"""`alluse orders` and `alluse positions`: the book as a data dir's journal holds it, read-only (a
running system may hold the journal at the same time)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from alluse.cli.inputs import add_data_dir, check_count
from alluse.cli.output import console, money

if TYPE_CHECKING:
    from alluse.model import OrderStatus

ORDER_COLUMNS = (
    "client order id", "account", "instrument", "side", "qty", "type", "limit", "status", "filled", "avg px", "tag",
    "reason",
)  # fmt: skip


def register(sub: argparse._SubParsersAction) -> None:
    orders = sub.add_parser("orders", help="list the orders in a data dir's journal")
    add_data_dir(orders)
    orders.add_argument("--status", help="only orders in this status (e.g. FILLED)")
    orders.add_argument("--limit", type=int, default=50, help="newest N orders (default 50, 0 = all)")
    orders.set_defaults(func=orders_command)

    positions = sub.add_parser("positions", help="show positions and cash from a data dir's journal")
    add_data_dir(positions)
    positions.set_defaults(func=positions_command)


def orders_command(args: argparse.Namespace) -> int:
    from rich.table import Table

    from alluse.execution.journal import JOURNAL_FILE, Journal

    check_count("--limit", args.limit, 0)
    status = None if args.status is None else _order_status(args.status)
    path = args.data_dir / JOURNAL_FILE
    journal = Journal(path, readonly=True)
    try:
        orders = list(journal.load().orders.values())
    finally:
        journal.close()
    if status is not None:
        orders = [o for o in orders if o.status is status]
    if args.limit:
        orders = orders[-args.limit :]
    table = Table(title=f"orders in {path}")
    for col in ORDER_COLUMNS:
        table.add_column(col)
    for o in orders:
        table.add_row(
            o.client_order_id,
            o.account,
            o.instrument_id,
            o.side.value,
            str(o.quantity),
            o.order_type.value,
            money(o.limit_price),
            o.status.value,
            str(o.filled_qty),
            money(o.avg_fill_price) if o.filled_qty else "-",
            o.tag,
            o.reason,
        )
    console.print(table)
    return 0


def _order_status(text: str) -> OrderStatus:
    from alluse.model import InvalidInput, OrderStatus

    try:
        return OrderStatus(text.upper())
    except ValueError:
        names = ", ".join(s.value for s in OrderStatus)
        raise InvalidInput("--status", text, f"not an order status (one of {names})") from None


def positions_command(args: argparse.Namespace) -> int:
    from rich.table import Table

    from alluse.app.run_summary import ledger_from_journal
    from alluse.execution.journal import JOURNAL_FILE

    path = args.data_dir / JOURNAL_FILE
    ledger = ledger_from_journal(path)
    table = Table(title=f"positions in {path}")
    for col in ("account", "instrument", "qty", "avg cost", "realized P&L"):
        table.add_column(col)
    for p in sorted(ledger.open_positions(), key=lambda p: (p.account, p.instrument_id)):
        table.add_row(p.account, p.instrument_id, str(p.quantity), money(p.avg_cost), money(p.realized_pnl))
    console.print(table)
    cash = Table(title="cash")
    for col in ("account", "deposits", "cash", "commissions", "fills"):
        cash.add_column(col)
    for a in ledger.accounts():
        t = ledger.totals(a, lambda _: None)
        cash.add_row(a, money(t.deposits), money(t.cash), money(t.commissions), str(t.fills))
    console.print(cash)
    return 0
