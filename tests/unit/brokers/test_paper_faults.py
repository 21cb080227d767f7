"""Fault injection: each kind does exactly what faults.py says, is recorded with its true class, and is seeded."""

import math

import pytest
from paper_harness import MS, STOCK, T0, Harness
from pydantic import ValidationError

from alluse.brokers.base import DUPLICATE_ORDER_REASON
from alluse.brokers.paper import FaultConfig, FaultKind
from alluse.brokers.paper.faults import PACING_REASON, VENUE_REJECT_REASON
from alluse.model import OrderStatus, Side, TimeInForce
from alluse.model.errors import BrokerDisconnected, ErrorClass
from alluse.model.events import EventKind

ACC, REJ, FILL, CXL = EventKind.ACCEPTED, EventKind.REJECTED, EventKind.FILL, EventKind.CANCELED


def faulty(**rates) -> Harness:
    latency = {k: rates.pop(k) for k in ("ack_latency_ms", "fill_latency_ms") if k in rates}
    h = Harness(faults=FaultConfig(seed=rates.pop("seed", 7), **rates), **latency)
    h.quote(STOCK.id, 150.00, 150.02, 100, 100)
    return h


def recorded(h: Harness) -> list[tuple[FaultKind, str, ErrorClass | None]]:
    return [(f.kind, f.client_order_id, f.error) for f in h.venue.faults]


def test_no_faults_by_default():
    h = Harness()
    h.quote(STOCK.id, 150.00, 150.02)
    h.submit("b1", Side.BUY, 100)
    assert not FaultConfig().enabled
    assert h.venue.faults == [] and h.venue.fault_counts() == {}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"drop_ack_rate": -0.1}, "drop_ack_rate"),
        ({"drop_ack_rate": 1.5}, "drop_ack_rate"),
        ({"pacing_reject_rate": math.nan}, "pacing_reject_rate"),
        ({"lose_submit_rate": "often"}, "lose_submit_rate"),
        ({"delay_rate": 0.1}, "max_delay_ms"),  # a delay needs a bound
        ({"disconnect_rate": 0.1}, "disconnect_ms"),
        ({"disconnect_ms": -5}, "disconnect_ms"),
        ({"max_delay_ms": "long"}, "max_delay_ms"),
        ({"seed": "x"}, "seed"),
    ],
)
def test_fault_config_rejects_bad_values(kwargs, field):
    with pytest.raises(ValidationError, match=field):
        FaultConfig(**kwargs)


def test_disconnect_on_submit_raises_and_the_order_never_arrived():
    h = faulty(disconnect_rate=1.0, disconnect_ms=5)
    with pytest.raises(BrokerDisconnected):
        h.submit("b1", Side.BUY, 100)
    assert h.connection == [(T0, False)]
    assert h.venue.receipts() == [] and h.events == []
    h.clock.advance(5 * MS)
    assert h.connection[-1] == (T0 + 5 * MS, True)
    assert h.venue.order_status("b1") is None
    assert recorded(h) == [(FaultKind.DISCONNECT, "b1", ErrorClass.TRANSIENT)]


def test_lost_submit_never_arrives():
    h = faulty(lose_submit_rate=1.0)
    h.submit("b1", Side.BUY, 100)
    h.clock.run_until_idle()
    assert h.events == [] and h.venue.receipts() == [] and h.venue.orders_received == 0
    assert h.venue.order_status("b1") is None and h.venue.executions() == []
    assert recorded(h) == [(FaultKind.LOST_SUBMIT, "b1", ErrorClass.UNKNOWN)]


def test_lost_response_drops_every_event_until_the_client_asks():
    h = faulty(lose_response_rate=1.0)
    h.submit("b1", Side.BUY, 300)  # accepted, 100 filled now: both events dropped
    h.clock.advance(MS)
    h.quote(STOCK.id, 150.00, 150.02, 100, 100)  # another fill: dropped too
    h.venue.cancel("b1")  # and the cancel confirmation
    assert h.of("b1") == [] and h.venue.events_muted == 4
    status = h.venue.order_status("b1")  # asking ends the fault for this order
    assert (status.status, status.filled_qty) == (OrderStatus.CANCELED, 200)
    assert [f.quantity for f in h.venue.executions("b1")] == [100, 100]
    h.venue.cancel("b1")
    assert h.kinds("b1") == [EventKind.CANCEL_REJECTED]
    assert recorded(h) == [(FaultKind.LOST_RESPONSE, "b1", ErrorClass.UNKNOWN)]


