"""The options book: positions with their greeks, and each account's risk and P&L as an options trader reads them.

One computation serves both readers of the book, `alluse run`'s end-of-run summary (marks from the
quote cache, greeks from the chain service where it has them) and `alluse positions` (the journal
alone, which keeps no quotes: no marks, so no greeks, and each "-" says why in its `note`).

Where each figure comes from:

- positions, cash, deposits, commissions, realized P&L: the ledger (built from the journal's fills and
  deposits);
- premium collected: the fills (proceeds of option sells minus the cost of option buys; an expiry
  closes at 0, so it keeps what was collected);
- marks, underlying prices: `mark_of` (the mid of the last quote); greeks: Black-Scholes on the mark
  (`marketdata.pricing`), or the chain service's (iv, delta) where the caller passes `model`.

Units: a position's delta is in shares (per-contract delta x multiplier x contracts; a stock's delta is
its quantity), its theta in money per calendar day (theta per day x multiplier x contracts). Money is
`Decimal` as the ledger keeps it; greeks, prices from quotes and ratios are floats (observations). In JSON
(`book_json`, `to_json_value`) a Decimal is a string, exact; a float a number; an unknown figure null.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np

from alluse.app.market_state import load_market_state
from alluse.common.clock import ns_to_datetime
from alluse.execution.journal import Journal, JournalState
from alluse.marketdata.config import MarketConfig
from alluse.marketdata.pricing import DAY_NS, YEAR_NS, greeks, implied_vol
from alluse.model import (
    Fill,
    Instrument,
    InvalidInput,
    Option,
    Position,
    Right,
    expiry_ns,
    float_decimal,
    parse_symbol,
    put_collateral,
)
from alluse.portfolio import Ledger
from alluse.strategies.wheel import holding_of

ZERO = Decimal(0)

MarkOf = Callable[[str], float | None]
# (iv, delta) per contract for an option, or None: the chain service's `greeks_for` (fresh quotes, a broker's own
# model greeks first)
ModelOf = Callable[[Option], tuple[float, float] | None]

# Why a figure is "-": one sentence each, shown as footnotes and kept in the JSON.
NO_QUOTE = "no quote for it"
NO_QUOTE_OFFLINE = "no mark: the journal keeps no quotes (`alluse run` shows marks and greeks at the end of a run)"
NO_UNDERLYING = "no quote for the underlying, so no greeks"
EXPIRED = "expired, not settled yet: no greeks"
NO_VOL = "no volatility reproduces the mark, so no greeks"


@dataclass(slots=True, frozen=True)
class BookLine:
    """One open position. `None` is a figure that cannot be known (no mark, no greeks), never a zero;
    `note` says why. Delta in shares, theta in money per calendar day, both for the whole position."""

    account: str
    instrument_id: str
    underlying: str
    right: str | None  # "C" or "P" for an option, None for a stock
    strike: Decimal | None
    expiry: date | None
    quantity: int
    multiplier: int
    avg_cost: Decimal
    underlying_price: float | None
    dte: float | None  # calendar days to expiry, fractional (options only)
    mark: float | None  # mid
    iv: float | None
    delta: float | None
    theta: float | None
    unrealized: Decimal | None
    note: str = ""


@dataclass(slots=True, frozen=True)
class AccountBook:
    """One account's figures.

    `realized_gross` is the ledger's realized P&L (FIFO lots, before commissions); `realized_net` takes off
    every commission the account paid, those of positions still open included. `buying_power_used` is the
    cash securing short puts (strike x multiplier x contracts) plus long stock at market (at cost without a
    mark); short calls, long options and short stock are not counted. `equity` is cash plus positions at
    marks, at cost where there is none (`at_cost` counts those); `return_on_deposits` is equity / deposits - 1
    (None without deposits). `net_delta` is per underlying, in shares: None where an option's delta is unknown.
    """

    account: str
    net_delta: dict[str, float | None]
    theta: float | None  # money per calendar day, the whole account; None where an option's theta is unknown
    premium_collected: Decimal
    buying_power_used: Decimal
    deposits: Decimal
    cash: Decimal
    equity: Decimal
    return_on_deposits: float | None
    realized_gross: Decimal
    commissions: Decimal
    realized_net: Decimal
    unrealized: Decimal | None  # None where a position has no mark
    at_cost: int
    fills: int


@dataclass(slots=True)
class OptionsBook:
    """The whole book at `as_of_ns` (the clock's time: the simulated time for a simulated run)."""

    as_of_ns: int
    lines: list[BookLine] = field(default_factory=list)
    accounts: list[AccountBook] = field(default_factory=list)
    wheel: dict[str, dict[str, str]] = field(default_factory=dict)  # account -> underlying -> puts/shares/calls

    def notes(self) -> list[str]:
        """The distinct reasons for a "-", in the order the lines give them (the footnotes)."""
        return list(dict.fromkeys(line.note for line in self.lines if line.note))


# ---------------------------------------------------------------------------------------------- the computation


def build_book(
    ledger: Ledger,
    fills: Iterable[Fill],
    as_of_ns: int,
    mark_of: MarkOf,
    rate: float,
    model: ModelOf | None = None,
    no_quote: str = NO_QUOTE,
) -> OptionsBook:
    """The book of `ledger` at `as_of_ns`, pricing at `mark_of` with the risk-free `rate`. `fills` are every
    fill the ledger booked (premium collected is summed from them); `no_quote` is the note of a position
    without a mark. Raises InvalidInput naming a bad time, rate or mark."""
    if type(as_of_ns) is not int or as_of_ns < 0:
        raise InvalidInput("as_of_ns", as_of_ns, "must be a whole number of nanoseconds since the epoch")
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not math.isfinite(rate):
        raise InvalidInput("rate", rate, "must be a finite number")
    marks: dict[str, float | None] = {}

    def mark(instrument_id: str) -> float | None:
        if instrument_id not in marks:
            value = mark_of(instrument_id)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf
            ):
                raise InvalidInput(f"mark of {instrument_id}", value, "must be a positive finite price or None")
            # a mid of two prices on a cent (or finer) grid, less its float noise (2.0949999999999998 -> 2.095), so
            # the money it values reads as it is: equity 100572.30, not 100572.2999999999999
            marks[instrument_id] = None if value is None else round(float(value), 6)
        return marks[instrument_id]

    positions = sorted(ledger.open_positions(), key=lambda p: (p.account, p.instrument_id))
    lines = _price_lines(ledger, positions, as_of_ns, mark, float(rate), model, no_quote)
    premium = premium_collected(fills)
    accounts = [_account(ledger, a, [x for x in lines if x.account == a], premium, mark) for a in ledger.accounts()]
    return OptionsBook(as_of_ns, lines, accounts)


