"""How a series' values read to a person: the unit its name implies and a scale to show it in.

Stored values keep the collector's base units (seconds, bytes, ratios 0..1, per second); only the
report's text and pictures convert, all through here."""

from __future__ import annotations

import math

from alluse.common.clock import ns_to_datetime


def unit_of(name: str) -> tuple[float, str]:
    """(factor, label): multiply a stored value by factor to show it in label."""
    base = name.partition("{")[0]
    if base.endswith(":rate"):
        return 1.0, "/s"
    if "_seconds" in base:
        return 1e3, "ms"
    if base.endswith("_bytes"):
        return 1.0 / 2**20, "MiB"
    if base.endswith("_ratio"):
        return 100.0, "%"
    if base.endswith("_percent"):
        return 1.0, "%"
    if base.endswith("_usd"):
        return 1.0, "$"
    return 1.0, ""


def display(name: str, value: float | None, digits: int = 3) -> str:
    """A value of `name` as a short string with its unit, e.g. '1.95 ms', '74.6 MiB', '2.5 %', to about
    `digits` significant digits."""
    if value is None or not math.isfinite(value):
        return "n/a"
    factor, label = unit_of(name)
    if label == "ms" and abs(value) >= 1.0:  # a quote age of 5 s reads better than 5e+03 ms
        factor, label = 1.0, "s"
    elif label == "MiB" and abs(value) >= 2**30:
        factor, label = 1.0 / 2**30, "GiB"
    shown = value * factor
    # .3g writes 2000 as "2e+03" (and 999.7 as "1e+03"): whole numbers with separators from there up
    text = f"{shown:.{digits}g}" if abs(shown) < 999.5 else f"{shown:,.{max(0, digits - 3)}f}"
    if label == "$":  # dollars lead: $-ahead reads as money in a narrow table cell, "-$1,234" when negative
        return f"-${text[1:]}" if text.startswith("-") else f"${text}"
    return f"{text} {label}".rstrip() if label != "/s" else f"{text}/s"


def p_text(p: float | None) -> str:
    """A p-value as a reader takes it: 'p=0.012', 'p=3.4e-07'; one below what double precision resolves
    (or 0 from an exact fit) as 'p<1e-16', never 'p=0'."""
    if p is None:
        return "p n/a"
    if p < 1e-16:
        return "p<1e-16"
    return f"p={p:.1e}" if p < 1e-3 else f"p={p:.3f}"


def span_text(seconds: float) -> str:
    """A length of time as a reader takes it: '45 s', '12 min', '3.5 h'."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def short_name(name: str) -> str:
    """A series name as the report's text and labels show it: without the project prefix, labels kept."""
    return name.removeprefix("alluse_")


def utc_text(ts_ns: int) -> str:
    """Epoch nanoseconds as 'YYYY-MM-DD HH:MM:SS' in UTC (the report names the zone beside it)."""
    return f"{ns_to_datetime(ts_ns):%Y-%m-%d %H:%M:%S}"
