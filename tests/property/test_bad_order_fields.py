"""Any value in any field of a new order: the order manager either takes the order or refuses it with
InvalidInput naming that field, and a refusal leaves no trace. The compiled build (alluse.build)
checks a typed field as it reads it; this is what keeps its refusals the uncompiled ones, so the
suite runs it on both builds (Makefile)."""

import dataclasses
import tempfile
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alluse.bench.core import build_core
from alluse.model import InvalidInput, Order, OrderStatus, OrderType, Side, TimeInForce

FIELDS = [f.name for f in dataclasses.fields(Order)]
ODD_VALUES = st.sampled_from(
    [None, 0, -1, 1.5, True, "", "x", "AAPL", Decimal("NaN"), Decimal("1.00"), Decimal(0), [], {}, object()]
    + [Side.SELL, OrderType.LIMIT, TimeInForce.IOC, OrderStatus.FILLED]
)


@pytest.fixture(scope="module")
def core():
    with tempfile.TemporaryDirectory() as tmp:
        core = build_core(Path(tmp))
        yield core
        core.close()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(FIELDS), value=ODD_VALUES, market=st.booleans())
def test_a_bad_field_is_refused_by_name_and_leaves_nothing(core, field, value, market):
    order = core.order(0, qty=1, style="market" if market else "marketable")
    setattr(order, field, value)
    pending = core.journal.pending
    try:
        core.oms.submit(order)
    except InvalidInput as exc:
        assert exc.field == field or (field == "order_type" and exc.field == "limit_price"), (field, value, exc)
        assert field == "client_order_id" or order.client_order_id not in core.oms.orders
        assert core.journal.pending == pending  # nothing recorded of it
    else:
        assert core.oms.orders.get(order.client_order_id) is order, (field, value)  # taken: a valid value
        assert order.status is not OrderStatus.INITIALIZED
