"""Entry points that take a value from outside refuse a wrong type the same way on both builds (the
suite runs on both, Makefile): by name, or by answering "no such thing" — never a bare TypeError
from compiled code (alluse.build)."""

from decimal import Decimal

import numpy as np
import pytest
from pydantic import ValidationError

from alluse.bench.core import ACCOUNT, build_core
from alluse.brokers.paper import PaperVenue, PaperVenueConfig
from alluse.execution.oms import UnknownOrder
from alluse.model import InvalidInput, Order, OrderStatus, OrderType, Quote, Side

ODD = [123, None, 1.5, b"id", ("a",)]


@pytest.fixture
def core(tmp_path):
    core = build_core(tmp_path, stocks=2)
    yield core
    core.close()


@pytest.mark.parametrize("value", ODD)
def test_order_manager_lookups_and_cancel(core, value):
    assert core.oms.get(value) is None
    assert core.oms.open_orders(value) == []
    with pytest.raises(UnknownOrder):
        core.oms.cancel(value)


@pytest.mark.parametrize("value", ODD)
def test_venue_cancel_names_the_id(core, value):
    with pytest.raises(InvalidInput) as err:
        core.venue.cancel(value)
    assert err.value.field == "client_order_id"


@pytest.mark.parametrize(
    ("field", "value"), [("ack_latency_ms", "soon"), ("session_close_utc_hour", 20.5), ("commissions", None)]
)
def test_venue_config_names_the_field(field, value):
    with pytest.raises(ValidationError) as err:
        PaperVenueConfig(**{field: value})
    assert err.value.errors()[0]["loc"] == (field,)


@pytest.mark.parametrize(("field", "value"), [("id_prefix", None), ("id_prefix", 7), ("store_synchronous", None)])
def test_venue_settings_name_the_field(core, field, value):
    with pytest.raises(InvalidInput) as err:
        PaperVenue(core.clock, core.registry, core.cache.fresh_view(), **{field: value})
    assert err.value.field == field


def test_numpy_float_prices_trade_like_floats(core):
    """A feed may hand over numpy floats (a float subclass): a market order prices and fills on them."""
    sym = core.symbols[0]
    now = core.clock.now_ns()
    quote = Quote(sym, np.float64(49.99), np.float64(50.01), 1_000, 1_000, now, now)
    core.cache.put(quote)
    core.venue.on_quote(quote)
    order = core.oms.submit(Order(core.oms.next_client_order_id(), ACCOUNT, sym, Side.BUY, 10, OrderType.MARKET))
    assert order.status is OrderStatus.FILLED, order.reason
    assert order.avg_fill_price == Decimal("50.01")


@pytest.mark.parametrize("cash", [Decimal("NaN"), Decimal(-1), 1.5, None])
def test_a_refused_initial_cash_is_never_journaled(core, cash):
    """Checked before anything is written: a refused deposit in the journal would come back at every start."""
    with pytest.raises(InvalidInput) as err:
        core.oms.recover({"NEW": cash, ACCOUNT: Decimal(1)})
    assert err.value.field == "initial_cash[NEW]"
    assert "NEW" not in core.journal.load().deposits
