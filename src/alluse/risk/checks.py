"""The pre-trade checks: each a small function from an `OrderView` to a `Denial` or None.

Checks only read; the gate changes its own state (token, duplicate window, exposure) only for
an order that passed all of them, so a denial leaves nothing behind. They run cheapest and
most decisive first, and an equity order never runs the option checks. Quantities read for
"projected" figures are the ledger position plus the remaining quantity of working orders on
the same side as the order: those could all fill before this one is cancelled.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from alluse.model import Instrument, Option, Order, OrderType, Right, Side, TradingState, expiry_ns, put_collateral
from alluse.risk.denial import Denial, DenyReason
from alluse.risk.exposure import AccountExposure, InstrumentExposure, worst_contracts
from alluse.risk.limits import DAY_NS, RiskLimits

log = logging.getLogger("alluse.risk")
ZERO = Decimal(0)


@dataclass(slots=True)
class OrderView:
    """One order and what the checks look up about it, fetched once."""

    # the RiskGate asking. Typed Any: gate.py imports this module, and compiled (alluse.build), a
    # field typed with a class of a module still being imported crashes the import
    gate: Any
    order: Order
    instrument: Instrument
    limits: RiskLimits
    acct: AccountExposure
    exp: InstrumentExposure | None  # None: nothing working or held in this instrument yet
    position: int  # signed, from the ledger
    mid: float | None  # None: quote missing or stale
    price: Decimal | None  # the limit price, or the mid for a market order
    now: int
    contracts: tuple[int, int] | None = None  # memo of contracts_before_after
    collateral: Decimal | None = None  # memo of put_collateral_needed

    @property
    def same_side_working(self) -> int:
        exp = self.exp
        if exp is None:
            return 0
        return exp.working_buy if self.order.side is Side.BUY else exp.working_sell

    def working(self) -> tuple[int, int]:
        exp = self.exp
        return (0, 0) if exp is None else (exp.working_buy, exp.working_sell)

    def contracts_before_after(self) -> tuple[int, int]:
        """Worst-case contracts of this option before and after adding the order to its side's working."""
        if self.contracts is None:
            buys, sells = self.working()
            qty = self.order.quantity
            if self.order.side is Side.BUY:
                after = worst_contracts(self.position, buys + qty, sells)
            else:
                after = worst_contracts(self.position, buys, sells + qty)
            self.contracts = (worst_contracts(self.position, buys, sells), after)
        return self.contracts

    def put_collateral_needed(self) -> Decimal:
        """Extra cash a put sale ties up (0 when long puts held cover it, or not a put sale)."""
        if self.collateral is None:
            option = self.instrument
            if isinstance(option, Option) and option.right is Right.PUT and self.order.side is Side.SELL:
                selling = self.exp.working_sell if self.exp is not None else 0
                self.collateral = put_collateral(option, self.position, selling + self.order.quantity) - put_collateral(
                    option, self.position, selling
                )
            else:
                self.collateral = ZERO
        return self.collateral

    def free_cash(self) -> Decimal:
        cash = self.gate.ctx.ledger.cash.get(self.order.account, ZERO)
        return cash - self.acct.reserved - self.acct.working_buy_notional


Check = Callable[[OrderView], Denial | None]


def _money(x: Decimal) -> str:
    return f"{x:,.2f}"


# ---------------------------------------------------------------------------- every order


def check_trading_state(v: OrderView) -> Denial | None:
    """HALTED refuses everything; REDUCING only what shrinks the position without crossing zero."""
    states = v.gate.states
    state = states.states.get(v.order.account)
    if state is None or state is TradingState.ACTIVE:
        return None
    account = v.order.account
    if state is TradingState.HALTED:
        why = states.reason(account)
        return Denial(
            DenyReason.HALTED,
            f"account {account} is HALTED ({why}); no new orders",
            {"state": state.value, "why": why},
        )
    total = v.same_side_working + v.order.quantity
    if v.position * v.order.side.sign < 0 and total <= abs(v.position):
        return None
    return Denial(
        DenyReason.REDUCE_ONLY,
        f"account {account} is REDUCING: {v.order.side.value} {v.order.quantity} (with {v.same_side_working} "
        f"working on that side) does not reduce position {v.position} without crossing zero",
        {"position": v.position, "working_same_side": v.same_side_working, "quantity": v.order.quantity},
    )


