"""How a series' values read to a person: the unit its name implies and a scale to show it in.

Stored values keep the collector's base units (seconds, bytes, ratios 0..1, per second); only the
report's text and pictures convert, all through here."""

from __future__ import annotations

import math


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
    return 1.0, ""


def display(name: str, value: float | None) -> str:
    """A value of `name` as a short string with its unit, e.g. '1.95 ms', '74.6 MiB', '2.5 %'."""
    if value is None or not math.isfinite(value):
        return "n/a"
    factor, label = unit_of(name)
    shown = value * factor
    text = f"{shown:.3g}" if abs(shown) < 1e4 else f"{shown:,.0f}"
    return f"{text} {label}".rstrip() if label != "/s" else f"{text}/s"