def premium_collected(fills: Iterable[Fill]) -> dict[str, Decimal]:
    """Net option premium per account: proceeds of option sells minus the cost of option buys (before
    commissions, which the accounts show apart). Settlement fills close at 0 and add nothing."""
    out: dict[str, Decimal] = {}
    for f in fills:
        instrument = parse_symbol(f.instrument_id)
        if isinstance(instrument, Option):
            signed = -f.side.sign * f.quantity  # a sell brings premium in
            out[f.account] = out.get(f.account, ZERO) + signed * f.price * instrument.multiplier
    return out


def _price_lines(
    ledger: Ledger,
    positions: list[Position],
    now: int,
    mark: Callable[[str], float | None],
    rate: float,
    model: ModelOf | None,
    no_quote: str,
) -> list[BookLine]:
    """Every line, the options' greeks in one vectorised IV solve and one greeks call."""
    instruments = [parse_symbol(p.instrument_id) for p in positions]
    priced: list[tuple[int, Option, float, float]] = []  # (position index, option, underlying mid, option mid)
    for i, (p, inst) in enumerate(zip(positions, instruments, strict=True)):
        if isinstance(inst, Option) and expiry_ns(inst) > now:
            spot, mid = mark(inst.underlying), mark(p.instrument_id)
            if spot is not None and mid is not None:
                priced.append((i, inst, spot, mid))
    greeks_at = _solve(priced, now, rate, model)
    lines = []
    for i, (p, inst) in enumerate(zip(positions, instruments, strict=True)):
        own = mark(p.instrument_id)
        unrealized = None if own is None else ledger.unrealized(p, own)
        if not isinstance(inst, Option):
            lines.append(
                BookLine(p.account, p.instrument_id, p.instrument_id, None, None, None, p.quantity, p.multiplier,
                         p.avg_cost, own, None, own, None, float(p.quantity), 0.0, unrealized,
                         "" if own is not None else no_quote)
            )  # fmt: skip
            continue
        left = expiry_ns(inst) - now
        iv = delta = theta = None
        note = ""
        if left <= 0:
            note = EXPIRED
        elif own is None:
            note = no_quote
        elif mark(inst.underlying) is None:
            note = NO_UNDERLYING
        else:
            vol, d, t = greeks_at[i]
            if math.isfinite(d) and math.isfinite(t):
                scale = p.multiplier * p.quantity
                iv, delta, theta = vol, d * scale, t * scale
            else:
                note = NO_VOL
        lines.append(
            BookLine(p.account, p.instrument_id, inst.underlying, inst.right.value, inst.strike, inst.expiry,
                     p.quantity, p.multiplier, p.avg_cost, mark(inst.underlying), left / DAY_NS, own, iv, delta,
                     theta, unrealized, note)
        )  # fmt: skip
    return lines


