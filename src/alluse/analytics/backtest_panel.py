"""A backtest as one picture: each account's equity at every session close, its drawdown, and what it made.

A backtest runs on the virtual clock with monitoring off, so there is no metrics store for the report's
dashboard to read. This page is drawn from the backtest's own result instead: the JSON form of
`app.backtest.BacktestResult` (the `backtest` part of `backtest.json`). It reads the JSON rather than the
class because analytics sits on a floor below app. Style and helpers are the dashboard's, so the two
pages look alike. Anything missing or malformed draws the frame and says why, never raises: a broken or
empty backtest still gets its page, and the command that wrote its results does not fail on the picture.
"""

from __future__ import annotations

import logging
import math
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from alluse.analytics import dashboard as dash
from alluse.analytics.results import NS_PER_S

log = logging.getLogger("alluse.analytics")

FIGSIZE_IN = (15.0, 8.5)
DPI = dash.DPI
DOCUMENT_KEY = "backtest"  # backtest.json holds {"summary": ..., "backtest": <the result>}
_PAD_NS = 43_200 * NS_PER_S  # half a day either side of the first and last close: end points stay visible


@dataclass(slots=True, frozen=True)
class Curve:
    """One account's equity at the session closes that parsed: epoch ns and values, in time order."""

    account: str
    ts_ns: np.ndarray  # int64
    equity: np.ndarray  # float64, finite
    dropped: int  # points that were not a (close ns, finite equity) pair

    def drawdown(self) -> np.ndarray:
        """The fall from the highest close so far, as a fraction of it (<= 0), as app/backtest.py measures it."""
        peak = np.maximum.accumulate(self.equity) if self.equity.size else self.equity
        with np.errstate(divide="ignore", invalid="ignore"):
            dd = np.where(peak > 0, self.equity / peak - 1.0, 0.0)
        return np.minimum(dd, 0.0)


def render_backtest(path: Path, result: object) -> None:
    """Write the backtest's PNG to `path`; an OSError writing it propagates for the caller to report."""
    fig = build_backtest_figure(result)
    fig.savefig(path, format="png", dpi=DPI)
    log.info("backtest dashboard written to %s", path)


def build_backtest_figure(result: object) -> Figure:
    """The page for a backtest result (or the whole backtest.json document, whose `backtest` part is used)."""
    fig = Figure(figsize=FIGSIZE_IN, dpi=DPI, facecolor="white")
    bt = _unwrap(result)
    _header(fig, bt)
    grid = fig.add_gridspec(
        2, 2, left=0.06, right=0.985, top=0.86, bottom=0.07, hspace=0.06, wspace=0.04,
        width_ratios=(3.0, 1.1), height_ratios=(2.4, 1.0),
    )  # fmt: skip
    top = fig.add_subplot(grid[0, 0])
    bottom = fig.add_subplot(grid[1, 0], sharex=top)
    side = fig.add_subplot(grid[:, 1])
    dash.title(top, "Equity at each session close (dotted: deposits)")
    if bt is None:
        why = f"not a backtest result: expected a JSON object, got {type(result).__name__}"
        for ax in (top, bottom, side):
            dash.message(ax, why if ax is top else "")
        return fig
    entries = _account_entries(bt)
    curves = parse_curves(bt)
    names = list(dict.fromkeys([*entries, *curves]))
    colors = {name: dash.COLORS[i % len(dash.COLORS)] for i, name in enumerate(names)}
    _equity_panels(top, bottom, bt, [curves[n] for n in names if n in curves], names, entries, colors)
    _account_blocks(side, names, entries, curves, colors)
    return fig


# ---------------------------------------------------------------------------------------------- reading the JSON


def _unwrap(result: object) -> Mapping[str, object] | None:
    """The result object itself: the `backtest` part of a whole document, or None when it is not an object."""
    if isinstance(result, Mapping) and "accounts" not in result and isinstance(result.get(DOCUMENT_KEY), Mapping):
        result = result[DOCUMENT_KEY]
    return result if isinstance(result, Mapping) else None


def parse_curves(bt: Mapping[str, object]) -> dict[str, Curve]:
    """Each account's (close ns, equity) points from `equity`; a malformed point is dropped and counted."""
    equity = bt.get("equity")
    if not isinstance(equity, Mapping):
        return {}
    curves: dict[str, Curve] = {}
    for account, points in equity.items():
        ts: list[int] = []
        values: list[float] = []
        rows = points if isinstance(points, Sequence) and not isinstance(points, str | bytes) else ()
        dropped = 0
        for point in rows:
            pair = _point(point)
            if pair is None:
                dropped += 1
            else:
                ts.append(pair[0])
                values.append(pair[1])
        order = np.argsort(np.asarray(ts, dtype=np.int64), kind="stable")
        curves[str(account)] = Curve(
            str(account),
            np.asarray(ts, dtype=np.int64)[order],
            np.asarray(values, dtype=np.float64)[order],
            dropped,
        )
    return curves


