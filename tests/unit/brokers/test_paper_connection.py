"""The venue's connection: calls refused and events lost while it is down; the venue trades on."""

import pytest
from paper_harness import MS, STOCK, T0, Harness

from alluse.model import InvalidInput, OrderStatus, Side, TimeInForce
from alluse.model.errors import BrokerDisconnected, ErrorClass, classify_exception
from alluse.model.events import EventKind


def test_calls_raise_while_down_and_work_after_reconnect():
    h = Harness()
    h.submit("b1", Side.BUY, 100, limit="100.00")
    h.venue.disconnect(5 * MS)
    assert h.connection == [(T0, False)] and h.venue.connected is False
    calls = [
        lambda: h.submit("b2", Side.BUY, 1, limit="100.00"),
        lambda: h.venue.cancel("b1"),
        lambda: h.venue.open_orders(),
        lambda: h.venue.order_status("b1"),
        lambda: h.venue.executions(),
        lambda: h.venue.account_snapshot("A"),
    ]
    for call in calls:
        with pytest.raises(BrokerDisconnected) as err:
            call()
        assert classify_exception(err.value) is ErrorClass.TRANSIENT
    h.clock.advance(5 * MS - 1)
    assert h.venue.connected is False
    h.clock.advance(1)
    assert h.connection == [(T0, False), (T0 + 5 * MS, True)]
    assert h.venue.order_status("b2") is None  # the submit while down never arrived
    assert [r.client_order_id for r in h.venue.receipts()] == ["b1"]
    h.venue.cancel("b1")
    assert h.kinds("b1") == [EventKind.ACCEPTED, EventKind.CANCELED]


def test_fills_while_away_are_lost_as_events_but_visible_after_reconnect():
    h = Harness()
    h.submit("b1", Side.BUY, 100, limit="150.00", tif=TimeInForce.GTC)
    h.venue.disconnect(10 * MS)
    h.clock.advance(MS)
    h.quote(STOCK.id, 149.98, 150.00)  # the venue trades while the client is away
    assert h.kinds("b1") == [EventKind.ACCEPTED]
    assert h.venue.events_lost == 1
    h.clock.advance(10 * MS)
    status = h.venue.order_status("b1")
    assert (status.status, status.filled_qty) == (OrderStatus.FILLED, 100)
    (fill,) = h.venue.executions("b1")
    assert (fill.quantity, fill.price, fill.ts_event) == (100, 150, T0 + MS)
    assert h.venue.account_snapshot("A").positions == {STOCK.id: 100}
    assert h.kinds("b1") == [EventKind.ACCEPTED]  # never redelivered


def test_events_in_flight_are_lost_if_due_while_down_and_delivered_if_due_after():
    h = Harness(ack_latency_ms=5)
    h.submit("early", Side.BUY, 1, limit="100.00")
    h.venue.disconnect(2 * MS)  # back before the ack is due
    h.clock.advance(2 * MS)
    h.submit("late", Side.BUY, 1, limit="100.00")  # ack due at +7 ms
    h.venue.disconnect(6 * MS)  # down until +8 ms: both acks come due meanwhile
    h.clock.advance(10 * MS)
    assert h.kinds("early") == [] and h.kinds("late") == []
    assert h.venue.events_lost == 2
    h.submit("after", Side.BUY, 1, limit="100.00")
    h.clock.advance(5 * MS)
    assert h.kinds("after") == [EventKind.ACCEPTED]


def test_early_ack_delivered_when_the_outage_ends_before_it_is_due():
    h = Harness(ack_latency_ms=5)
    h.submit("b1", Side.BUY, 1, limit="100.00")
    h.venue.disconnect(2 * MS)
    h.clock.advance(5 * MS)
    assert [(t, e.kind) for t, e in h.events] == [(T0 + 5 * MS, EventKind.ACCEPTED)]


def test_a_drop_while_down_extends_the_outage():
    h = Harness()
    h.venue.disconnect(5 * MS)
    h.clock.advance(2 * MS)
    h.venue.disconnect(10 * MS)
    h.clock.advance(10 * MS - 1)
    assert h.venue.connected is False
    h.clock.advance(1)
    assert h.connection == [(T0, False), (T0 + 12 * MS, True)]
    assert h.venue.disconnects == 1


def test_day_orders_expire_while_the_client_is_away():
    h = Harness()
    h.submit("day", Side.BUY, 100, limit="100.00")
    h.venue.disconnect(10 * 3600 * 10**9)
    h.clock.run_until_idle()
    assert h.kinds("day") == [EventKind.ACCEPTED]
    assert h.venue.order_status("day").status is OrderStatus.EXPIRED


@pytest.mark.parametrize("duration", [0, -1, 1.5, None])
def test_disconnect_needs_a_positive_integer_duration(duration):
    h = Harness()
    with pytest.raises(InvalidInput) as err:
        h.venue.disconnect(duration)
    assert err.value.field == "duration_ns"
    assert h.venue.connected and h.connection == []
