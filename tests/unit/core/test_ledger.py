from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alluse.model import Fill, InvalidInput, Side
from alluse.portfolio import Ledger


def fill(fid, side, qty, price, comm="1.00", iid="AAPL", account="A"):
    return Fill("C", account, iid, side, qty, Decimal(price), Decimal(comm), 0, fid)


def ledger():
    led = Ledger(lambda iid: 100 if len(iid) > 6 else 1)
    led.deposit("A", Decimal("10000"))
    return led


def test_open_add_reduce_close_realizes_fifo_pnl_and_cash():
    led = ledger()
    led.apply_fill(fill("1", Side.BUY, 10, "100.00"))
    led.apply_fill(fill("2", Side.BUY, 10, "110.00"))
    pos = led.positions[("A", "AAPL")]
    assert pos.quantity == 20 and pos.avg_cost == Decimal("105")
    led.apply_fill(fill("3", Side.SELL, 5, "120.00"))
    assert pos.realized_pnl == Decimal("100")  # first in, first out: the 100.00 lot closes first
    assert pos.avg_cost == Decimal(5 * 100 + 10 * 110) / 15  # the open lots' cost, for display
    led.apply_fill(fill("4", Side.SELL, 15, "100.00"))
    assert pos.quantity == 0 and pos.realized_pnl == Decimal("0")
    assert led.cash["A"] == Decimal("10000") - 1000 - 1100 + 600 + 1500 - 4
    assert led.commissions["A"] == Decimal("4.00")


def test_short_put_premium_and_buy_back():
    led = ledger()
    put = "AAPL  261218P00200000"
    led.apply_fill(fill("1", Side.SELL, 2, "3.10", "1.30", iid=put))
    assert led.position("A", put) == -2 and led.cash["A"] == Decimal("10000") + 620 - Decimal("1.30")
    led.apply_fill(fill("2", Side.BUY, 2, "1.55", "1.30", iid=put))
    assert led.positions[("A", put)].realized_pnl == Decimal("310")


def test_flip_through_zero_opens_remainder_at_fill_price():
    led = ledger()
    led.apply_fill(fill("1", Side.BUY, 5, "10.00"))
    led.apply_fill(fill("2", Side.SELL, 8, "12.00"))
    pos = led.positions[("A", "AAPL")]
    assert pos.quantity == -3 and pos.avg_cost == Decimal("12.00") and pos.realized_pnl == Decimal("10")


def test_unrealized_is_marked_lot_by_lot():
    led = ledger()
    led.apply_fill(fill("1", Side.BUY, 1, "10.00"))
    led.apply_fill(fill("2", Side.BUY, 2, "10.01"))
    pos = led.positions[("A", "AAPL")]
    assert led.unrealized(pos, 10.02) == Decimal("0.04")  # 3 x 10.02 - (10.00 + 2 x 10.01), exactly


def test_a_fill_that_cannot_be_booked_is_not_marked_as_booked():
    led = Ledger(lambda iid: 1 / 0)
    led.deposit("A", Decimal(1))
    f = fill("1", Side.BUY, 1, "1.00")
    with pytest.raises(ZeroDivisionError):
        led.apply_fill(f)
    assert not led.has_fill("1") and led.cash["A"] == Decimal(1)


def test_deposit_must_be_a_decimal():
    with pytest.raises(InvalidInput) as exc:
        ledger().deposit("A", 100.5)
    assert exc.value.field == "amount"


def test_replaying_the_same_fill_is_idempotent():
    led = ledger()
    f = fill("1", Side.BUY, 5, "10.00")
    assert led.apply_fill(f) and not led.apply_fill(f)
    assert led.position("A", "AAPL") == 5


@given(
    st.lists(st.tuples(st.sampled_from([Side.BUY, Side.SELL]), st.integers(1, 50), st.integers(1, 50_000)), max_size=60)
)
def test_cash_is_exact_and_pnl_adds_up(trades):
    """Cash never drifts; when flat, realized P&L equals cash change plus commissions."""
    led = ledger()
    for i, (side, qty, cents) in enumerate(trades):
        led.apply_fill(fill(str(i), side, qty, f"{cents / 100:.2f}", "0.35"))
    spent = sum(s.sign * q * Decimal(f"{c / 100:.2f}") for s, q, c in trades)
    assert led.cash["A"] == Decimal("10000") - spent - Decimal("0.35") * len(trades)
    pos = led.positions.get(("A", "AAPL"))
    if pos is not None and pos.quantity == 0:
        assert pos.realized_pnl == led.cash["A"] - Decimal("10000") + led.commissions["A"]


@pytest.mark.parametrize("price", ["100.00", "100.005", "-0.0"])
def test_one_open_lot_costs_its_price(price):
    led = ledger()
    led.apply_fill(fill("1", Side.SELL, 3, price))
    pos = led.positions[("A", "AAPL")]
    assert pos.avg_cost == Decimal(price) and not pos.avg_cost.is_signed()
