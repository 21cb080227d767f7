"""The pre-trade risk gate: every order passes here before the journal and the broker.

Each check is a small function returning a denial or None, so adding a check is adding a
function to `CHECKS`, and every denial names its reason code and the numbers behind it.
The full risk engine (throttles, kill switch, loss limits) builds on this.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from alluse.instruments import InstrumentRegistry
from alluse.model import Option, Order, OrderType, Right, Side, put_collateral
from alluse.portfolio.ledger import Ledger


class DenyReason(enum.Enum):
    MAX_QUANTITY = "MAX_QUANTITY"
    MAX_NOTIONAL = "MAX_NOTIONAL"
    PRICE_BAND = "PRICE_BAND"
    NO_QUOTE = "NO_QUOTE"
    CASH_SECURED = "CASH_SECURED"


@dataclass(slots=True, frozen=True)
class Denial:
    reason: DenyReason
    detail: str

    def __str__(self) -> str:
        return f"{self.reason.value}: {self.detail}"


@dataclass(slots=True, frozen=True)
class RiskLimits:
    max_order_quantity: int = 100
    max_order_notional: Decimal = Decimal(500_000)
    price_band_pct: float = 0.25  # limit price within this fraction of the mid...
    price_band_min: float = 0.10  # ...or this many dollars, whichever is wider (cheap options)


@dataclass(slots=True)
class RiskContext:
    """What the checks may look at: narrow read-only views of other components."""

    registry: InstrumentRegistry
    ledger: Ledger
    mid_of: Callable[[str], float | None]
    open_orders: Callable[[str], Iterable[Order]]  # working orders of an account
    limits: RiskLimits


def _price_for_notional(order: Order, ctx: RiskContext) -> Decimal | None:
    if order.limit_price is not None:
        return order.limit_price
    mid = ctx.mid_of(order.instrument_id)
    return None if mid is None else Decimal(repr(mid))


def check_quantity(order: Order, ctx: RiskContext) -> Denial | None:
    if order.quantity > ctx.limits.max_order_quantity:
        return Denial(DenyReason.MAX_QUANTITY, f"quantity {order.quantity} > max {ctx.limits.max_order_quantity}")
    return None


def check_quote(order: Order, ctx: RiskContext) -> Denial | None:
    if order.order_type is OrderType.MARKET and ctx.mid_of(order.instrument_id) is None:
        return Denial(DenyReason.NO_QUOTE, f"no fresh quote for {order.instrument_id}; market order refused")
    return None


def check_notional(order: Order, ctx: RiskContext) -> Denial | None:
    price = _price_for_notional(order, ctx)
    if price is None:
        return None
    instrument = ctx.registry.require(order.instrument_id)
    notional = price * order.quantity * instrument.multiplier
    if notional > ctx.limits.max_order_notional:
        return Denial(DenyReason.MAX_NOTIONAL, f"notional {notional:.2f} > max {ctx.limits.max_order_notional}")
    return None


def check_price_band(order: Order, ctx: RiskContext) -> Denial | None:
    if order.limit_price is None:
        return None
    mid = ctx.mid_of(order.instrument_id)
    if mid is None:
        return None  # a resting limit without a quote is allowed; it cannot trade through a price we do not see
    band = max(mid * ctx.limits.price_band_pct, ctx.limits.price_band_min)
    if abs(float(order.limit_price) - mid) > band:
        return Denial(DenyReason.PRICE_BAND, f"limit {order.limit_price} is more than {band:.2f} from mid {mid:.4f}")
    return None


def _working_put_sells(account: str, ctx: RiskContext) -> dict[str, int]:
    sells: dict[str, int] = {}
    for working in ctx.open_orders(account):
        if working.side is Side.SELL and ctx.registry.is_option(working.instrument_id):
            sells[working.instrument_id] = sells.get(working.instrument_id, 0) + working.remaining
    return sells


def _puts(ids: Iterable[str], ctx: RiskContext) -> Iterator[Option]:
    for iid in ids:
        instrument = ctx.registry.get(iid)
        if isinstance(instrument, Option) and instrument.right is Right.PUT:
            yield instrument


def reserved_cash(account: str, ctx: RiskContext) -> Decimal:
    """Cash already promised to short puts held and to working orders that would sell puts."""
    sells = _working_put_sells(account, ctx)
    held = {p.instrument_id for p in ctx.ledger.open_positions(account)}
    return sum(
        (
            put_collateral(put, ctx.ledger.position(account, put.id), sells.get(put.id, 0))
            for put in _puts(held | sells.keys(), ctx)
        ),
        Decimal(0),
    )


def check_cash_secured(order: Order, ctx: RiskContext) -> Denial | None:
    instrument = ctx.registry.require(order.instrument_id)
    if not (isinstance(instrument, Option) and instrument.right is Right.PUT and order.side is Side.SELL):
        return None
    held = ctx.ledger.position(order.account, order.instrument_id)
    selling = _working_put_sells(order.account, ctx).get(instrument.id, 0)
    required = put_collateral(instrument, held, selling + order.quantity) - put_collateral(instrument, held, selling)
    if required <= 0:
        return None  # selling puts held long first closes them
    free = ctx.ledger.cash.get(order.account, Decimal(0)) - reserved_cash(order.account, ctx)
    if required > free:
        return Denial(DenyReason.CASH_SECURED, f"put needs {required} secured, free cash is {free:.2f}")
    return None


CHECKS: tuple[Callable[[Order, RiskContext], Denial | None], ...] = (
    check_quantity,
    check_quote,
    check_notional,
    check_price_band,
    check_cash_secured,
)


class RiskGate:
    def __init__(self, ctx: RiskContext) -> None:
        self.ctx = ctx
        self.denials: dict[DenyReason, int] = {r: 0 for r in DenyReason}
        self.checked = 0

    def check(self, order: Order) -> Denial | None:
        self.checked += 1
        for check in CHECKS:
            denial = check(order, self.ctx)
            if denial is not None:
                self.denials[denial.reason] += 1
                return denial
        return None
