from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paper_harness import CALL, EXPIRY_NS, MS, PUT, STOCK, T0, D, FakeQuotes, Harness
from pydantic import ValidationError

from alluse.brokers.base import DUPLICATE_ORDER_REASON, Broker
from alluse.brokers.paper import PaperVenue, PaperVenueConfig, commission
from alluse.brokers.paper.commissions import IBKR_FIXED
from alluse.brokers.paper.venue import EXPIRY_QUOTE_RETRIES, EXPIRY_QUOTE_RETRY_NS
from alluse.common.clock import NS, TestClock, datetime_to_ns
from alluse.model import (
    InvalidInput,
    Order,
    OrderStatus,
    OrderType,
    Quote,
    Side,
    TimeInForce,
    round_to_tick,
)
from alluse.model.errors import ErrorClass
from alluse.model.events import EventKind, OrderEvent
from alluse.model.registry import InstrumentRegistry

# ---------------------------------------------------------------- fills


def test_market_buy_fills_at_ask_and_sell_at_bid():
    h = Harness()
    h.quote(STOCK.id, 150.00, 150.02, 500, 500)
    h.submit("b1", Side.BUY, 100)
    h.submit("s1", Side.SELL, 100)
    assert h.kinds("b1") == [EventKind.ACCEPTED, EventKind.FILL]
    assert h.of("b1")[0].venue_order_id == "P1-000001"
    (buy,) = h.fills("b1")
    (sell,) = h.fills("s1")
    assert (buy.price, buy.quantity, buy.side, buy.liquidity) == (D("150.02"), 100, Side.BUY, "T")
    assert (sell.price, sell.quantity, sell.side) == (D("150.00"), 100, Side.SELL)
    assert buy.commission == D("1.00")
    assert h.venue.open_orders() == []
    assert h.venue.fills_emitted == 2


def test_partial_fill_across_two_quotes_with_sizes():
    h = Harness()
    h.quote(STOCK.id, 150.00, 150.02, 100, 100)
    h.submit("b1", Side.BUY, 300)
    (working,) = h.venue.open_orders()
    assert (working.status, working.filled_qty, working.remaining) == (OrderStatus.PARTIALLY_FILLED, 100, 200)
    h.quote(STOCK.id, 150.01, 150.03, 100, 500)
    fills = h.fills("b1")
    assert [(f.quantity, f.price) for f in fills] == [(100, D("150.02")), (200, D("150.03"))]
    assert [f.commission for f in fills] == [D("1.00"), D("0.500")]  # 300 shares: $1.50 per order
    assert len({f.fill_id for f in fills}) == 2
    assert h.venue.open_orders() == []


def test_market_order_without_a_quote_rests_until_one_comes():
    h = Harness()
    h.submit("b1", Side.BUY, 100)
    assert h.kinds("b1") == [EventKind.ACCEPTED]
    assert [o.client_order_id for o in h.venue.open_orders()] == ["b1"]
    h.quote(STOCK.id, 99.99, 100.01)
    assert h.fills("b1")[0].price == D("100.01")


def test_limit_rests_then_fills_on_a_later_marketable_quote_at_its_touch():
    h = Harness()
    h.quote(STOCK.id, 150.00, 150.02)
    h.submit("b1", Side.BUY, 100, limit="149.95")
    h.quote(STOCK.id, 149.90, 149.96)  # not marketable yet
    assert h.kinds("b1") == [EventKind.ACCEPTED]
    h.quote(STOCK.id, 149.80, 149.90, 100, 100)
    (fill,) = h.fills("b1")
    assert (fill.price, fill.liquidity) == (D("149.90"), "M")


def test_marketable_limit_fills_at_the_touch_not_the_limit():
    h = Harness()
    h.quote(STOCK.id, 150.00, 150.02)
    h.submit("b1", Side.BUY, 100, limit="151.00")
    h.submit("s1", Side.SELL, 100, limit="149.00")
    assert h.fills("b1")[0].price == D("150.02")
    assert h.fills("s1")[0].price == D("150.00")


