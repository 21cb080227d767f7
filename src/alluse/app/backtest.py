"""A backtest: the whole system on the virtual clock, session by session, and what each account made.

The same kernel as `alluse run` (app/system.py), driven by a `TestClock` instead of the wall: time moves
from one session close to the next, so the run depends on nothing but its inputs (the config, the seed,
the dates, a replay file). Two runs with the same inputs write the same journal, record for record; the
digest (`journal_digest`) says so in one line. At every close each account's equity and each underlying's
price are sampled: the equity curve, the drawdown and the judging of assignments come from them.
"""

from __future__ import annotations

import hashlib
import math
import sqlite3
import time
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from alluse.app.config import Config, ConfigError
from alluse.app.kernel import market_hours
from alluse.app.market_state import MARKET_STATE_FILE
from alluse.app.options_book import premium_collected
from alluse.app.system import TradingSystem
from alluse.common.clock import NS, TestClock, datetime_to_ns
from alluse.common.market_hours import Sessions
from alluse.execution.journal import JOURNAL_FILE
from alluse.marketdata.replay import Recording, ReplayFeed
from alluse.model import Equity, Fill, Option, Right, Side, parse_symbol

DRAIN_NS = 60 * NS  # after the last close: cancels are answered, the last events committed
SETTLE_PREFIX = "settle:"


@dataclass(slots=True, frozen=True)
class AccountResult:
    """One account over the backtest. Returns are fractions; drawdown is from the highest close before it."""

    account: str
    deposits: Decimal
    final_equity: Decimal
    total_return: float
    annualized_return: float
    max_drawdown: float  # the deepest fall from a peak, as a fraction of that peak (closes only)
    max_drawdown_amount: Decimal
    premium_collected: Decimal
    assignments: int  # short puts assigned: shares bought at the strike
    calls_written: int  # covered-call sales (orders that sold calls and filled)
    called_away: int  # short calls assigned: shares sold at the strike
    option_trades: int  # option positions closed: bought back, expired, assigned or called away
    wins: int
    win_rate: float | None  # None: no option trade closed yet


@dataclass(slots=True)
class BacktestResult:
    start: str
    end: str
    sessions: int
    seed: int
    wall_seconds: float
    quote_events: int
    accounts: list[AccountResult]
    equity: dict[str, list[tuple[int, float]]]  # account -> (close ns, equity) at every session close
    digest: str = ""
    notes: list[str] = field(default_factory=list)


def session_span(hours: Sessions, first: date, last: date) -> list[tuple[int, int]]:
    """(open, close) of every session from `first` to `last`; a span without one is a person's mistake."""
    if last < first:
        raise ConfigError(f"--end {last}: before --start {first}")
    sessions: list[tuple[int, int]] = []
    ts = datetime_to_ns(datetime(first.year, first.month, first.day, tzinfo=UTC))
    stop = datetime_to_ns(datetime(last.year, last.month, last.day, tzinfo=UTC)) + 86_400 * NS
    while (opened := hours.next_open(ts)) is not None and opened < stop:
        close = hours.next_close(opened)
        if close is None:
            break
        sessions.append((opened, close))
        ts = close
    if not sessions:
        raise ConfigError(f"--start {first} --end {last}: no {hours.name} session in that span")
    return sessions


def run_backtest(
    config: Config,
    data_dir: Path,
    first: date,
    last: date,
    *,
    replay: Recording | None = None,
    on_session: Callable[[int, int], None] | None = None,
) -> tuple[TradingSystem, BacktestResult]:
    """Run sessions `first`..`last` on a fresh data dir; `on_session(done, total)` after each close.
    Returns the system stopped but still open (the summary reads its book and broker; the caller closes it)
    and the results."""
    if (data_dir / JOURNAL_FILE).exists() or (data_dir / MARKET_STATE_FILE).exists():
        raise ConfigError(f"--data-dir {data_dir}: holds an earlier run; a backtest starts from nothing "
                          "(remove it or name another)")  # fmt: skip
    data_dir.mkdir(parents=True, exist_ok=True)
    start_probe = datetime_to_ns(datetime(first.year, first.month, first.day, tzinfo=UTC))
    years = max(1, math.ceil((last - first).days / 365) + 1)
    hours = market_hours(config, start_probe, years)
    sessions = session_span(hours, first, last)
    clock = TestClock(sessions[0][0])
    feed = None if replay is None else ReplayFeed(replay, clock)
    t0 = time.perf_counter()
    system = TradingSystem(config, clock, data_dir, feed=feed, hours=hours)
    equity: dict[str, list[tuple[int, float]]] = {a: [] for a in config.accounts}
    spots: dict[str, list[tuple[int, float]]] = {u: [] for u in config.market.underlyings}  # (close, mid)
    try:
        system.start()
        c = system.c
        for done, (_, close) in enumerate(sessions, 1):
            clock.advance_to(close)
            for account in config.accounts:
                equity[account].append((close, float(c.ledger.equity(account, c.cache.fresh_mid))))
            for underlying, seen in spots.items():
                mid = c.cache.fresh_mid(underlying)
                if mid is not None:
                    seen.append((close, mid))
            if on_session is not None:
                on_session(done, len(sessions))
        system.stop_trading()
        clock.advance(DRAIN_NS)
        book = c.journal.load()
        calls = {o.client_order_id for o in c.oms.orders.values() if o.tag == "call"}
        results = [
            account_result(a, book.deposits.get(a, Decimal(0)), c.ledger.equity(a, c.cache.fresh_mid), equity[a],
                           book.fills, spots, calls, first, last)
            for a in config.accounts
        ]  # fmt: skip
    except BaseException:
        system.close()
        raise
    result = BacktestResult(
        start=first.isoformat(),
        end=last.isoformat(),
        sessions=len(sessions),
        seed=config.run.seed,
        wall_seconds=time.perf_counter() - t0,
        quote_events=c.engine.accepted + sum(c.engine.rejected.values()),
        accounts=results,
        equity=equity,
    )
    return system, result


