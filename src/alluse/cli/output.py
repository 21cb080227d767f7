"""The consoles every command prints on, and the small formatters several of them share."""

from __future__ import annotations

import sys
from decimal import Decimal
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from rich.table import Table

# piped output (CI logs, `| less`) gets a wide table instead of rich's 80-column default
console = Console(width=None if sys.stdout.isatty() else 132)
err = Console(stderr=True)


def error(message: str, label: str = "error") -> None:
    """One line on stderr, never wrapped (a person greps for it), with no markup read into the message."""
    err.print(f"[bold red]{label}:[/] {escape(message)}", highlight=False, soft_wrap=True)


def print_json(document: object) -> None:
    """One JSON document on one line, as written: no wrapping, markup or highlighting read into it. Strict JSON:
    pydantic's serializer takes the project's types (a Decimal becomes a string, exact; a datetime ISO 8601; a
    model or dataclass an object) and writes a NaN or an infinity as null, an unknown figure."""
    from pydantic_core import to_json

    console.out(to_json(document, inf_nan_mode="null").decode(), highlight=False)


def print_wide(table: Table) -> None:
    """A table whose words are never cut: a wrappable column is at least as wide as its longest word, and the table
    prints at the console's width, or wider where its whole cells (`no_wrap`: a full option symbol, a time) and
    longest words need more (the terminal then wraps the long lines; rich would have cut them short)."""
    from rich.measure import Measurement

    for column in table.columns:
        cells = [str(cell) for cell in (column.header, *column.cells)]
        pieces = cells if column.no_wrap else [word for cell in cells for word in cell.split()]
        column.min_width = max(map(len, pieces), default=1)
    need = Measurement.get(console, console.options.update_width(2**16), table).minimum  # unclamped
    target = console if need <= console.width else Console(width=need, file=console.file)
    target.print(table, crop=False)  # rich's column fitting may overshoot its own measure by a column or two


def money(x: Decimal | float | None) -> str:
    return "-" if x is None else f"{Decimal(x):,.2f}"