def test_liquidity_is_shared_by_orders_on_one_quote():
    h = Harness()
    h.submit("b1", Side.BUY, 100, limit="150.00")
    h.submit("b2", Side.BUY, 100, limit="150.00")
    h.quote(STOCK.id, 149.98, 150.00, 100, 150)
    assert [f.quantity for f in h.fills("b1")] == [100]
    assert [f.quantity for f in h.fills("b2")] == [50]
    h.submit("b3", Side.BUY, 100)  # same (cached) quote: its size is used up
    assert h.fills("b3") == []
    h.clock.advance(1 * MS)
    h.quote(STOCK.id, 149.98, 150.00, 100, 150)  # a new quote brings fresh size, time priority
    assert [f.quantity for f in h.fills("b2")] == [50, 50]
    assert [f.quantity for f in h.fills("b3")] == [100]


def test_submit_reads_the_latest_quote_from_the_source():
    h = Harness()
    h.quotes.latest[STOCK.id] = Quote(STOCK.id, 10.00, 10.01, 5, 7, T0, T0)  # not pushed via on_quote
    h.submit("b1", Side.BUY, 10)
    assert [(f.quantity, f.price) for f in h.fills("b1")] == [(7, D("10.01"))]


@pytest.mark.parametrize(
    ("bid", "ask", "bid_size", "ask_size"),
    [
        (150.05, 150.00, 100, 100),  # crossed
        (149.00, float("nan"), 100, 100),
        (149.00, float("inf"), 100, 100),
        (149.00, 150.00, 100, 0),
        (149.00, -1.0, 100, 100),
    ],
)
def test_bad_quotes_never_fill(bid, ask, bid_size, ask_size):
    h = Harness()
    h.submit("b1", Side.BUY, 100)
    h.quote(STOCK.id, bid, ask, bid_size, ask_size)
    assert h.fills("b1") == []
    assert h.venue.account_snapshot("A").cash == D("100000")
    h.quote(STOCK.id, 149.00, 150.00)
    assert h.fills("b1")[0].price == D("150.00")


def test_sell_into_a_zero_bid_rests():
    h = Harness(D("0"), {PUT.id: 1})
    h.quote(PUT.id, 0.0, 0.05, 0, 100)
    h.submit("s1", Side.SELL, 1, iid=PUT.id)
    assert h.fills("s1") == []


# ---------------------------------------------------------------- IOC and cancel


def test_ioc_fills_what_is_there_and_cancels_the_rest():
    h = Harness()
    h.quote(STOCK.id, 150.00, 150.02, 100, 100)
    h.submit("i1", Side.BUY, 300, tif=TimeInForce.IOC)
    assert h.kinds("i1") == [EventKind.ACCEPTED, EventKind.FILL, EventKind.CANCELED]
    assert h.of("i1")[-1].reason == "IOC remainder"
    h.submit("i2", Side.BUY, 100, limit="149.00", tif=TimeInForce.IOC)
    assert h.kinds("i2") == [EventKind.ACCEPTED, EventKind.CANCELED]
    assert h.venue.open_orders() == []
    assert h.venue.cancels == 2


def test_cancel_working_order():
    h = Harness()
    h.submit("b1", Side.BUY, 100, limit="100.00")
    h.venue.cancel("b1")
    assert h.kinds("b1") == [EventKind.ACCEPTED, EventKind.CANCELED]
    assert h.of("b1")[-1].venue_order_id == "P1-000001"
    h.quote(STOCK.id, 99.00, 99.50)
    assert h.fills("b1") == []
    assert h.venue.open_orders() == []
    h.venue.cancel("b1")
    assert h.of("b1")[-1].kind is EventKind.CANCEL_REJECTED
    assert h.of("b1")[-1].reason == "already canceled"


def test_cancel_unknown_and_filled_orders_is_rejected():
    h = Harness()
    h.venue.cancel("nope")
    assert [(e.kind, e.reason) for e in h.of("nope")] == [(EventKind.CANCEL_REJECTED, "unknown order")]
    h.quote(STOCK.id, 150.00, 150.02)
    h.submit("b1", Side.BUY, 100)
    h.venue.cancel("b1")
    assert h.of("b1")[-1].kind is EventKind.CANCEL_REJECTED
    assert h.of("b1")[-1].reason == "already filled"
    assert h.venue.cancels == 0


