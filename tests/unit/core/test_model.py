from datetime import date
from decimal import Decimal

import pytest

from alluse.model import (
    Equity,
    InvalidInput,
    Option,
    Right,
    Side,
    on_tick,
    parse_symbol,
    round_to_tick,
)


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
