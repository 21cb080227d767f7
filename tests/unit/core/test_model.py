import dataclasses
import pickle
from datetime import date
from decimal import Decimal

import pytest

from alluse.model import (
    TERMINAL_STATUSES,
    Equity,
    Fill,
    InvalidInput,
    Option,
    OrderStatus,
    Right,
    Side,
    fast_frozen,
    on_tick,
    parse_symbol,
    round_to_tick,
)
from alluse.model.events import EventKind, OrderEvent


def test_occ_symbol_format_and_parse_round_trip():
    o = Option("TSLA", date(2026, 12, 18), Decimal("250"), Right.PUT)
    assert o.symbol == "TSLA  261218P00250000"
    assert Option.from_occ("TSLA  261218P00250000") == o
    assert Option.from_occ("TSLA261218P00250000") == o  # unpadded root is accepted
    assert Option.from_occ("AAPL  261204C00187500").strike == Decimal("187.5")


@pytest.mark.parametrize("bad", ["TSLA  261318P00250000", "TSLA 26121P00250000", "tsla  261218P00250000", ""])
def test_bad_occ_symbols_name_the_symbol(bad):
    with pytest.raises(InvalidInput) as exc:
        Option.from_occ(bad)
    assert exc.value.field == "symbol"


def test_parse_symbol_tells_stock_from_option():
    assert parse_symbol("AAPL") == Equity("AAPL")
    assert isinstance(parse_symbol("AAPL  261204C00187500"), Option)
    with pytest.raises(InvalidInput):
        parse_symbol("not a symbol")


def test_tick_rules():
    stock = Equity("AAPL")
    opt = Option("AAPL", date(2026, 12, 4), Decimal("200"), Right.PUT)
    assert stock.tick_size(Decimal("5")) == Decimal("0.01")
    assert opt.tick_size(Decimal("2.99")) == Decimal("0.01")
    assert opt.tick_size(Decimal("3.00")) == Decimal("0.05")
    assert on_tick(opt, Decimal("2.97")) and not on_tick(opt, Decimal("3.02")) and on_tick(opt, Decimal("3.05"))
    assert round_to_tick(opt, 3.02, Side.SELL) == Decimal("3.05")
    assert round_to_tick(opt, 3.02, Side.BUY) == Decimal("3.00")


@pytest.mark.parametrize("strike", ["0", "-5", "1.2345", "nan"])
def test_bad_strikes(strike):
    with pytest.raises(InvalidInput) as exc:
        Option("AAPL", date(2026, 12, 4), Decimal(strike), Right.PUT)
    assert exc.value.field == "strike"


def test_fast_frozen_objects_stay_frozen_and_equal_by_value():
    fill = Fill("c1", "acct", "SPY", Side.BUY, 100, Decimal("50.01"), Decimal("1.00"), 7, "F1")
    assert fill.liquidity == "T"  # the default still applies
    assert fill == Fill("c1", "acct", "SPY", Side.BUY, 100, Decimal("50.01"), Decimal("1.00"), 7, "F1", "T")
    assert hash(fill) == hash(dataclasses.replace(fill))
    assert pickle.loads(pickle.dumps(fill)) == fill
    with pytest.raises(dataclasses.FrozenInstanceError):
        fill.quantity = 5  # type: ignore[misc]
    with pytest.raises(TypeError, match="missing"):
        Fill("c1", "acct")  # type: ignore[call-arg]
    event = OrderEvent(EventKind.FILL, "c1", 7, fill=fill)
    assert (event.venue_order_id, event.reason, event.fill, event.error) == (None, "", fill, None)


def test_fast_frozen_refuses_what_its_init_would_skip():
    @dataclasses.dataclass(slots=True, frozen=True)
    class WithFactory:
        items: list = dataclasses.field(default_factory=list)

    with pytest.raises(TypeError, match="plain fields only"):
        fast_frozen(WithFactory)


def test_enum_member_attributes():
    assert (Side.BUY.sign, Side.SELL.sign) == (1, -1)
    assert {s for s in OrderStatus if s.is_terminal} == TERMINAL_STATUSES
    assert {s for s in OrderStatus if s.is_open} == {
        OrderStatus.SUBMITTED,
        OrderStatus.ACCEPTED,
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.PENDING_CANCEL,
    }


def test_fast_frozen_refuses_keyword_only_fields():
    @dataclasses.dataclass(slots=True, frozen=True, kw_only=True)
    class KeywordOnly:
        a: int

    with pytest.raises(TypeError, match="plain fields only"):
        fast_frozen(KeywordOnly)
    assert Fill.__init__.__module__ == "alluse.model.orders"


def test_float_decimal_is_the_shortest_repr_also_of_a_numpy_float():
    import numpy as np

    from alluse.model import float_decimal

    assert float_decimal(50.01) == Decimal("50.01") and str(float_decimal(np.float64(50.01))) == "50.01"
    assert float_decimal(0.1 + 0.2) == Decimal("0.30000000000000004")  # exact to the float, not rounded