def test_cancel_racing_a_scheduled_fill_applies_to_the_remainder():
    h = Harness(ack_latency_ms=1, fill_latency_ms=5)
    h.quote(STOCK.id, 150.00, 150.02, 100, 100)
    h.submit("b1", Side.BUY, 300)  # 100 fill decided now, delivered at +5 ms
    h.clock.advance(1 * MS)
    assert h.kinds("b1") == [EventKind.ACCEPTED]
    h.venue.cancel("b1")
    h.clock.run_until_idle()
    assert h.kinds("b1") == [EventKind.ACCEPTED, EventKind.FILL, EventKind.CANCELED]
    assert sum(f.quantity for f in h.fills("b1")) == 100
    times = [t for t, e in h.events if e.client_order_id == "b1"]
    assert times == [T0 + 1 * MS, T0 + 5 * MS, T0 + 5 * MS]  # the cancel never overtakes the fill


def test_cancel_after_a_scheduled_full_fill_is_rejected_after_the_fill():
    h = Harness(ack_latency_ms=1, fill_latency_ms=5)
    h.quote(STOCK.id, 150.00, 150.02, 100, 100)
    h.submit("b1", Side.BUY, 100)
    h.clock.advance(2 * MS)
    h.venue.cancel("b1")
    h.clock.run_until_idle()
    assert h.kinds("b1") == [EventKind.ACCEPTED, EventKind.FILL, EventKind.CANCEL_REJECTED]
    assert h.of("b1")[-1].reason == "already filled"


def test_ack_and_fill_latency_are_honoured_in_clock_time():
    h = Harness(ack_latency_ms=2, fill_latency_ms=5)
    h.quote(STOCK.id, 150.00, 150.02)
    h.submit("b1", Side.BUY, 100)
    h.submit("bad", Side.BUY, 0)
    assert h.events == []
    h.clock.advance(1 * MS)
    assert h.events == []
    h.clock.advance(1 * MS)
    assert [(t, e.kind) for t, e in h.events] == [
        (T0 + 2 * MS, EventKind.ACCEPTED),
        (T0 + 2 * MS, EventKind.REJECTED),
    ]
    h.clock.advance(3 * MS)
    assert [(t, e.kind) for t, e in h.events][-1] == (T0 + 5 * MS, EventKind.FILL)
    assert h.fills("b1")[0].ts_event == T0  # stamped when the venue executed it


def test_handler_that_cancels_on_a_fill_sees_events_in_order():
    h = Harness()
    h.submit("b1", Side.BUY, 100, limit="150.00")
    h.submit("b2", Side.BUY, 100, limit="150.00")

    def on_event(event: OrderEvent) -> None:
        h.events.append((h.clock.now_ns(), event))
        if event.kind is EventKind.FILL and event.client_order_id == "b1":
            h.venue.cancel("b2")

    h.venue.set_event_handler(on_event, h.settlements.append)
    h.quote(STOCK.id, 149.98, 150.00, 100, 100)
    h.quote(STOCK.id, 149.98, 150.00, 100, 100)
    assert [(e.client_order_id, e.kind) for _, e in h.events[-2:]] == [
        ("b1", EventKind.FILL),
        ("b2", EventKind.CANCELED),
    ]
    assert h.fills("b2") == []


# ---------------------------------------------------------------- DAY / GTC


def test_day_orders_expire_at_session_close_and_gtc_survives():
    h = Harness()
    h.submit("day", Side.BUY, 100, limit="100.00")
    h.submit("gtc", Side.BUY, 100, limit="100.00", tif=TimeInForce.GTC)
    close = datetime_to_ns(datetime(2026, 1, 5, 20, tzinfo=UTC))
    h.clock.advance_to(close - 1)
    assert h.kinds("day") == [EventKind.ACCEPTED]
    h.clock.advance_to(close)
    assert [(e.kind, e.reason) for e in h.of("day")][-1] == (EventKind.EXPIRED, "session close")
    assert [o.client_order_id for o in h.venue.open_orders()] == ["gtc"]
    h.clock.advance(1 * 3600 * NS)
    h.submit("late", Side.BUY, 100, limit="100.00")  # after the close: lives until tomorrow's
    h.clock.advance_to(close + 24 * 3600 * NS - 1)
    assert h.kinds("late") == [EventKind.ACCEPTED]
    h.clock.advance_to(close + 24 * 3600 * NS)
    assert h.kinds("late")[-1] is EventKind.EXPIRED
    assert h.kinds("gtc") == [EventKind.ACCEPTED]


