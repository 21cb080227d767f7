"""Random event sequences against the order state machine: no invalid state, no overfill,
terminal states stay terminal (a late fill may land on a CANCELED/EXPIRED order, which then
stays where it is or becomes FILLED), and a refused event leaves the order exactly as it was."""

import copy
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from alluse.execution import fsm
from alluse.model import TERMINAL_STATUSES, Fill, Order, OrderStatus, Side

QTY = 10


def _fill(n: int, qty: int) -> Fill:
    return Fill("C1", "A", "AAPL", Side.BUY, qty, Decimal("1.00") + n, Decimal("1.00"), n, f"F{n}")


events = st.lists(
    st.tuples(st.sampled_from(list(fsm.Trigger)), st.integers(min_value=-2, max_value=QTY + 2)), max_size=40
)


@settings(max_examples=400)
@given(events)
def test_random_events_keep_the_machine_valid(seq):
    order = Order("C1", "A", "AAPL", Side.BUY, QTY, limit_price=Decimal("1.00"))
    terminal_seen = None
    for n, (trigger, qty) in enumerate(seq):
        before = copy.copy(order)
        fill = _fill(n, qty) if trigger is fsm.Trigger.FILL else None
        try:
            fsm.apply(order, trigger, n, fill=fill)
        except fsm.InvalidTransition:
            for name in Order.__slots__:
                assert getattr(order, name) == getattr(before, name), name
            continue
        if terminal_seen is not None:
            assert trigger is fsm.Trigger.FILL and terminal_seen in (OrderStatus.CANCELED, OrderStatus.EXPIRED)
            assert order.status in (terminal_seen, OrderStatus.FILLED)
        assert (before.status, trigger) in fsm.TRANSITIONS
        assert 0 <= order.filled_qty <= order.quantity
        if order.filled_qty == order.quantity:
            assert order.status is OrderStatus.FILLED
        if order.status is OrderStatus.FILLED:
            assert order.filled_qty == order.quantity
        if order.status in TERMINAL_STATUSES and terminal_seen is None:
            terminal_seen = order.status
        if order.status is OrderStatus.FILLED:
            terminal_seen = OrderStatus.FILLED