def check_quantity(v: OrderView) -> Denial | None:
    options = isinstance(v.instrument, Option)
    limit = v.limits.max_order_contracts if options else v.limits.max_order_shares
    if v.order.quantity > limit:
        unit = "contracts" if options else "shares"
        return Denial(
            DenyReason.MAX_QUANTITY,
            f"quantity {v.order.quantity} > max {limit} {unit} per order",
            {"quantity": v.order.quantity, "max": limit},
        )
    return None


def check_quote(v: OrderView) -> Denial | None:
    if v.mid is None and v.order.order_type is OrderType.MARKET:
        return Denial(
            DenyReason.NO_QUOTE,
            f"no usable quote for {v.order.instrument_id} (missing or stale); market order refused",
            {"instrument_id": v.order.instrument_id},
        )
    return None


def check_notional(v: OrderView) -> Denial | None:
    if v.price is None:
        return None  # a limit order always has a price; a market order without a quote was refused
    notional = v.price * v.order.quantity * v.instrument.multiplier
    if notional > v.limits.max_order_notional:
        return Denial(
            DenyReason.MAX_NOTIONAL,
            f"notional {_money(notional)} > max {_money(v.limits.max_order_notional)}",
            {"notional": notional, "max": v.limits.max_order_notional},
        )
    return None


def check_price_band(v: OrderView) -> Denial | None:
    """Fat-finger guard. A resting limit without a quote is allowed: it cannot trade through a price we do not see."""
    limit_price, mid = v.order.limit_price, v.mid
    if limit_price is None or mid is None:
        return None
    band = max(mid * v.limits.price_band_pct, v.limits.price_band_min)
    if abs(float(limit_price) - mid) > band:
        return Denial(
            DenyReason.PRICE_BAND,
            f"limit {limit_price} is more than {band:.2f} from mid {mid:.4f}",
            {"limit_price": limit_price, "mid": mid, "band": band},
        )
    return None


def check_open_orders(v: OrderView) -> Denial | None:
    if v.acct.open_orders >= v.limits.max_open_orders:
        return Denial(
            DenyReason.MAX_OPEN_ORDERS,
            f"account {v.order.account} has {v.acct.open_orders} working orders (max {v.limits.max_open_orders})",
            {"open_orders": v.acct.open_orders, "max": v.limits.max_open_orders},
        )
    return None


def check_duplicate(v: OrderView) -> Denial | None:
    window = v.limits.duplicate_window_ns
    if window <= 0:
        return None
    guard = v.gate.duplicates
    passed_at = guard.seen_at(guard.key(v.order), v.now)
    if passed_at is not None:
        age = (v.now - passed_at) / 1e9
        return Denial(
            DenyReason.DUPLICATE_ORDER,
            f"same account, instrument, side, quantity and price as an order passed {age:.3f}s ago "
            f"(window {window / 1e9:g}s)",
            {"age_s": age, "window_s": window / 1e9},
        )
    return None


def check_throttle(v: OrderView) -> Denial | None:
    lim = v.limits
    wait = v.gate.throttle.wait_ns(v.order.account, v.now, lim.order_interval_ns, lim.order_burst)
    if wait:
        return Denial(
            DenyReason.THROTTLED,
            f"account {v.order.account} is over {lim.orders_per_second:g} orders/s (burst {lim.order_burst}); "
            f"next order in {wait / 1e9:.3f}s",
            {"rate_per_s": lim.orders_per_second, "burst": lim.order_burst, "retry_after_s": wait / 1e9},
        )
    return None