# ---------------------------------------------------------------- rejects


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"iid": "MSFT"}, "unknown instrument"),
        ({"account": "B"}, "unknown account"),
        ({"qty": 0}, "quantity=0: must be a positive whole number"),
        ({"qty": -5}, "quantity=-5: must be a positive whole number"),
        ({"qty": 1.5}, "quantity=1.5: must be a positive whole number"),
        ({"limit": "150.005"}, "limit_price=Decimal('150.005'): not on the tick 0.01"),
        ({"iid": PUT.id, "qty": 1, "limit": "3.12"}, "limit_price=Decimal('3.12'): not on the tick 0.05"),
        ({"limit": "-1.00"}, "limit_price=Decimal('-1.00'): a limit order needs a positive Decimal price"),
    ],
)
def test_rejects(kwargs, reason):
    h = Harness()
    h.quote(STOCK.id, 150.00, 150.02)
    h.submit("r1", **kwargs)
    assert [(e.kind, e.reason, e.error) for e in h.of("r1")] == [(EventKind.REJECTED, reason, ErrorClass.PERMANENT)]
    assert h.venue.rejects == 1
    assert h.venue.open_orders() == []
    assert h.venue.account_snapshot("A").cash == D("100000")
    status = h.venue.order_status("r1")  # the refusal is on record, and the id is used up
    assert (status.status, status.reason, status.venue_order_id) == (OrderStatus.REJECTED, reason, "")
    assert h.venue.executions("r1") == []


def test_limit_order_without_price_is_rejected():
    h = Harness()
    h.venue.submit(Order("r1", "A", STOCK.id, Side.BUY, 10, OrderType.LIMIT, None))
    assert h.of("r1")[0].kind is EventKind.REJECTED
    assert h.of("r1")[0].reason.startswith("limit_price=None")


def test_duplicate_client_order_id_is_rejected_and_the_first_order_untouched():
    h = Harness()
    h.submit("b1", Side.BUY, 100, limit="100.00")
    h.submit("b1", Side.SELL, 5, limit="200.00")
    assert [(e.kind, e.reason) for e in h.of("b1")] == [
        (EventKind.ACCEPTED, ""),
        (EventKind.REJECTED, DUPLICATE_ORDER_REASON),
    ]
    (working,) = h.venue.open_orders()
    assert (working.side, working.quantity, working.limit_price) == (Side.BUY, 100, D("100.00"))
    h.quote(STOCK.id, 99.00, 100.00)
    assert h.fills("b1")[0].side is Side.BUY


def test_short_put_needs_cash_to_secure_it():
    h = Harness(cash=D("30000"))
    h.submit("p1", Side.SELL, 1, iid=PUT.id, limit="2.50")  # needs 20,000
    assert h.kinds("p1") == [EventKind.ACCEPTED]
    assert h.venue.account_snapshot("A").reserved_cash == D("20000")
    h.submit("p2", Side.SELL, 1, iid=PUT.id, limit="2.50")  # 10,000 free < 20,000
    assert [(e.kind, e.reason) for e in h.of("p2")] == [(EventKind.REJECTED, "insufficient cash to secure put")]
    h.venue.cancel("p1")
    h.submit("p3", Side.SELL, 1, iid=PUT.id, limit="2.50")
    assert h.kinds("p3") == [EventKind.ACCEPTED]


def test_selling_puts_you_own_needs_no_collateral():
    h = Harness(D("0"), {PUT.id: 2})
    h.submit("p1", Side.SELL, 2, iid=PUT.id, limit="2.50")
    assert h.kinds("p1") == [EventKind.ACCEPTED]
    h.submit("p2", Side.SELL, 1, iid=PUT.id, limit="2.50")  # would go short
    assert h.of("p2")[0].reason == "insufficient cash to secure put"


def test_orders_in_an_expired_option_are_rejected():
    h = Harness()
    h.clock.advance_to(EXPIRY_NS)
    h.submit("p1", Side.BUY, 1, iid=PUT.id, limit="1.00")
    assert h.of("p1")[0].reason == "option expired"


