"""IBKR-like fixed commission schedule, in exact Decimal.

IBKR "Fixed" pricing (US):
- stocks: USD 0.005 per share, minimum USD 1.00 per order, maximum 1% of the trade value
  per order. The maximum wins over the minimum, as at IBKR: 100 shares at $0.50 ($50 of
  value) cost $0.50, not $1.00.
- options: USD 0.65 per contract, minimum USD 1.00 per order. (IBKR lowers the rate for
  premiums under $0.10; this schedule keeps the flat rate, which is never cheaper.)

Commissions are per *order*, but an order can execute in several fills. The venue charges
each fill the increment of the order's running total: the total for everything executed so
far minus the total before this fill. So the first fill pays the minimum (or the cap, if
that is smaller), later fills pay only what the schedule adds beyond it, and the fills of
an order always add up exactly to the per-order commission of its cumulative execution.
The running total never decreases as quantity and value grow, so no increment is negative.
No amount is rounded: the schedule's figures are exact, and rounding per fill would make
the parts differ from the whole.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import Decimal

from alluse.model import Instrument, InvalidInput, Option, Unchecked

ZERO = Decimal(0)


@dataclass(slots=True, frozen=True)
class CommissionSchedule:
    stock_per_share: Decimal = Decimal("0.005")
    stock_minimum: Decimal = Decimal("1.00")
    stock_max_rate: Decimal = Decimal("0.01")  # of the trade value (price * shares)
    option_per_contract: Decimal = Decimal("0.65")
    option_minimum: Decimal = Decimal("1.00")

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
                raise InvalidInput(f.name, value, "must be a finite non-negative Decimal")

    def order_total(self, instrument: Instrument, quantity: int, value: Decimal) -> Decimal:
        """Commission of an order that has executed `quantity` units worth `value` in all.

        `value` is the money traded: sum of price * quantity * multiplier over its fills.
        """
        if quantity == 0:
            return ZERO
        if isinstance(instrument, Option):
            return max(quantity * self.option_per_contract, self.option_minimum)
        return min(max(quantity * self.stock_per_share, self.stock_minimum), value * self.stock_max_rate)


IBKR_FIXED = CommissionSchedule()


def _check_execution(quantity: Unchecked, price: Unchecked) -> tuple[int, Decimal]:
    if type(quantity) is not int or quantity <= 0:
        raise InvalidInput("quantity", quantity, "must be a positive integer")
    if not isinstance(price, Decimal) or not price.is_finite() or price < 0:
        raise InvalidInput("price", price, "must be a finite non-negative Decimal")
    return quantity, price


def commission(
    instrument: Instrument, quantity: Unchecked, price: Unchecked, schedule: CommissionSchedule = IBKR_FIXED
) -> Decimal:
    """Commission of one order executing `quantity` (int) at `price` (Decimal)."""
    qty, px = _check_execution(quantity, price)
    return schedule.order_total(instrument, qty, px * qty * instrument.multiplier)


def commission_increment(
    instrument: Instrument,
    prior_quantity: Unchecked,  # int
    prior_value: Decimal,
    quantity: Unchecked,  # int
    price: Unchecked,  # Decimal
    schedule: CommissionSchedule = IBKR_FIXED,
) -> Decimal:
    """What one fill of an order costs, given what the order had executed before it.

    `prior_value` is the money already traded by the order (price * qty * multiplier summed).
    """
    qty, px = _check_execution(quantity, price)
    if type(prior_quantity) is not int or prior_quantity < 0:
        raise InvalidInput("prior_quantity", prior_quantity, "must be a non-negative integer")
    prior: int = prior_quantity
    value = prior_value + px * qty * instrument.multiplier
    after = schedule.order_total(instrument, prior + qty, value)
    return after - schedule.order_total(instrument, prior, prior_value)