def test_lost_response_spares_events_that_come_due_after_the_ask():
    h = faulty(lose_response_rate=1.0, ack_latency_ms=5, fill_latency_ms=5)
    h.submit("b1", Side.BUY, 100)
    h.clock.advance(MS)
    assert h.venue.order_status("b1").status is OrderStatus.FILLED
    h.clock.advance(5 * MS)
    assert h.kinds("b1") == [ACC, FILL]


def test_dropped_ack_loses_only_the_accepted_event():
    h = faulty(drop_ack_rate=1.0)
    h.submit("b1", Side.BUY, 100, limit="149.00")
    assert h.events == []
    assert h.venue.order_status("b1").status is OrderStatus.ACCEPTED
    h.quote(STOCK.id, 148.99, 149.00)
    assert h.kinds("b1") == [FILL]
    h.submit("bad", Side.BUY, 0)  # a reject has no ack to drop
    assert h.kinds("bad") == [REJ]
    assert recorded(h) == [(FaultKind.DROPPED_ACK, "b1", ErrorClass.UNKNOWN)]


def test_duplicate_events_arrive_twice():
    h = faulty(duplicate_event_rate=1.0)
    h.submit("b1", Side.BUY, 100)
    assert h.kinds("b1") == [ACC, ACC, FILL, FILL]
    first, second = h.fills("b1")
    assert first == second  # the same fill (same fill id): the client must book it once
    assert h.venue.fills_emitted == 1 and len(h.venue.executions()) == 1
    assert recorded(h) == [(FaultKind.DUPLICATE_EVENT, "b1", None)] * 2


def test_a_delayed_ack_can_arrive_after_the_fill():
    h = faulty(delay_rate=1.0, max_delay_ms=1e-6, ack_latency_ms=10)
    h.submit("b1", Side.BUY, 100)
    h.clock.run_until_idle()
    assert [(t - T0, e.kind) for t, e in h.events] == [(1, FILL), (10 * MS + 1, ACC)]
    assert recorded(h) == [(FaultKind.DELAYED_EVENT, "b1", None)] * 2


def test_a_delayed_fill_can_arrive_after_the_cancel():
    h = faulty(delay_rate=1.0, max_delay_ms=1e-6, fill_latency_ms=10)
    h.submit("b1", Side.BUY, 300)  # 100 filled, delivery delayed
    h.venue.cancel("b1")
    h.clock.run_until_idle()
    assert h.kinds("b1") == [ACC, CXL, FILL]
    assert h.venue.order_status("b1").filled_qty == 100


def test_delays_stay_within_the_bound():
    h = faulty(delay_rate=0.5, max_delay_ms=3, seed=3)
    for i in range(40):
        h.submit(f"b{i}", Side.BUY, 1, limit="150.02", tif=TimeInForce.IOC)
    h.clock.run_until_idle()
    delays = [t - T0 for t, _ in h.events]
    assert sorted(k.value for k in h.kinds("b0") + h.kinds("b39")) == ["ACCEPTED", "ACCEPTED", "FILL", "FILL"]
    assert len(h.events) == 40 * 2  # every event arrives exactly once
    delayed = h.venue.fault_counts()[FaultKind.DELAYED_EVENT]
    assert 0 < delayed < 80 and sum(d > 0 for d in delays) == delayed
    assert max(delays) <= 3 * MS