def test_submit_before_handler_is_set_is_a_wiring_error():
    venue = PaperVenue(TestClock(T0), InstrumentRegistry([STOCK]), FakeQuotes(), PaperVenueConfig())
    with pytest.raises(RuntimeError):
        venue.submit(Order("x", "A", STOCK.id, Side.BUY, 1, OrderType.MARKET))


def test_the_oms_order_object_is_never_touched_or_kept():
    h = Harness()
    order = h.submit("b1", Side.BUY, 100, limit="100.00")
    order.quantity = 5
    order.limit_price = D("999.00")
    h.quote(STOCK.id, 99.00, 100.00, 100, 500)
    assert h.fills("b1")[0].quantity == 100
    assert (order.status, order.filled_qty, order.venue_order_id) == (OrderStatus.SUBMITTED, 0, None)


# ---------------------------------------------------------------- accounts


def test_account_cash_equals_fills_and_commissions_exactly():
    h = Harness(cash=D("100000"))
    h.quote(STOCK.id, 150.00, 150.03, 70, 70)
    h.submit("b1", Side.BUY, 101)
    h.quote(STOCK.id, 150.01, 150.07, 70, 70)
    h.submit("s1", Side.SELL, 33)
    h.quote(PUT.id, 2.45, 2.55, 10, 10)
    h.submit("p1", Side.SELL, 3, iid=PUT.id)
    fills = [e.fill for _, e in h.events if e.fill is not None]
    multiplier = {STOCK.id: 1, PUT.id: 100}
    expected = D("100000") - sum(
        f.side.sign * f.quantity * f.price * multiplier[f.instrument_id] + f.commission for f in fills
    )
    snap = h.venue.account_snapshot("A")
    assert snap.cash == expected
    assert snap.positions == {STOCK.id: 101 - 33, PUT.id: -3}
    assert snap.reserved_cash == D("60000")
    assert snap.free_cash == expected - D("60000")
    assert sum(f.commission for f in h.fills("b1")) == commission(STOCK, 101, D("150.03"))


def test_open_and_load_account_validate_everything_first():
    h = Harness()
    with pytest.raises(InvalidInput) as err:
        h.venue.open_account("A", D("1"))
    assert err.value.field == "account"
    with pytest.raises(InvalidInput) as err:
        h.venue.open_account("B", 1000.0)
    assert err.value.field == "cash"
    with pytest.raises(InvalidInput) as err:
        h.venue.open_account("B", D("-1"))
    assert err.value.field == "cash"
    with pytest.raises(InvalidInput) as err:
        h.venue.load_account("B", D("5"), {STOCK.id: 10, "MSFT": 3})
    assert (err.value.field, err.value.value) == ("positions", "MSFT")
    with pytest.raises(InvalidInput) as err:
        h.venue.load_account("B", D("5"), {STOCK.id: 1.5})
    assert err.value.field == f"positions[{STOCK.id}]"
    with pytest.raises(InvalidInput) as err:
        h.venue.load_account("B", D("NaN"), {})
    assert err.value.field == "cash"
    with pytest.raises(InvalidInput) as err:
        h.venue.account_snapshot("B")
    assert err.value.field == "account"
    assert not h.venue.has_account("B")  # nothing half-applied
    assert h.venue.load_account("B", D("5000.50"), {STOCK.id: 10, PUT.id: 0}) is True
    snap = h.venue.account_snapshot("B")
    assert (snap.cash, snap.positions) == (D("5000.50"), {STOCK.id: 10})


def test_load_account_never_overrides_what_the_venue_has():
    """The venue's records are its truth: seeding an account it knows changes nothing."""
    h = Harness()
    h.quote(STOCK.id, 150.00, 150.02)
    h.submit("b1", Side.BUY, 10)
    before = h.venue.account_snapshot("A")
    assert h.venue.has_account("A")
    assert h.venue.load_account("A", D("1"), {PUT.id: -5}) is False
    assert h.venue.account_snapshot("A") == before


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"ack_latency_ms": -1}, "ack_latency_ms"),
        ({"session_close_utc_hour": 24}, "session_close_utc_hour"),
        ({"faults": {"drop_ack_rate": 1.5}}, "faults.drop_ack_rate"),
        ({"commissions": "cheap"}, "commissions"),
    ],
)
def test_config_rejects_bad_values(kwargs, field):
    with pytest.raises(ValidationError) as err:
        PaperVenueConfig(**kwargs)
    assert ".".join(map(str, err.value.errors()[0]["loc"])) == field