def check_position(v: OrderView) -> Denial | None:
    """Projected |position| may exceed the limit only if the order brings it nearer zero without crossing it."""
    sign = v.order.side.sign
    base = v.position + sign * v.same_side_working
    projected = base + sign * v.order.quantity
    options = isinstance(v.instrument, Option)
    limit = v.limits.max_position_contracts if options else v.limits.max_position_shares
    if abs(projected) > limit and (abs(projected) > abs(base) or projected * base < 0):  # growing, or flipped
        return Denial(
            DenyReason.MAX_POSITION,
            f"projected position {projected} in {v.order.instrument_id} (held {v.position}, "
            f"{v.same_side_working} working on that side) exceeds max {limit}",
            {"projected": projected, "position": v.position, "working_same_side": v.same_side_working, "max": limit},
        )
    return None


def check_buying_power(v: OrderView) -> Denial | None:
    """A buy needs free cash: cash minus put collateral minus what working buys would cost.
    Buying back short puts frees their collateral, so closing is not blocked by it."""
    if v.order.side is not Side.BUY or v.price is None:
        return None
    cost = v.price * v.order.quantity * v.instrument.multiplier
    option = v.instrument
    if isinstance(option, Option) and option.right is Right.PUT and v.position < 0:
        # collateral this buy frees, after the buys already working have freed theirs (each counted once)
        selling = v.exp.working_sell if v.exp is not None else 0
        bought = v.position + v.same_side_working
        cost -= put_collateral(option, bought, selling) - put_collateral(option, bought + v.order.quantity, selling)
    if cost <= 0:
        return None
    free = v.free_cash()
    if cost > free:
        return Denial(
            DenyReason.BUYING_POWER,
            f"buy needs {_money(cost)}, free cash is {_money(free)} (cash less {_money(v.acct.reserved)} "
            f"reserved for puts and {_money(v.acct.working_buy_notional)} of working buys)",
            {
                "needed": cost,
                "free": free,
                "reserved": v.acct.reserved,
                "working_buy_notional": v.acct.working_buy_notional,
            },
        )
    return None


# ---------------------------------------------------------------------------- options


def opening_contracts(v: OrderView) -> int:
    """How much of the order opens a position: the part beyond zero, once same-side working orders are counted
    (buying 10 against 5 short closes 5 and opens 5)."""
    sign = v.order.side.sign
    base = v.position + sign * v.same_side_working
    after = base + sign * v.order.quantity
    return max(0, sign * after) - max(0, sign * base)


def check_expiry_window(v: OrderView) -> Denial | None:
    """Only orders that open option exposure: closing an expiring position must stay possible."""
    before, after = v.contracts_before_after()
    if after <= before and opening_contracts(v) <= 0:
        return None
    option = cast(Option, v.instrument)  # only in OPTION_CHECKS
    dte = (expiry_ns(option) - v.now) / DAY_NS
    if not v.limits.min_dte <= dte <= v.limits.max_dte:
        return Denial(
            DenyReason.EXPIRY_WINDOW,
            f"{v.order.instrument_id} has {dte:.2f} days to expiry; opening orders need "
            f"{v.limits.min_dte:g}-{v.limits.max_dte:g}",
            {"dte": dte, "min_dte": v.limits.min_dte, "max_dte": v.limits.max_dte},
        )
    return None


def check_underlying_contracts(v: OrderView) -> Denial | None:
    before, after = v.contracts_before_after()
    if after <= before:
        return None
    option = cast(Option, v.instrument)
    current = v.acct.contracts.get(option.underlying, 0)
    projected = current + after - before
    limit = v.limits.max_contracts_per_underlying
    if projected > limit:
        return Denial(
            DenyReason.MAX_UNDERLYING_CONTRACTS,
            f"{projected} contracts on {option.underlying} with this order (held and working: {current}), max {limit}",
            {"projected": projected, "current": current, "max": limit},
        )
    return None


def check_cash_secured(v: OrderView) -> Denial | None:
    needed = v.put_collateral_needed()
    if needed <= 0:
        return None  # not a put sale, or one that only closes puts held long
    free = v.free_cash()
    if needed > free:
        return Denial(
            DenyReason.CASH_SECURED,
            f"put sale needs {_money(needed)} secured, free cash is {_money(free)} (cash less "
            f"{_money(v.acct.reserved)} reserved for puts and {_money(v.acct.working_buy_notional)} of working buys)",
            {"needed": needed, "free": free, "reserved": v.acct.reserved},
        )
    return None