def test_pacing_reject_is_transient_and_the_id_can_be_sent_again():
    faults = FaultConfig(seed=1, pacing_reject_rate=1.0)
    h = Harness(faults=faults)
    h.submit("b1", Side.BUY, 100, limit="100.00")
    (event,) = h.of("b1")
    assert (event.kind, event.error, event.reason) == (REJ, ErrorClass.THROTTLED, PACING_REASON)
    assert event.reason.startswith("pacing")
    assert h.venue.order_status("b1") is None  # not taken: nothing to report
    h.venue.set_faults(FaultConfig(seed=1))
    h.submit("b1", Side.BUY, 100, limit="100.00")
    assert h.kinds("b1") == [REJ, ACC]
    assert [r.outcome for r in h.venue.receipts()] == ["pacing", "accepted"]
    assert recorded(h) == [(FaultKind.PACING_REJECT, "b1", ErrorClass.THROTTLED)]


def test_pacing_resends_get_through_in_the_end():
    h = faulty(pacing_reject_rate=0.5, seed=11)
    attempts = 0
    while h.kinds("b1")[-1:] != [ACC]:
        attempts += 1
        h.submit("b1", Side.BUY, 100, limit="100.00")
    assert attempts == h.venue.fault_counts().get(FaultKind.PACING_REJECT, 0) + 1
    assert [r.outcome for r in h.venue.receipts()].count("accepted") == 1


def test_permanent_reject_uses_the_id_up():
    h = faulty(permanent_reject_rate=1.0)
    h.submit("b1", Side.BUY, 100)
    (event,) = h.of("b1")
    assert (event.kind, event.error, event.reason) == (REJ, ErrorClass.PERMANENT, VENUE_REJECT_REASON)
    status = h.venue.order_status("b1")
    assert (status.status, status.reason) == (OrderStatus.REJECTED, VENUE_REJECT_REASON)
    h.submit("b1", Side.BUY, 100)
    assert (h.of("b1")[-1].reason, h.of("b1")[-1].error) == (DUPLICATE_ORDER_REASON, ErrorClass.PERMANENT)
    h.submit("bad", Side.BUY, 0)  # the venue's own validation reject is not an injected fault
    assert h.of("bad")[0].reason.startswith("quantity=0")
    assert recorded(h) == [(FaultKind.PERMANENT_REJECT, "b1", ErrorClass.PERMANENT)]


MIXED = {
    "lose_submit_rate": 0.05,
    "lose_response_rate": 0.05,
    "drop_ack_rate": 0.05,
    "duplicate_event_rate": 0.05,
    "delay_rate": 0.05,
    "max_delay_ms": 2,
    "disconnect_rate": 0.05,
    "disconnect_ms": 3,
    "pacing_reject_rate": 0.05,
    "permanent_reject_rate": 0.05,
}


TRUE_CLASS = {
    FaultKind.DISCONNECT: ErrorClass.TRANSIENT,
    FaultKind.PACING_REJECT: ErrorClass.THROTTLED,
    FaultKind.PERMANENT_REJECT: ErrorClass.PERMANENT,
    FaultKind.LOST_SUBMIT: ErrorClass.UNKNOWN,
    FaultKind.LOST_RESPONSE: ErrorClass.UNKNOWN,
    FaultKind.DROPPED_ACK: ErrorClass.UNKNOWN,
    FaultKind.DUPLICATE_EVENT: None,
    FaultKind.DELAYED_EVENT: None,
}


def _run(seed: int) -> tuple[list, list]:
    h = Harness(faults=FaultConfig(seed=seed, **MIXED), ack_latency_ms=1, fill_latency_ms=1)
    for i in range(300):
        h.clock.advance(MS)
        h.quote(STOCK.id, 150.00, 150.02, 100, 100)
        try:
            h.submit(f"o{i}", Side.BUY if i % 2 else Side.SELL, 10, limit="150.00" if i % 3 else None)
        except BrokerDisconnected:
            pass
    h.clock.run_until_idle()
    return h.venue.faults, [(t, e) for t, e in h.events]


def test_faults_are_seeded_and_every_one_is_recorded_and_counted():
    faults, events = _run(5)
    assert (faults, events) == _run(5)
    assert faults != _run(6)[0]
    kinds = {f.kind for f in faults}
    assert kinds == set(FaultKind)  # 300 submits at 5% each: every kind shows up
    for f in faults:
        assert f.error is TRUE_CLASS[f.kind]