@pytest.mark.parametrize(("kwargs", "field"), [({"id_prefix": ""}, "id_prefix"), ({"store_synchronous": "SOMETIMES"},
                                                "store_synchronous")])  # fmt: skip
def test_venue_refuses_bad_settings_naming_them(kwargs, field):
    with pytest.raises(InvalidInput) as err:
        PaperVenue(TestClock(T0), InstrumentRegistry([STOCK]), FakeQuotes(), **kwargs)
    assert err.value.field == field


def test_paper_venue_is_a_broker():
    assert isinstance(Harness().venue, Broker)


# ---------------------------------------------------------------- queries


def test_order_status_and_executions_tell_every_state_with_its_reason():
    h = Harness()
    h.quote(STOCK.id, 150.00, 150.02, 100, 100)
    h.submit("part", Side.BUY, 300)
    h.submit("rest", Side.BUY, 100, limit="140.00")
    h.submit("gone", Side.BUY, 100, limit="140.00")
    h.venue.cancel("gone")
    h.quote(STOCK.id, 150.01, 150.03, 100, 100)
    assert h.venue.order_status("nobody") is None
    part = h.venue.order_status("part")
    assert (part.status, part.filled_qty, part.remaining, part.reason) == (OrderStatus.PARTIALLY_FILLED, 200, 100, "")
    assert (part.venue_order_id, part.ts_accepted, part.limit_price) == ("P1-000001", T0, None)
    assert h.venue.order_status("rest").status is OrderStatus.ACCEPTED
    gone = h.venue.order_status("gone")
    assert (gone.status, gone.reason) == (OrderStatus.CANCELED, "cancel requested")
    assert [f.fill_id for f in h.venue.executions("part")] == [f.fill_id for f in h.fills("part")]
    assert [f.quantity for f in h.venue.executions("part")] == [100, 100]
    assert h.venue.executions("rest") == []
    assert [o.client_order_id for o in h.venue.open_orders()] == ["part", "rest"]
    with pytest.raises(InvalidInput):
        h.venue.order_status(None)
    with pytest.raises(InvalidInput):
        h.venue.executions(7)


def test_executions_are_oldest_first_and_include_settlements():
    h = Harness()
    h.quote(PUT.id, 2.45, 2.55, 10, 10)
    h.submit("p1", Side.SELL, 1, iid=PUT.id)
    h.quote(STOCK.id, 195.00, 195.02)
    h.submit("s1", Side.BUY, 5)
    h.clock.advance_to(EXPIRY_NS)
    fills = h.venue.executions()
    assert [f.client_order_id for f in fills] == ["p1", "s1", f"settle:A:{PUT.id}", f"settle:A:{PUT.id}"]
    assert [f.liquidity for f in fills[2:]] == ["X", "X"]
    assert fills == sorted(fills, key=lambda f: f.fill_id)
    assert h.venue.executions(f"settle:A:{PUT.id}") == fills[2:]
    fills.clear()  # a copy: the venue's record is not exposed
    assert len(h.venue.executions()) == 4


# ---------------------------------------------------------------- option expiry


def test_otm_short_put_expires_worthless():
    h = Harness()
    h.quote(PUT.id, 2.45, 2.55, 10, 10)
    h.submit("p1", Side.SELL, 2, iid=PUT.id)
    h.submit("g1", Side.BUY, 1, iid=CALL.id, limit="1.00", tif=TimeInForce.GTC)
    cash_before = h.venue.account_snapshot("A").cash
    h.quote(STOCK.id, 210.00, 210.02)
    h.clock.advance_to(EXPIRY_NS - 1)
    assert h.settlements == []
    h.clock.advance_to(EXPIRY_NS)
    (settlement,) = h.settlements
    assert (settlement.account, settlement.reason, settlement.ts_event) == ("A", "expired worthless", EXPIRY_NS)
    (close,) = settlement.fills
    assert (close.instrument_id, close.side, close.quantity, close.price, close.commission, close.liquidity) == (
        PUT.id,
        Side.BUY,
        2,
        D(0),
        D(0),
        "X",
    )
    snap = h.venue.account_snapshot("A")
    assert (snap.positions, snap.cash, snap.reserved_cash) == ({}, cash_before, D(0))
    assert [(e.kind, e.reason) for e in h.of("g1")][-1] == (EventKind.EXPIRED, "option expired")


