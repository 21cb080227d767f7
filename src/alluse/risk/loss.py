"""Daily loss and drawdown limits: they watch each account's equity and HALT it on a breach.

The system calls `evaluate(now_ns)` periodically. The day's loss is measured from the equity at
the first evaluation of each UTC day, the drawdown from the highest equity seen. A halt by a
limit is reported once; if an operator resumes the account, the limits re-arm from the equity
at that moment (day start and peak both reset), so the account may lose at most one more limit
before it halts again, instead of halting again at the next evaluation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from alluse.model import TradingState
from alluse.risk.limits import DAY_NS, RiskLimits
from alluse.risk.states import TradingStates

log = logging.getLogger("alluse.risk.loss")

SOURCE = "risk"


@dataclass(slots=True)
class LossWatch:
    day: int  # UTC day number of day_start
    day_start: Decimal
    peak: Decimal
    equity: Decimal
    halted: bool = False  # halted by a limit and not resumed since


class LossMonitor:
    def __init__(
        self,
        states: TradingStates,
        equity_of: Callable[[str], Decimal],
        limits_of: Callable[[str], RiskLimits],
    ) -> None:
        self.states = states
        self.equity_of = equity_of
        self.limits_of = limits_of
        self.watches: dict[str, LossWatch] = {}
        self.errors = 0
        # called when an account's day start or peak moves, so they can be journaled: a restart must not
        # hand out a fresh daily allowance or forget the peak
        self.on_watermark: Callable[[str, LossWatch], None] | None = None

    def seed(self, account: str, day: int, day_start: Decimal, peak: Decimal) -> None:
        """Watermarks recovered at start (from the journal)."""
        self.watches[account] = LossWatch(day, day_start, peak, day_start)

    def evaluate(self, now_ns: int) -> list[str]:
        """Update every watched account; returns the accounts this call halted."""
        halted = []
        for account in self.states.accounts:
            limits = self.limits_of(account)
            if limits.daily_loss_limit is None and limits.max_drawdown is None:
                continue
            try:
                if self._evaluate_one(account, limits, now_ns):
                    halted.append(account)
            except Exception:  # one account's bad equity or failed journal must not skip the others
                self.errors += 1
                log.exception("loss limits of %s not evaluated", account)
        return halted

    def _evaluate_one(self, account: str, limits: RiskLimits, now_ns: int) -> bool:
        equity = self.equity_of(account)
        if not isinstance(equity, Decimal) or not equity.is_finite():
            raise ValueError(f"equity of {account} = {equity!r}: not a finite Decimal")
        day = now_ns // DAY_NS
        watch = self.watches.get(account)
        if watch is None:
            watch = self.watches[account] = LossWatch(day, equity, equity, equity)
            if self.on_watermark is not None:
                self.on_watermark(account, watch)
        state = self.states.get(account)
        if watch.halted and state is not TradingState.HALTED:  # an operator resumed it: re-arm
            watch.day_start = watch.peak = equity
            watch.halted = False
        marks = (watch.day, watch.day_start, watch.peak)
        if watch.day != day:
            watch.day, watch.day_start = day, equity
        watch.peak = max(watch.peak, equity)
        watch.equity = equity
        if self.on_watermark is not None and (watch.day, watch.day_start, watch.peak) != marks:
            self.on_watermark(account, watch)
        breach = _breach(limits, watch)
        if breach is None or state is TradingState.HALTED:
            return False
        watch.halted = True
        return self.states.set(account, TradingState.HALTED, breach, SOURCE)


def _breach(limits: RiskLimits, w: LossWatch) -> str | None:
    loss = w.day_start - w.equity
    if limits.daily_loss_limit is not None and loss >= limits.daily_loss_limit:
        return (
            f"daily loss limit: equity {w.equity:,.2f} is {loss:,.2f} below the day's start "
            f"{w.day_start:,.2f} (limit {limits.daily_loss_limit:,.2f})"
        )
    drawdown = w.peak - w.equity
    if limits.max_drawdown is not None and drawdown >= limits.max_drawdown:
        return (
            f"drawdown limit: equity {w.equity:,.2f} is {drawdown:,.2f} below the peak "
            f"{w.peak:,.2f} (limit {limits.max_drawdown:,.2f})"
        )
    return None
