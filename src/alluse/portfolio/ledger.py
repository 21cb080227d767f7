"""Positions, cash and P&L, built only from fills and deposits.

The ledger is a pure function of the journal's fills and deposits, which is what makes
recovery exact: replaying the same fills gives the same cash to the cent, and the summary
can be checked against the fills table independently.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from mypy_extensions import mypyc_attr

from alluse.common.metrics import Metric, counter, gauge
from alluse.model import Fill, InvalidInput, Position, Unchecked, float_decimal

ZERO = Decimal(0)


@dataclass(slots=True)
class AccountTotals:
    account: str
    deposits: Decimal
    cash: Decimal
    commissions: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    fills: int


def check_deposit(amount: Unchecked, field_name: str = "amount") -> Decimal:
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount < 0:
        raise InvalidInput(field_name, amount, "a deposit must be a non-negative Decimal")
    return amount


@mypyc_attr(allow_interpreted_subclasses=True)  # tests subclass it to refuse scans of the positions
class Ledger:
    def __init__(self, multiplier_of: Callable[[str], int]) -> None:
        self._multiplier_of = multiplier_of
        self.positions: dict[tuple[str, str], Position] = {}
        self.deposits: dict[str, Decimal] = {}
        self.cash: dict[str, Decimal] = {}
        self.commissions: dict[str, Decimal] = {}
        self.fill_count: dict[str, int] = {}
        self._fill_ids: set[str] = set()
        self._lots: dict[tuple[str, str], deque[list]] = {}  # open lots per position: [signed qty, price]

    def deposit(self, account: str, amount: Unchecked) -> None:
        value = check_deposit(amount)
        self.deposits[account] = self.deposits.get(account, ZERO) + value
        self.cash[account] = self.cash.get(account, ZERO) + value

    def apply_fill(self, fill: Fill) -> bool:
        """Book one fill; a fill id already booked is ignored (returns False) so replays are idempotent.

        Lots close first-in first-out, so realized P&L is an exact sum of (exit - entry) x quantity
        with no averaging division; `avg_cost` is only the display of the open lots' cost.
        """
        if fill.fill_id in self._fill_ids:
            return False
        key = (fill.account, fill.instrument_id)
        pos = self.positions.get(key)
        mult = (
            pos.multiplier if pos is not None else self._multiplier_of(fill.instrument_id)
        )  # may raise: nothing booked yet
        if pos is None:
            pos = self.positions[key] = Position(fill.account, fill.instrument_id, multiplier=mult)
        lots = self._lots.setdefault(key, deque())
        remaining = fill.side.sign * fill.quantity
        signed = remaining
        while remaining and lots and (lots[0][0] > 0) != (remaining > 0):
            lot = lots[0]
            direction = 1 if lot[0] > 0 else -1
            take = min(abs(remaining), abs(lot[0]))
            pos.realized_pnl += (fill.price - lot[1]) * take * direction * mult
            lot[0] -= direction * take
            remaining += direction * take
            if lot[0] == 0:
                lots.popleft()
        if remaining:
            lots.append([remaining, fill.price])
        pos.quantity += signed
        if not pos.quantity:
            pos.avg_cost = ZERO
        elif len(lots) == 1:  # the usual case: one lot, whose price is the average (+ 0: a -0 price shows as 0)
            pos.avg_cost = lots[0][1] + 0
        else:
            pos.avg_cost = sum((abs(q) * p for q, p in lots), ZERO) / abs(pos.quantity)
        account = fill.account
        self.cash[account] = self.cash.get(account, ZERO) - signed * fill.price * mult - fill.commission
        self.commissions[account] = self.commissions.get(account, ZERO) + fill.commission
        self.fill_count[account] = self.fill_count.get(account, 0) + 1
        self._fill_ids.add(fill.fill_id)
        return True

    def has_fill(self, fill_id: str) -> bool:
        return fill_id in self._fill_ids

    def replay(self, deposits: dict[str, Decimal], fills: Iterable[Fill]) -> None:
        for account, amount in deposits.items():
            self.deposit(account, amount)
        for fill in fills:
            self.apply_fill(fill)

    def position(self, account: str, instrument_id: str) -> int:
        pos = self.positions.get((account, instrument_id))
        return pos.quantity if pos else 0

    def open_positions(self, account: str | None = None) -> list[Position]:
        return [p for p in self.positions.values() if p.quantity != 0 and (account is None or p.account == account)]

    def unrealized(self, pos: Position, mark: float | None) -> Decimal:
        if mark is None or pos.quantity == 0:
            return ZERO
        lots = self._lots.get((pos.account, pos.instrument_id), ())
        cost = sum((q * p for q, p in lots), ZERO)
        return (float_decimal(mark) * pos.quantity - cost) * pos.multiplier

    def equity(self, account: str, mark_of: Callable[[str], float | None]) -> Decimal:
        """Cash plus positions marked to `mark_of` (at their cost where there is no mark)."""
        value = self.cash.get(account, ZERO)
        for pos in self.open_positions(account):
            mark = mark_of(pos.instrument_id)
            if mark is None:
                held = sum((q * p for q, p in self._lots.get((account, pos.instrument_id), ())), ZERO)
            else:
                held = float_decimal(mark) * pos.quantity
            value += held * pos.multiplier
        return value

    def accounts(self) -> list[str]:
        return sorted(set(self.deposits) | set(self.cash))

    def metrics(self) -> Iterator[Metric]:
        """What the ledger knows without prices; equity and exposure need marks (see
        `alluse.monitoring.collector.LedgerValuation`). Money becomes float here: a reading, not an account."""
        realized: dict[str, Decimal] = {}
        for (account, _), pos in self.positions.items():
            realized[account] = realized.get(account, ZERO) + pos.realized_pnl
        for account in self.accounts():
            yield gauge("alluse_account_cash_usd", "Cash, USD", float(self.cash.get(account, ZERO)), account=account)
            pnl = float(realized.get(account, ZERO))
            yield gauge("alluse_account_realized_pnl_usd", "Realized P&L, USD", pnl, account=account)
            yield counter(
                "alluse_account_fills_total", "Fills booked", self.fill_count.get(account, 0), account=account
            )

    def totals(self, account: str, mark_of: Callable[[str], float | None]) -> AccountTotals:
        realized = sum((p.realized_pnl for (a, _), p in self.positions.items() if a == account), ZERO)
        unrealized = sum((self.unrealized(p, mark_of(p.instrument_id)) for p in self.open_positions(account)), ZERO)
        return AccountTotals(
            account=account,
            deposits=self.deposits.get(account, ZERO),
            cash=self.cash.get(account, ZERO),
            commissions=self.commissions.get(account, ZERO),
            realized_pnl=realized,
            unrealized_pnl=unrealized,
            fills=self.fill_count.get(account, 0),
        )