def _point(point: object) -> tuple[int, float] | None:
    if not isinstance(point, Sequence) or isinstance(point, str | bytes) or len(point) != 2:
        return None
    ts, value = point[0], _number(point[1])
    if isinstance(ts, bool) or not isinstance(ts, int) or value is None:
        return None
    return ts, value


def _account_entries(bt: Mapping[str, object]) -> dict[str, Mapping[str, object]]:
    """The per-account figures by account name, in the result's order; entries without a name are skipped."""
    accounts = bt.get("accounts")
    if not isinstance(accounts, Sequence) or isinstance(accounts, str | bytes):
        return {}
    return {str(a["account"]): a for a in accounts if isinstance(a, Mapping) and a.get("account") is not None}


def _number(value: object) -> float | None:
    """A finite number from a JSON value (floats, ints, Decimal strings); None for anything else."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        x = float(Decimal(value) if isinstance(value, str) else value)  # type: ignore[arg-type]
    except (TypeError, ValueError, InvalidOperation, ArithmeticError):
        return None
    return x if math.isfinite(x) else None


def _count(value: object) -> str:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else "n/a"


def _pct(value: object, signed: bool = True) -> str:
    x = _number(value)
    return "n/a" if x is None else f"{x:+.2%}" if signed else f"{x:.2%}"


def _money(value: object) -> str:
    x = _number(value)
    return "n/a" if x is None else f"{x:,.2f}"


# ---------------------------------------------------------------------------------------------- drawing


def _header(fig: Figure, bt: Mapping[str, object] | None) -> None:
    """What was run (dates, sessions, seed) and how (quotes, wall time, the journal digest that reproduces it)."""
    if bt is None:
        fig.text(0.03, 0.955, "ALL-USE backtest  ·  no result", fontsize=18, fontweight="bold", va="center")
        return
    sessions = bt.get("sessions")
    fig.text(
        0.03,
        0.955,
        f"ALL-USE backtest  ·  {bt.get('start', '?')} → {bt.get('end', '?')}  ·  {_count(sessions)} sessions  ·  "
        f"seed {bt.get('seed', '?')}",
        fontsize=18,
        fontweight="bold",
        va="center",
    )
    quotes, wall = _number(bt.get("quote_events")), _number(bt.get("wall_seconds"))
    digest = bt.get("digest")
    parts = [
        f"{quotes:,.0f} quote events" if quotes is not None else "quote events n/a",
        f"{wall:.1f} s wall" if wall is not None else "wall time n/a",
        f"journal digest {digest[:16]}" if isinstance(digest, str) and digest else "no journal digest",
        "simulated time: session closes, equity marked at the close",
    ]
    fig.text(0.03, 0.918, "  ·  ".join(parts), fontsize=11, color="#444444", va="center")
    notes = bt.get("notes")
    if isinstance(notes, Sequence) and not isinstance(notes, str) and notes:
        text = "notes: " + "; ".join(str(n) for n in notes)
        fig.text(0.03, 0.893, textwrap.shorten(text, 190), fontsize=10, color="#b71c1c", va="center")


def _equity_panels(
    top: Axes,
    bottom: Axes,
    bt: Mapping[str, object],
    curves: list[Curve],
    names: list[str],
    entries: Mapping[str, Mapping[str, object]],
    colors: Mapping[str, str],
) -> None:
    """Equity lines over the closes (deposits dotted) and, below on the same dates, each account's drawdown."""
    drawn = [c for c in curves if c.ts_ns.size]
    if not drawn:
        dash.message(top, _nothing_to_draw(bt, names, curves))
        dash.message(bottom, "no drawdown without equity points")
        return
    lo_ns = min(int(c.ts_ns[0]) for c in drawn) - _PAD_NS
    hi_ns = max(int(c.ts_ns[-1]) for c in drawn) + _PAD_NS
    for ax in (top, bottom):
        dash.time_axis(ax, lo_ns, hi_ns)
    top.tick_params(labelbottom=False)
    handles: list[Line2D | Patch] = []
    for curve in drawn:
        color = colors[curve.account]
        x = dash.to_days(curve.ts_ns)
        marker = "." if curve.ts_ns.size < 60 else None
        total = _pct(entries.get(curve.account, {}).get("total_return"))
        label = curve.account if total == "n/a" else f"{curve.account}  {total}"
        (line,) = top.plot(x, curve.equity, color=color, linewidth=1.6, marker=marker, label=label)
        handles.append(line)
        deposits = _number(entries.get(curve.account, {}).get("deposits"))
        if deposits is not None and deposits > 0:
            top.axhline(deposits, color=color, linestyle=":", linewidth=1.0, alpha=0.7)
        dd = curve.drawdown() * 100.0
        bottom.fill_between(x, dd, 0.0, color=color, alpha=0.22, linewidth=0)
        bottom.plot(x, dd, color=color, linewidth=1.0, label=curve.account)
    have = {c.account for c in drawn}
    missing = [n for n in names if n not in have]
    if missing:  # said in the legend, like the dashboard's series without data
        label = textwrap.fill("no equity points: " + ", ".join(missing), 60)
        handles.append(Line2D([], [], linestyle="none", label=label))
    top.set_ylabel("equity", fontsize=dash.LABEL_SIZE)
    top.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    top.tick_params(labelsize=dash.TICK_SIZE)
    dash.headroom(top, 0.2)
    legend = top.legend(handles=handles, loc="upper left", fontsize=dash.LEGEND_SIZE, framealpha=0.85,
                        ncol=1 if missing else min(4, len(handles)))  # fmt: skip
    if missing:
        legend.get_texts()[-1].set_color("#b71c1c")
    bottom.set_ylabel("drawdown (%)", fontsize=dash.LABEL_SIZE)
    bottom.tick_params(labelsize=dash.TICK_SIZE)
    low = min(float(np.min(c.drawdown())) for c in drawn) * 100.0
    bottom.set_ylim(min(low * 1.15, -0.5), 0.0)  # a flat 0 % still shows as a line on a readable axis


