from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alluse.brokers.paper.commissions import (
    CommissionSchedule,
    commission,
    commission_increment,
)
from alluse.model import Equity, InvalidInput, Option, Right

STOCK = Equity("AAPL")
PUT = Option("AAPL", date(2026, 1, 16), Decimal("200"), Right.PUT)
D = Decimal


@pytest.mark.parametrize(
    ("instrument", "qty", "price", "expected"),
    [
        (STOCK, 100, D("150.00"), D("1.00")),  # 0.50 raised to the $1 minimum
        (STOCK, 1000, D("150.00"), D("5.000")),
        (STOCK, 101, D("150.00"), D("1.00")),
        (STOCK, 300, D("150.00"), D("1.500")),
        (STOCK, 100, D("0.50"), D("0.5000")),  # 1% of $50 caps below the minimum
        (STOCK, 10000, D("0.05"), D("5.0000")),  # 1% of $500 caps the $50 per-share charge
        (PUT, 1, D("2.50"), D("1.00")),
        (PUT, 10, D("2.50"), D("6.50")),
        (PUT, 2, D("0.05"), D("1.30")),
    ],
)
def test_per_order_commission(instrument, qty, price, expected):
    fee = commission(instrument, qty, price)
    assert isinstance(fee, Decimal)
    assert fee == expected


def test_partial_fills_pay_minimum_first_then_only_the_increment():
    first = commission_increment(STOCK, 0, D(0), 100, D("150.00"))
    second = commission_increment(STOCK, 100, D("15000.00"), 300, D("150.01"))
    third = commission_increment(STOCK, 400, D("15000.00") + 300 * D("150.01"), 600, D("150.02"))
    assert first == D("1.00")
    assert second == D("1.00")  # 400 shares -> $2.00 in all, $1 already charged
    assert first + second + third == commission(STOCK, 1000, D("150.00"))


def test_option_partial_fills_add_up():
    parts = [commission_increment(PUT, prior, prior * D("250"), q, D("2.50")) for prior, q in [(0, 1), (1, 1), (2, 8)]]
    assert parts[0] == D("1.00")
    assert parts[1] == D("0.30")  # 2 contracts = $1.30 in all
    assert sum(parts) == D("6.50")


@given(
    st.lists(st.tuples(st.integers(1, 500), st.integers(1, 50_000)), min_size=1, max_size=12),
    st.booleans(),
)
def test_increments_always_sum_to_the_order_total_and_never_go_negative(executions, option):
    instrument = PUT if option else STOCK
    qty, value, paid = 0, D(0), D(0)
    for q, cents in executions:
        price = D(cents) / 100
        part = commission_increment(instrument, qty, value, q, price)
        assert part >= 0
        paid += part
        qty += q
        value += price * q * instrument.multiplier
    assert paid == CommissionSchedule().order_total(instrument, qty, value)


@pytest.mark.parametrize("qty", [0, -5, 1.5, True])
def test_bad_quantity_names_field(qty):
    with pytest.raises(InvalidInput) as err:
        commission(STOCK, qty, D("1.00"))
    assert err.value.field == "quantity"


@pytest.mark.parametrize("price", [D("-1"), D("NaN"), D("Infinity"), 1.5])
def test_bad_price_names_field(price):
    with pytest.raises(InvalidInput) as err:
        commission(STOCK, 10, price)
    assert err.value.field == "price"


def test_bad_prior_quantity_names_field():
    with pytest.raises(InvalidInput) as err:
        commission_increment(STOCK, -1, D(0), 10, D("1.00"))
    assert err.value.field == "prior_quantity"


def test_schedule_rejects_negative_or_float_rates():
    with pytest.raises(InvalidInput) as err:
        CommissionSchedule(stock_per_share=D("-0.01"))
    assert err.value.field == "stock_per_share"
    with pytest.raises(InvalidInput):
        CommissionSchedule(option_minimum=1.0)  # type: ignore[arg-type]