@pytest.mark.parametrize(
    ("option", "position", "underlying", "reason", "stock_side"),
    [
        (PUT, -2, 190.00, "assigned", Side.BUY),
        (PUT, 2, 190.00, "exercised", Side.SELL),
        (CALL, -2, 210.00, "assigned", Side.SELL),
        (CALL, 2, 210.00, "exercised", Side.BUY),
    ],
)
def test_itm_options_deliver_stock_at_the_strike(option, position, underlying, reason, stock_side):
    h = Harness(D("50000"), {option.id: position, STOCK.id: 200})
    h.quote(STOCK.id, underlying - 0.01, underlying + 0.01)
    h.clock.advance_to(EXPIRY_NS)
    (settlement,) = h.settlements
    assert settlement.reason == reason
    close, stock = settlement.fills
    assert (close.instrument_id, close.quantity, close.price) == (option.id, 2, D(0))
    assert (stock.instrument_id, stock.side, stock.quantity, stock.price) == (STOCK.id, stock_side, 200, D("200"))
    snap = h.venue.account_snapshot("A")
    assert snap.positions == ({STOCK.id: 400} if stock_side is Side.BUY else {})
    assert snap.cash == D("50000") - stock_side.sign * 200 * D("200")


def test_short_put_assigned_after_trading_creates_the_stock_position():
    h = Harness()
    h.quote(PUT.id, 2.45, 2.55, 10, 10)
    h.submit("p1", Side.SELL, 1, iid=PUT.id)
    cash_after_sale = h.venue.account_snapshot("A").cash
    assert cash_after_sale == D("100000") + D("245") - D("1.00")
    h.quote(STOCK.id, 195.00, 195.02)
    h.clock.advance_to(EXPIRY_NS)
    assert h.settlements[0].reason == "assigned"
    snap = h.venue.account_snapshot("A")
    assert snap.positions == {STOCK.id: 100}
    assert snap.cash == cash_after_sale - D("20000")
    assert snap.reserved_cash == D(0)


def test_expiry_waits_for_an_underlying_quote_before_settling():
    """Just after a restart there may be no quote yet: judge in/out of the money on the first one."""
    h = Harness(D("50000"), {PUT.id: -1})
    h.clock.advance_to(EXPIRY_NS)
    assert h.settlements == []
    h.quote(STOCK.id, 195.00, 195.02)  # below the 200 strike: the short put is assigned
    h.clock.advance(EXPIRY_QUOTE_RETRY_NS)
    assert [s.reason for s in h.settlements] == ["assigned"]
    assert h.venue.account_snapshot("A").positions == {STOCK.id: 100}


def test_expiry_without_any_underlying_quote_settles_worthless_in_the_end():
    h = Harness(D("50000"), {PUT.id: -1})
    h.clock.advance_to(EXPIRY_NS + EXPIRY_QUOTE_RETRIES * EXPIRY_QUOTE_RETRY_NS)
    assert [s.reason for s in h.settlements] == ["expired worthless"]
    assert h.venue.account_snapshot("A").positions == {}


# ---------------------------------------------------------------- property