def _nothing_to_draw(bt: Mapping[str, object], names: list[str], curves: list[Curve]) -> str:
    sessions = bt.get("sessions")
    span = f"{bt.get('start', '?')} → {bt.get('end', '?')}"
    if isinstance(sessions, int) and not isinstance(sessions, bool) and sessions <= 0:
        return f"no session closes from {span}: the span holds no trading session, so there is no equity curve"
    if not names:
        return "no accounts in the result: nothing traded, so there is no equity curve"
    dropped = sum(c.dropped for c in curves)
    why = f" ({dropped} malformed points dropped)" if dropped else ""
    return f"no equity points for {', '.join(names)}{why}"


_BLOCK_ROWS: tuple[tuple[str, str], ...] = (
    ("total return", "total_return"),
    ("annualized", "annualized_return"),
    ("max drawdown", "max_drawdown"),
    ("premium collected", "premium_collected"),
    ("puts assigned", "assignments"),
    ("calls written", "calls_written"),
    ("called away", "called_away"),
    ("win rate", "win_rate"),
)


def block_text(name: str, entry: Mapping[str, object] | None, curve: Curve | None) -> str:
    """One account's figures as aligned lines: the returns, the drawdown and what the wheel did."""
    lines = [name]
    if entry is None:
        lines.append("no figures in the result")
    else:
        lines.append(f"{'equity at the end':<18} {_money(entry.get('final_equity'))}")
        lines.append(f"{'deposits':<18} {_money(entry.get('deposits'))}")
        for label, key in _BLOCK_ROWS:
            value = entry.get(key)
            if key in ("total_return", "annualized_return"):
                shown = _pct(value)
            elif key == "max_drawdown":
                shown = f"{_pct(value, signed=False)} ({_money(entry.get('max_drawdown_amount'))})"
            elif key == "premium_collected":
                shown = _money(value)
            elif key == "win_rate":
                rate = _number(value)
                trades = f"{_count(entry.get('wins'))}/{_count(entry.get('option_trades'))}"
                shown = "- (none closed)" if value is None else "n/a" if rate is None else f"{rate:.0%} ({trades})"
            else:
                shown = _count(value)
            lines.append(f"{label:<18} {shown}")
    if curve is None or not curve.ts_ns.size:
        lines.append("no equity points")
    elif curve.dropped:
        lines.append(f"{curve.dropped} malformed points dropped")
    return "\n".join(lines)


def _account_blocks(
    ax: Axes,
    names: list[str],
    entries: Mapping[str, Mapping[str, object]],
    curves: Mapping[str, Curve],
    colors: Mapping[str, str],
) -> None:
    """A text block per account down the right-hand column, framed in its line's colour."""
    ax.axis("off")
    dash.title(ax, "Per account")
    if not names:
        dash.message(ax, "no accounts in the result")
        return
    step = 1.0 / max(len(names), 2)
    size = 10.0 if len(names) <= 2 else max(6.5, 10.0 * 2.5 / len(names))
    for i, name in enumerate(names):
        ax.text(
            0.02,
            1.0 - i * step - 0.02,
            block_text(name, entries.get(name), curves.get(name)),
            transform=ax.transAxes,
            ha="left",
            va="top",
            family="monospace",
            fontsize=size,
            linespacing=1.35,
            bbox={"boxstyle": "round,pad=0.5", "facecolor": "white", "edgecolor": colors[name], "linewidth": 2.0},
        )
