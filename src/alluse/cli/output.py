"""The consoles every command prints on, and the small formatters several of them share."""

from __future__ import annotations

import sys
from decimal import Decimal

from rich.console import Console
from rich.markup import escape

# piped output (CI logs, `| less`) gets a wide table instead of rich's 80-column default
console = Console(width=None if sys.stdout.isatty() else 132)
err = Console(stderr=True)


def error(message: str, label: str = "error") -> None:
    """One line on stderr, never wrapped (a person greps for it), with no markup read into the message."""
    err.print(f"[bold red]{label}:[/] {escape(message)}", highlight=False, soft_wrap=True)


def money(x: Decimal | float | None) -> str:
    return "-" if x is None else f"{Decimal(x):,.2f}"
