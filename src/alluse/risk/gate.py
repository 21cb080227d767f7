"""The risk engine's front door: `check(order)` before every order, `evaluate(now)` periodically.

`check` runs the named checks of `alluse.risk.checks` against one `OrderView` and returns the
first denial, or None; only an order that passes takes a throttle token, enters the duplicate
window and is counted as working. The order manager calls `check` just before it journals and
sends; if that journal write fails, it calls `release(order)` to undo the bookkeeping.

Working orders and positions are followed through the bus (`attach`): every order event
re-counts its order, every fill recomputes its option's collateral and contract shares.
`rebuild(open_orders)` recomputes all of that from the ledger and the given working orders after
recovery and every reconciliation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from alluse.common.bus import TOPIC_FILL, TOPIC_ORDER_EVENT, MessageBus
from alluse.common.clock import Clock
from alluse.common.metrics import Metric, counter, gauge
from alluse.model import Fill, Option, Order, Side, TradingState, float_decimal
from alluse.model.registry import InstrumentRegistry
from alluse.portfolio.ledger import Ledger
from alluse.risk.checks import EQUITY_CHECKS, OPTION_CHECKS, OrderView
from alluse.risk.config import RiskConfig
from alluse.risk.denial import Denial, DenyReason
from alluse.risk.exposure import ZERO, ExposureBook
from alluse.risk.limits import RiskLimits
from alluse.risk.loss import LossMonitor
from alluse.risk.states import TradingStates
from alluse.risk.throttle import DuplicateGuard, OrderThrottle

log = logging.getLogger("alluse.risk")


@dataclass(slots=True)
class RiskContext:
    """What the engine may look at: narrow read-only views of other components."""

    clock: Clock
    registry: InstrumentRegistry
    ledger: Ledger
    mid_of: Callable[[str], float | None]  # None when the quote is missing or stale
    greeks_of: Callable[[Option], tuple[float, float] | None] | None = None  # (iv, delta)
    equity_of: Callable[[str], Decimal] | None = None  # account -> cash + marked positions


class RiskGate:
    def __init__(self, ctx: RiskContext, config: RiskConfig | None = None, states: TradingStates | None = None) -> None:
        self.ctx = ctx
        self.config = config if config is not None else RiskConfig()
        self.states = states if states is not None else TradingStates()
        self.exposure = ExposureBook(ctx.registry, ctx.ledger, self._unit_cost)
        self.throttle = OrderThrottle()
        self.duplicates = DuplicateGuard()
        self.loss = LossMonitor(self.states, ctx.equity_of or _no_equity, self.limits)
        self.denials: dict[DenyReason, int] = {r: 0 for r in DenyReason}
        self.checked = 0
        self.passed = 0
        self.rebuild_corrections = 0  # accounts whose incremental totals a rebuild had to correct
        self._limits: dict[str, RiskLimits] = {}
        self._counted = False  # the first rebuild (at recovery) is the first count, not a correction

    # ------------------------------------------------------------------ wiring

    def attach(self, bus: MessageBus) -> None:
        """Follow order events and fills, so working orders and positions stay counted."""
        bus.subscribe(TOPIC_ORDER_EVENT, self.on_order_event)
        bus.subscribe(TOPIC_FILL, self.on_fill)

    def on_order_event(self, message: tuple[Order, Any]) -> None:
        self.exposure.sync(message[0])

    def on_fill(self, fill: Fill) -> None:
        self.exposure.refresh(fill.account, fill.instrument_id)

    def rebuild(self, open_orders: Iterable[Order]) -> list[str]:
        """Recount everything from the ledger and the working orders (after recovery, or as a check)."""
        differed = self.exposure.rebuild(open_orders)
        if differed and self._counted:
            self.rebuild_corrections += len(differed)
            log.warning("risk exposure rebuilt; incremental totals differed for %s", ", ".join(differed))
        self._counted = True
        return differed

    def limits(self, account: str) -> RiskLimits:
        limits = self._limits.get(account)
        if limits is None:
            limits = self._limits[account] = RiskLimits.from_config(self.config.limits_for(account))
        return limits

    # ------------------------------------------------------------------ the checks

    def check(self, order: Order) -> Denial | None:
        self.checked += 1
        ctx = self.ctx
        instrument = ctx.registry.require(order.instrument_id)
        account = order.account
        limits = self._limits.get(account) or self.limits(account)
        acct = self.exposure.accounts.get(account) or self.exposure.account(account)
        mid = ctx.mid_of(order.instrument_id)
        price = order.limit_price
        if price is None and mid is not None:
            price = float_decimal(mid)
        view = OrderView(
            self,
            order,
            instrument,
            limits,
            acct,
            acct.instruments.get(order.instrument_id),
            ctx.ledger.position(account, order.instrument_id),
            mid,
            price,
            ctx.clock.now_ns(),
        )
        for check in OPTION_CHECKS if isinstance(instrument, Option) else EQUITY_CHECKS:
            denial = check(view)
            if denial is not None:
                self.denials[denial.reason] += 1
                return denial
        self.throttle.take(account, view.now, limits.order_interval_ns)
        self.duplicates.record(self.duplicates.key(order), view.now, limits.duplicate_window_ns)
        self.exposure.add(order, price * instrument.multiplier if order.side is Side.BUY and price else ZERO)
        self.passed += 1
        return None

    def release(self, order: Order) -> None:
        """An order that passed `check` was never sent (its journal write failed): it is not working."""
        limits = self.limits(order.account)
        self.exposure.forget(order)
        self.duplicates.discard(self.duplicates.key(order))
        self.throttle.give_back(order.account, limits.order_interval_ns)
        self.passed -= 1
        log.warning("order %s passed risk but was never sent; its exposure is released", order.client_order_id)

    def _unit_cost(self, order: Order) -> Decimal:
        """Per-unit cost of a working buy first seen on an event: its limit price, else the mid."""
        if order.side is not Side.BUY:
            return ZERO
        price = order.limit_price
        if price is None:
            mid = self.ctx.mid_of(order.instrument_id)
            price = float_decimal(mid) if mid is not None else ZERO
        return price * self.ctx.registry.require(order.instrument_id).multiplier

    # ------------------------------------------------------------------ monitoring

    def metrics(self) -> Iterator[Metric]:
        yield counter("alluse_risk_checks_total", "Orders checked by the risk gate", self.checked)
        for reason, n in self.denials.items():
            yield counter("alluse_risk_denials_total", "Orders denied by the risk gate", n, reason=reason.value)
        states = "Each account's trading state: 1 for the state it is in, 0 for the others"
        for account, now_in in self.states.snapshot().items():
            for state in TradingState:
                yield gauge("alluse_trading_state", states, 1 if state is now_in else 0, account=account,
                            state=state.value.lower())  # fmt: skip

    # ------------------------------------------------------------------ periodic

    def evaluate(self, now_ns: int) -> list[str]:
        """Daily loss and drawdown limits; returns the accounts this call HALTED."""
        if self.ctx.equity_of is None:
            return []
        return self.loss.evaluate(now_ns)


def _no_equity(account: str) -> Decimal:
    raise LookupError(f"no equity source for {account}")