def check_covered_call(v: OrderView) -> Denial | None:
    """A call sale that opens (or grows) a short call must be covered by shares held: no naked call, ever.
    Short calls held and call sales working on every series of the underlying already claim their shares
    (a working sale that would close a long call is counted too: the safe side)."""
    option = v.instrument
    if not (isinstance(option, Option) and option.right is Right.CALL and v.order.side is Side.SELL):
        return None
    opening = opening_contracts(v)
    if opening <= 0:
        return None
    account, underlying = v.order.account, option.underlying
    ctx = v.gate.ctx
    shares = ctx.ledger.position(account, underlying)
    claimed = 0
    for pos in ctx.ledger.open_positions(account):
        held = ctx.registry.get(pos.instrument_id)
        if pos.quantity < 0 and isinstance(held, Option) and held.right is Right.CALL and held.underlying == underlying:
            claimed -= pos.quantity * held.multiplier
    for exp in v.acct.instruments.values():
        working = exp.instrument
        if exp.working_sell and isinstance(working, Option) and working.right is Right.CALL \
                and working.underlying == underlying:  # fmt: skip
            claimed += exp.working_sell * working.multiplier
    needed = opening * option.multiplier
    if shares - claimed < needed:
        return Denial(
            DenyReason.UNCOVERED_CALL,
            f"call sale opens {opening} contracts of {underlying}, needing {needed} shares; {shares} held, "
            f"{claimed} already cover short calls",
            {"needed": needed, "shares": shares, "claimed": claimed},
        )
    return None


def check_put_delta(v: OrderView) -> Denial | None:
    """Orders that open (or grow) a short put must sell inside the account's |delta| band."""
    lim = v.limits
    if not lim.has_delta_band or v.put_collateral_needed() <= 0:
        return None
    lo = lim.put_delta_min if lim.put_delta_min is not None else 0.0
    hi = lim.put_delta_max if lim.put_delta_max is not None else 1.0
    band: dict[str, object] = {"delta_min": lo, "delta_max": hi}
    greeks_of = v.gate.ctx.greeks_of
    greeks, why = None, "no greeks source configured"
    if greeks_of is not None:
        why = "quote missing or stale, option expired, or no volatility reproduces its mid"
        try:
            greeks = greeks_of(cast(Option, v.instrument))
        except Exception as exc:  # a pricing failure must refuse the order, not break the caller
            log.exception("greeks for %s failed", v.order.instrument_id)
            why = f"greeks failed: {exc}"
    if greeks is None:
        return Denial(
            DenyReason.NO_GREEKS,
            f"no delta for {v.order.instrument_id} ({why}); cannot check the |delta| band {lo:.2f}-{hi:.2f}",
            band,
        )
    delta = abs(greeks[1])
    if not lo <= delta <= hi:
        return Denial(
            DenyReason.DELTA_RANGE,
            f"|delta| {delta:.3f} of {v.order.instrument_id} is outside {v.order.account}'s band {lo:.2f}-{hi:.2f}",
            {"delta": delta, **band},
        )
    return None


EQUITY_CHECKS: tuple[Check, ...] = (
    check_trading_state,
    check_quantity,
    check_quote,
    check_notional,
    check_price_band,
    check_open_orders,
    check_duplicate,
    check_throttle,
    check_position,
    check_buying_power,
)

OPTION_CHECKS: tuple[Check, ...] = (
    check_trading_state,
    check_quantity,
    check_quote,
    check_notional,
    check_price_band,
    check_open_orders,
    check_duplicate,
    check_throttle,
    check_position,
    check_expiry_window,
    check_underlying_contracts,
    check_cash_secured,
    check_covered_call,
    check_buying_power,
    check_put_delta,  # last: implied vol is the dearest thing the gate computes
)