_order = st.tuples(
    st.just("order"),
    st.sampled_from([STOCK, PUT]),
    st.sampled_from(list(Side)),
    st.integers(1, 300),
    st.one_of(st.none(), st.integers(-30, 30)),  # None: market; else limit offset from mid in cents
    st.sampled_from(list(TimeInForce)),
)
_quote = st.tuples(
    st.just("quote"),
    st.sampled_from([STOCK, PUT]),
    st.integers(-50, 50),  # mid move in cents
    st.integers(1, 10),  # spread in cents
    st.integers(0, 200),
    st.integers(0, 200),
)
_cancel = st.tuples(st.just("cancel"), st.integers(0, 40))
_advance = st.tuples(st.just("advance"), st.one_of(st.integers(0, 10), st.integers(0, 3 * 3600 * 1000)))  # ms
_actions = st.lists(st.one_of(_order, _quote, _order, _quote, _cancel, _advance), min_size=5, max_size=40)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_actions, st.sampled_from([0, 1]), st.sampled_from([0, 3]))  # ms
def test_random_flows_never_overfill_and_cash_stays_exact(actions, ack, fill_latency):
    h = Harness(cash=D("60000"), ack_latency_ms=ack, fill_latency_ms=fill_latency)
    mids = {STOCK.id: 20000, PUT.id: 300}  # cents
    submitted: dict[str, Order] = {}
    h.quote(STOCK.id, 199.99, 200.01)
    h.quote(PUT.id, 2.95, 3.05)
    for action in actions:
        if action[0] == "order":
            _, inst, side, qty, offset, tif = action
            qty = qty if inst is STOCK else qty % 4 + 1
            limit = None
            if offset is not None:
                limit = str(round_to_tick(inst, D(max(5, mids[inst.id] + offset)) / 100))
            cid = f"o{len(submitted)}"
            submitted[cid] = h.submit(cid, side, qty, iid=inst.id, limit=limit, tif=tif)
        elif action[0] == "quote":
            _, inst, move, spread, bid_size, ask_size = action
            mids[inst.id] = max(10, mids[inst.id] + move)
            bid = round_to_tick(inst, D(mids[inst.id]) / 100, Side.BUY)
            h.quote(inst.id, float(bid), float(bid + spread * inst.tick_size(bid)), bid_size, ask_size)
        elif action[0] == "cancel":
            h.venue.cancel(f"o{action[1] % len(submitted)}" if submitted else "ghost")
        else:
            h.clock.advance(action[1] * MS)
    h.clock.run_until_idle()  # deliver everything, including expiries and settlements

    terminal = {EventKind.REJECTED, EventKind.CANCELED, EventKind.EXPIRED}
    order_fills = []
    for cid, order in submitted.items():
        events = h.of(cid)
        assert events[0].kind in (EventKind.ACCEPTED, EventKind.REJECTED)
        fills = [e.fill for e in events if e.kind is EventKind.FILL]
        filled = sum(f.quantity for f in fills)
        assert filled <= order.quantity
        ends = [i for i, e in enumerate(events) if e.kind in terminal]
        if filled == order.quantity:
            assert not ends
        if ends:
            assert all(e.kind is EventKind.CANCEL_REJECTED for e in events[ends[0] + 1 :])
        inst = PUT if order.instrument_id == PUT.id else STOCK
        value = sum(f.price * f.quantity * inst.multiplier for f in fills)
        assert sum(f.commission for f in fills) == IBKR_FIXED.order_total(inst, filled, value)
        order_fills += fills
    all_fills = order_fills + [f for s in h.settlements for f in s.fills]
    multiplier = {STOCK.id: 1, PUT.id: 100}
    expected_cash = D("60000") - sum(
        (f.side.sign * f.quantity * f.price * multiplier[f.instrument_id] + f.commission for f in all_fills), D(0)
    )
    snap = h.venue.account_snapshot("A")
    assert snap.cash == expected_cash
    positions: dict[str, int] = {}
    for f in all_fills:
        positions[f.instrument_id] = positions.get(f.instrument_id, 0) + f.side.sign * f.quantity
    assert snap.positions == {k: v for k, v in positions.items() if v}
    assert h.venue.fills_emitted == len(order_fills)


def test_ids_differ_between_venue_sessions():
    """A restarted venue must not reuse fill ids: the order manager drops a fill id it has seen."""
    first, second = Harness(), Harness(id_prefix="P2")
    for h in (first, second):
        h.quote(STOCK.id, 150.00, 150.02, 500, 500)
        h.submit("b1", Side.BUY, 100)
    fill_a = next(e.fill for e in first.of("b1") if e.fill is not None)
    fill_b = next(e.fill for e in second.of("b1") if e.fill is not None)
    assert fill_a.fill_id != fill_b.fill_id
    assert first.of("b1")[0].venue_order_id != second.of("b1")[0].venue_order_id
