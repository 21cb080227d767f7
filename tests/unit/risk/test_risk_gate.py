from datetime import date
from decimal import Decimal

import pytest

from alluse.instruments import InstrumentRegistry
from alluse.model import Equity, Fill, Option, Order, OrderType, Right, Side
from alluse.portfolio import Ledger
from alluse.risk import DenyReason, RiskContext, RiskGate, RiskLimits

PUT = Option("AAPL", date(2026, 12, 18), Decimal("200"), Right.PUT)
CALL = Option("AAPL", date(2026, 12, 18), Decimal("200"), Right.CALL)


@pytest.fixture
def gate():
    registry = InstrumentRegistry([Equity("AAPL"), Equity("NOQ"), PUT, CALL])
    ledger = Ledger(lambda iid: registry.require(iid).multiplier)
    ledger.deposit("A", Decimal(50_000))
    mids = {"AAPL": 200.0, PUT.id: 3.0, CALL.id: 0.20}
    working: list[Order] = []
    limits = RiskLimits(max_order_quantity=100, max_order_notional=Decimal(10_000))
    g = RiskGate(RiskContext(registry, ledger, mids.get, lambda a: working, limits))
    return g, ledger, working


def o(iid="AAPL", side=Side.BUY, qty=10, price="200.00", kind=OrderType.LIMIT):
    return Order("X", "A", iid, side, qty, kind, None if price is None else Decimal(price))


@pytest.mark.parametrize(
    ("order", "reason"),
    [
        (o(qty=101), DenyReason.MAX_QUANTITY),
        (o(qty=60, price="200.00"), DenyReason.MAX_NOTIONAL),
        (o(price="260.00"), DenyReason.PRICE_BAND),
        (o(iid="NOQ", kind=OrderType.MARKET, price=None), DenyReason.NO_QUOTE),
        (o(iid=PUT.id, side=Side.SELL, qty=3, price="3.00"), DenyReason.CASH_SECURED),
    ],
)
def test_each_denial_carries_its_reason(gate, order, reason):
    g, *_ = gate
    denial = g.check(order)
    assert denial is not None and denial.reason is reason and reason.value in str(denial)
    assert g.denials[reason] == 1


def test_good_orders_pass(gate):
    g, *_ = gate
    assert g.check(o()) is None
    assert g.check(o(iid=PUT.id, side=Side.SELL, qty=2, price="3.00")) is None  # 40,000 of 50,000
    assert g.check(o(iid=CALL.id, price="0.25")) is None  # cheap option: 10-cent minimum band
    assert g.check(o(iid="NOQ", price="5.00")) is None  # a resting limit without a quote is allowed


def test_working_sell_puts_and_short_positions_reserve_cash(gate):
    g, ledger, working = gate
    working.append(o(iid=PUT.id, side=Side.SELL, qty=1, price="3.00"))  # reserves 20,000
    ledger.apply_fill(Fill("F", "A", PUT.id, Side.SELL, 1, Decimal("3.00"), Decimal(1), 0, "f1"))  # 20,000 more
    denial = g.check(o(iid=PUT.id, side=Side.SELL, qty=1, price="3.00"))
    assert denial is not None and denial.reason is DenyReason.CASH_SECURED


def test_selling_puts_held_long_needs_no_cash(gate):
    g, ledger, _ = gate
    ledger.apply_fill(Fill("F", "A", PUT.id, Side.BUY, 5, Decimal("3.00"), Decimal(1), 0, "f1"))
    assert g.check(o(iid=PUT.id, side=Side.SELL, qty=5, price="3.00")) is None


def test_long_puts_offset_working_put_sales_like_the_venue(gate):
    """Two held long, one working sale: that sale needs no cash; three more leave two short (40,000 needed)."""
    g, ledger, working = gate
    ledger.apply_fill(Fill("F", "A", PUT.id, Side.BUY, 2, Decimal("3.00"), Decimal(1), 0, "f1"))
    working.append(o(iid=PUT.id, side=Side.SELL, qty=1, price="3.00"))
    assert g.check(o(iid=PUT.id, side=Side.SELL, qty=3, price="3.00")) is None  # 40,000 of 49,399 free
    assert g.check(o(iid=PUT.id, side=Side.SELL, qty=5, price="3.00")).reason is DenyReason.CASH_SECURED
