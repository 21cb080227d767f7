"""What each account has working and promised, kept up to date as orders and fills happen.

The checks need per-account totals (open orders, notional of working buys, cash reserved for
short puts, contracts per underlying) on every order. Summing them from all positions and
working orders each time would make an order's cost grow with the book, so they are kept
incrementally: an order is counted when it passes the gate, re-counted on each of its events
(what is left of it; nothing once final), and an option's share is recomputed when its
position changes. `rebuild` recomputes everything from the ledger and the order manager's
working orders: at start (recovered orders) and whenever the system wants a consistency check.

Positions themselves are read from the ledger (a dict lookup); only the terms that need a sum
over instruments are stored here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from alluse.model import Instrument, Option, Order, Right, Side, put_collateral
from alluse.model.registry import InstrumentRegistry
from alluse.portfolio.ledger import Ledger

ZERO = Decimal(0)


@dataclass(slots=True)
class InstrumentExposure:
    instrument: Instrument
    working_buy: int = 0  # remaining quantity of working buy orders
    working_sell: int = 0
    collateral: Decimal = ZERO  # this put's part of the account's reserved cash
    contracts: int = 0  # this option's part of its underlying's contract count


@dataclass(slots=True)
class AccountExposure:
    open_orders: int = 0
    working_buy_notional: Decimal = ZERO  # what working buys would cost if they filled at their price
    reserved: Decimal = ZERO  # cash securing short puts held and working put sales (model.put_collateral)
    contracts: dict[str, int] = field(default_factory=dict)  # underlying -> worst-case contracts
    instruments: dict[str, InstrumentExposure] = field(default_factory=dict)

    def figures(self) -> tuple[object, ...]:
        """Everything the checks read, in a comparable form (zero entries left out)."""
        working = {
            k: (e.working_buy, e.working_sell) for k, e in self.instruments.items() if e.working_buy or e.working_sell
        }
        return (
            self.open_orders,
            self.working_buy_notional,
            self.reserved,
            {k: v for k, v in self.contracts.items() if v},
            working,
        )


def worst_contracts(position: int, working_buy: int, working_sell: int) -> int:
    """The largest absolute position the option could reach if one side's working orders all filled."""
    return max(abs(position + working_buy), abs(position - working_sell))


@dataclass(slots=True)
class _Tracked:
    order: Order
    counted: int  # remaining quantity currently counted in the totals
    unit_cost: Decimal  # charged per unit against buying power while working (0 for sells)


class ExposureBook:
    def __init__(self, registry: InstrumentRegistry, ledger: Ledger, unit_cost_of: Callable[[Order], Decimal]) -> None:
        self.registry = registry
        self.ledger = ledger
        self.unit_cost_of = unit_cost_of  # for orders first seen on an event (recovered, adopted)
        self.accounts: dict[str, AccountExposure] = {}
        self._tracked: dict[str, _Tracked] = {}

    def account(self, name: str) -> AccountExposure:
        acct = self.accounts.get(name)
        if acct is None:
            acct = self.accounts[name] = AccountExposure()
        return acct

    def tracked(self, client_order_id: str) -> bool:
        return client_order_id in self._tracked

    # ------------------------------------------------------------------ changes

    def add(self, order: Order, unit_cost: Decimal) -> None:
        """An order that has just passed the gate: counted in full until its events say otherwise."""
        tracked = self._tracked[order.client_order_id] = _Tracked(order, 0, unit_cost)
        self._count(tracked, order.quantity)

    def sync(self, order: Order) -> None:
        """After any event of the order: count what is left of it, nothing once it is final."""
        tracked = self._tracked.get(order.client_order_id)
        final = order.status.is_terminal
        if tracked is None:
            if final or not order.status.is_open:
                return
            tracked = self._tracked[order.client_order_id] = _Tracked(order, 0, self.unit_cost_of(order))
        self._count(tracked, 0 if final else order.remaining)
        if final:
            del self._tracked[order.client_order_id]

    def forget(self, order: Order) -> None:
        """An order that passed but never left (its journal write failed): it is not working."""
        tracked = self._tracked.pop(order.client_order_id, None)
        if tracked is not None:
            self._count(tracked, 0)

    def refresh(self, account: str, instrument_id: str) -> None:
        """The position changed (a fill or a settlement): recompute the option's shares of the totals."""
        option = self.registry.get(instrument_id)
        if isinstance(option, Option):
            acct = self.account(account)
            self._option_terms(acct, self._exposure(acct, option), option, account)

    def rebuild(self, open_orders: Iterable[Order]) -> list[str]:
        """Recompute every total from the ledger and the working orders; returns the accounts that differed."""
        fresh = ExposureBook(self.registry, self.ledger, self.unit_cost_of)
        for pos in self.ledger.open_positions():
            fresh.refresh(pos.account, pos.instrument_id)
        for order in open_orders:
            if order.status.is_open:
                known = self._tracked.get(order.client_order_id)
                cost = known.unit_cost if known is not None else self.unit_cost_of(order)
                tracked = fresh._tracked[order.client_order_id] = _Tracked(order, 0, cost)
                fresh._count(tracked, order.remaining)
        names = self.accounts.keys() | fresh.accounts.keys()
        empty = AccountExposure().figures()
        differed = sorted(
            n
            for n in names
            if (self.accounts[n].figures() if n in self.accounts else empty)
            != (fresh.accounts[n].figures() if n in fresh.accounts else empty)
        )
        self.accounts, self._tracked = fresh.accounts, fresh._tracked
        return differed

    # ------------------------------------------------------------------ internals

    def _exposure(self, acct: AccountExposure, instrument: Instrument) -> InstrumentExposure:
        exp = acct.instruments.get(instrument.id)
        if exp is None:
            exp = acct.instruments[instrument.id] = InstrumentExposure(instrument)
        return exp

    def _count(self, tracked: _Tracked, remaining: int) -> None:
        delta = remaining - tracked.counted
        if delta == 0:
            return
        order = tracked.order
        acct = self.account(order.account)
        exp = acct.instruments.get(order.instrument_id)
        if exp is None:
            exp = self._exposure(acct, self.registry.resolve(order.instrument_id))
        if tracked.counted == 0:
            acct.open_orders += 1
        elif remaining == 0:
            acct.open_orders -= 1
        if order.side is Side.BUY:
            exp.working_buy += delta
            if tracked.unit_cost:
                acct.working_buy_notional += tracked.unit_cost * delta
        else:
            exp.working_sell += delta
        tracked.counted = remaining
        if isinstance(exp.instrument, Option):
            self._option_terms(acct, exp, exp.instrument, order.account)

    def _option_terms(self, acct: AccountExposure, exp: InstrumentExposure, option: Option, account: str) -> None:
        position = self.ledger.position(account, option.id)
        if option.right is Right.PUT:
            collateral = put_collateral(option, position, exp.working_sell)
            if collateral != exp.collateral:
                acct.reserved += collateral - exp.collateral
                exp.collateral = collateral
        contracts = worst_contracts(position, exp.working_buy, exp.working_sell)
        if contracts != exp.contracts:
            acct.contracts[option.underlying] = acct.contracts.get(option.underlying, 0) + contracts - exp.contracts
            exp.contracts = contracts