def _solve(
    priced: list[tuple[int, Option, float, float]], now: int, rate: float, model: ModelOf | None
) -> dict[int, tuple[float, float, float]]:
    """Position index -> (iv, delta, theta per day) per unit of the option, NaN where no volatility fits:
    one vectorised IV solve and one greeks call for the whole book. The chain service's (iv, delta), where
    `model` gives them, replace the solved ones (theta is then Black-Scholes at that iv)."""
    if not priced:
        return {}
    S = np.array([spot for _, _, spot, _ in priced], dtype=np.float64)
    K = np.array([float(o.strike) for _, o, _, _ in priced], dtype=np.float64)
    T = np.array([(expiry_ns(o) - now) / YEAR_NS for _, o, _, _ in priced], dtype=np.float64)
    call = np.array([o.right is Right.CALL for _, o, _, _ in priced], dtype=bool)
    mids = np.array([m for _, _, _, m in priced], dtype=np.float64)
    vols = np.array(implied_vol(mids, S, K, T, rate, call), dtype=np.float64, ndmin=1)
    model_delta = np.full(len(priced), np.nan)
    if model is not None:
        for k, (_, option, _, _) in enumerate(priced):
            found = model(option)
            if found is not None:
                vols[k], model_delta[k] = found
    g = greeks(S, K, T, rate, vols, call)
    deltas = np.where(np.isfinite(model_delta), model_delta, np.asarray(g.delta, dtype=np.float64))
    thetas = np.array(g.theta_per_day, dtype=np.float64, ndmin=1)
    return {i: (float(vols[k]), float(deltas[k]), float(thetas[k])) for k, (i, _, _, _) in enumerate(priced)}


def _account(
    ledger: Ledger,
    account: str,
    lines: list[BookLine],
    premium: dict[str, Decimal],
    mark: Callable[[str], float | None],
) -> AccountBook:
    net_delta: dict[str, float | None] = {}
    theta: float | None = 0.0
    buying_power = ZERO
    for line in lines:
        known = net_delta.get(line.underlying, 0.0)
        net_delta[line.underlying] = None if known is None or line.delta is None else known + line.delta
        theta = None if theta is None or line.theta is None else theta + line.theta
        if line.right is None:
            if line.quantity > 0:
                unit = line.avg_cost if line.mark is None else float_decimal(line.mark)
                buying_power += unit * line.quantity * line.multiplier
        elif line.right == Right.PUT.value:
            option = parse_symbol(line.instrument_id)
            assert isinstance(option, Option)
            buying_power += put_collateral(option, line.quantity, 0)
    deposits = ledger.deposits.get(account, ZERO)
    equity = ledger.equity(account, mark)
    gross = sum((p.realized_pnl for (a, _), p in ledger.positions.items() if a == account), ZERO)
    commissions = ledger.commissions.get(account, ZERO)
    unrealized = [line.unrealized for line in lines]
    return AccountBook(
        account=account,
        net_delta=dict(sorted(net_delta.items())),
        theta=theta,
        premium_collected=premium.get(account, ZERO),
        buying_power_used=buying_power,
        deposits=deposits,
        cash=ledger.cash.get(account, ZERO),
        equity=equity,
        return_on_deposits=float(equity / deposits - 1) if deposits else None,
        realized_gross=gross,
        commissions=commissions,
        realized_net=gross - commissions,
        unrealized=None if None in unrealized else sum((u for u in unrealized if u is not None), ZERO),
        at_cost=sum(1 for line in lines if line.mark is None),
        fills=ledger.fill_count.get(account, 0),
    )