def account_result(
    account: str,
    deposits: Decimal,
    final: Decimal,
    curve: list[tuple[int, float]],
    fills: list[Fill],
    spots: dict[str, list[tuple[int, float]]],
    call_orders: set[str],
    first: date,
    last: date,
) -> AccountResult:
    mine = [f for f in fills if f.account == account]
    total = float(final / deposits) - 1.0 if deposits else 0.0
    days = max((last - first).days + 1, 1)
    annual = (1.0 + total) ** (365.0 / days) - 1.0 if total > -1.0 else -1.0
    peak, worst, worst_amount = -math.inf, 0.0, 0.0
    for _, value in curve:
        peak = max(peak, value)
        if peak > 0 and (peak - value) / peak > worst:
            worst, worst_amount = (peak - value) / peak, peak - value
    assignments = called_away = 0
    for f in mine:
        if f.client_order_id.startswith(SETTLE_PREFIX) and isinstance(parse_symbol(f.instrument_id), Equity):
            if f.side is Side.BUY:
                assignments += 1
            else:
                called_away += 1
    trades, wins = option_trades(mine, spots)
    return AccountResult(
        account=account,
        deposits=deposits,
        final_equity=final,
        total_return=total,
        annualized_return=annual,
        max_drawdown=worst,
        max_drawdown_amount=Decimal(f"{worst_amount:.2f}"),
        premium_collected=premium_collected(mine).get(account, Decimal(0)),
        assignments=assignments,
        calls_written=len({f.client_order_id for f in mine if f.client_order_id in call_orders}),
        called_away=called_away,
        option_trades=trades,
        wins=wins,
        win_rate=wins / trades if trades else None,
    )


def option_trades(fills: list[Fill], spots: dict[str, list[tuple[int, float]]]) -> tuple[int, int]:
    """(closed option trades, winners). A trade runs from a flat position back to flat; its result is the
    cash it made, net of commissions, and an option settled in the money is charged its intrinsic value at
    the last close before it expired (the loss taken in the shares delivered), so an assignment is not
    counted a win just because the option closed at zero."""
    held: dict[str, int] = {}
    cash: dict[str, float] = {}
    trades = wins = 0
    for f in fills:
        instrument = parse_symbol(f.instrument_id)
        if not isinstance(instrument, Option):
            continue
        key = f.instrument_id
        qty = f.quantity if f.side is Side.BUY else -f.quantity
        flow = -float(f.price) * f.quantity * instrument.multiplier * f.side.sign - float(f.commission)
        cash[key] = cash.get(key, 0.0) + flow
        if f.client_order_id.startswith(SETTLE_PREFIX):
            seen = spots.get(instrument.underlying, [])
            at = bisect_right(seen, (f.ts_event, math.inf)) - 1
            if at >= 0:
                spot = seen[at][1]
                strike = float(instrument.strike)
                intrinsic = max(strike - spot, 0.0) if instrument.right is Right.PUT else max(spot - strike, 0.0)
                cash[key] -= intrinsic * f.quantity * instrument.multiplier  # the short side's loss at expiry
        held[key] = held.get(key, 0) + qty
        if held[key] == 0:
            trades += 1
            wins += cash.pop(key) > 0
    return trades, wins


def journal_digest(data_dir: Path) -> str:
    """SHA-256 of the journal's orders, fills and events (every column, in a fixed order) and of the market's
    saved prices: equal digests, identical runs."""
    digest = hashlib.sha256()
    db = sqlite3.connect(f"file:{data_dir / JOURNAL_FILE}?mode=ro", uri=True)
    try:
        for table, order in (("orders", "client_order_id"), ("fills", "fill_id"), ("events", "seq")):
            for row in db.execute(f"SELECT * FROM {table} ORDER BY {order}"):  # noqa: S608 (fixed names)
                digest.update(repr(row).encode())
    finally:
        db.close()
    market = data_dir / MARKET_STATE_FILE
    if market.exists():
        digest.update(market.read_bytes())
    return digest.hexdigest()
