"""Any value in any field of a new order: the order manager either takes the order or refuses it with
InvalidInput naming that field, and a refusal leaves no trace. The compiled build (alluse.build)
checks a typed field as it reads it; this is what keeps its refusals the uncompiled ones, so the
suite runs it on both builds (Makefile)."""

import dataclasses
import tempfile
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alluse.bench.core import build_core
from alluse.model import Fill, InvalidInput, Order, OrderStatus, OrderType, Side, TimeInForce
from alluse.model.events import EventKind, OrderEvent

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


FILL_FIELDS = [f.name for f in dataclasses.fields(Fill)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(FILL_FIELDS), value=ODD_VALUES | st.sampled_from([np.int64(1), 1.0, "T"]))
def test_a_fill_with_any_bad_field_is_refused_and_counted_never_raised(core, field, value):
    """A fill comes from broker code: whatever is in it, the order manager books it or refuses it
    (counted), and neither the call nor the journal fails."""
    order = core.order(0, qty=1, style="resting")
    core.oms.submit(order)
    assert order.status is OrderStatus.ACCEPTED
    good = Fill(order.client_order_id, order.account, order.instrument_id, order.side, 1, order.limit_price,
                Decimal("0.01"), core.clock.now_ns(), f"F-{order.client_order_id}")  # fmt: skip
    fill = dataclasses.replace(good, **{field: value})
    refused = core.oms.counters.events_refused
    core.oms.events.on_order_event(OrderEvent(EventKind.FILL, order.client_order_id, core.clock.now_ns(), fill=fill))
    core.journal.flush()  # a row SQLite refuses would fail here
    assert core.oms.journal_error is None
    valid = {
        "quantity": lambda v: type(v) is int and v > 0,
        "price": lambda v: isinstance(v, Decimal) and v.is_finite() and v >= 0,
        "fill_id": lambda v: type(v) is str and v != "",
        "ts_event": lambda v: type(v) is int and v >= 0,
        "liquidity": lambda v: v in ("T", "M", "X"),
    }
    valid["commission"] = valid["price"]
    usable = valid.get(field, lambda v: v == getattr(good, field))(value)  # the rest must match the order
    booked = order.filled_qty == 1
    assert booked == usable, (field, value, order.filled_qty)
    if not booked:
        assert core.oms.counters.events_refused == refused + 1, (field, value)