# ---------------------------------------------------------------------------------------------- the journal


def read_journal(path: Path) -> tuple[JournalState, int | None]:
    """The journal's book and the time of its last event (None for an empty one), read-only: a running
    system may hold the journal at the same time."""
    journal = Journal(path, readonly=True)
    try:
        return journal.load(), journal.last_event_ts()
    finally:
        journal.close()


def ledger_of(state: JournalState) -> Ledger:
    """Positions and cash rebuilt from the journal's deposits and fills alone (as recovery does)."""
    ledger = Ledger(lambda iid: parse_symbol(iid).multiplier)
    ledger.replay(state.deposits, state.fills)
    return ledger


def book_from_journal(path: Path, read: tuple[JournalState, int | None] | None = None) -> OptionsBook:
    """The book as a data dir's journal holds it, as of its last event (simulated time for a simulated run;
    the wall clock for a journal with no events), with the wheel's phases it journaled. The journal keeps no
    quotes: the marks are the simulated market's last ones where the data dir has them (`market.json`, as of
    where that market stopped); without them marks, greeks and unrealized P&L are None, noted
    `NO_QUOTE_OFFLINE`, and equity is at cost. `read` is `read_journal(path)` where the caller has it already."""
    state, last = read if read is not None else read_journal(path)
    as_of = last if last is not None else time.time_ns()
    marks: dict[str, float] = {}
    market = load_market_state(path.parent)
    if market is not None:
        marks = {m[0]: (m[1] + m[2]) / 2 for m in market.get("marks", []) if _is_mark(m)}
        stopped = market.get("last_ns")
        as_of = max(as_of, stopped) if marks and isinstance(stopped, int) else as_of
    ledger = ledger_of(state)
    book = build_book(ledger, state.fills, as_of, marks.get, MarketConfig().rate, None,
                      NO_QUOTE if marks else NO_QUOTE_OFFLINE)  # fmt: skip
    book.wheel = wheel_of(ledger, read_wheel_phases(path), parse_symbol)  # the pairs the wheel has journaled
    return book


def _is_mark(row: object) -> bool:
    """A saved mark is [id, bid, ask, bid size, ask size] with a positive, uncrossed pair (anything else is
    skipped, as a bad quote would be)."""
    return (
        isinstance(row, list)
        and len(row) == 5
        and isinstance(row[0], str)
        and all(isinstance(x, int | float) and not isinstance(x, bool) for x in row[1:3])
        and 0 < row[1] <= row[2] < math.inf
    )


def read_wheel_phases(path: Path) -> dict[tuple[str, str], tuple[str, int]]:
    journal = Journal(path, readonly=True)
    try:
        return journal.wheel_phases()
    finally:
        journal.close()


def wheel_of(
    ledger: Ledger, pairs: Iterable[tuple[str, str]], instrument_of: Callable[[str], Instrument | None]
) -> dict[str, dict[str, str]]:
    """Each (account, underlying)'s wheel phase (puts / shares / calls), read from the book as the strategy
    reads it: what the positions say now, not what was last journaled."""
    out: dict[str, dict[str, str]] = {}
    for account, underlying in sorted(set(pairs)):
        held = holding_of(ledger.open_positions(account), underlying, instrument_of)
        out.setdefault(account, {})[underlying] = held.phase.value
    return out


# ---------------------------------------------------------------------------------------------- JSON


def to_json_value(value: object) -> object:
    """`value` as what `json.dumps` takes, exactly: Decimals become strings (money stays exact: a JSON
    number is a binary float to most readers), floats stay numbers but NaN and infinities become null
    (JSON has neither), dates are ISO 8601, paths strings, enums their value, dataclasses objects of
    their fields, tuples and sets lists."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, enum.Enum):
        return to_json_value(value.value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json_value(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_json_value(v) for v in value]
    if isinstance(value, np.generic):
        return to_json_value(value.item())
    raise InvalidInput("value", value, f"no JSON form for a {type(value).__name__}")


def book_json(book: OptionsBook) -> dict[str, object]:
    """The book as one JSON object: its fields, `as_of` (ISO 8601, UTC) and `notes`, the distinct reasons
    for a null."""
    out = to_json_value(book)
    assert isinstance(out, dict)
    out["as_of"] = ns_to_datetime(book.as_of_ns).isoformat()
    out["notes"] = book.notes()
    return out
