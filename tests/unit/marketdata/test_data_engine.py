import logging
import math
from datetime import date
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alluse.common.clock import TestClock
from alluse.marketdata import DataEngine, QuoteCache, RejectReason
from alluse.model import Equity, InvalidInput, Option, Quote, Right
from alluse.model.registry import InstrumentRegistry

AAPL = Equity("AAPL")
MSFT = Equity("MSFT")
PUT = Option("AAPL", date(2026, 1, 16), Decimal(150), Right.PUT)
CALL = Option("AAPL", date(2026, 1, 16), Decimal(200), Right.CALL)


class Rig:
    """An engine with a recorder on every instrument and on subscribe_all."""

    def __init__(self, option_capacity: int = 10) -> None:
        self.clock = TestClock(1_000)
        self.registry = InstrumentRegistry([AAPL, MSFT, PUT, CALL])
        self.cache = QuoteCache(
            self.clock, ttl_ns=10**9, option_capacity=option_capacity, is_option=self.registry.is_option
        )
        self.engine = DataEngine(self.registry, self.cache, self.clock)
        self.seen: list[tuple[str, Quote]] = []
        for instrument in self.registry:
            self.engine.subscribe(instrument.id, lambda q, iid=instrument.id: self.seen.append((iid, q)))
        self.engine.subscribe_all(lambda q: self.seen.append(("*", q)))

    def delivered(self) -> list[Quote]:
        return [q for who, q in self.seen if who != "*"]


def good(iid: str = "AAPL", ts: int = 100, bid: float = 10.0, ask: float = 10.05) -> Quote:
    return Quote(iid, bid, ask, 5, 7, ts, ts)


def bad(**changes: object) -> Quote:
    q = good()
    for name, value in changes.items():
        setattr(q, name, value)
    return q


def test_good_quote_is_cached_and_fanned_out_instrument_first_then_all() -> None:
    rig = Rig()
    q = good()
    rig.engine.on_quote(q)
    assert rig.cache.get("AAPL") is q
    assert rig.seen == [("AAPL", q), ("*", q)]
    assert rig.engine.accepted == 1 and rig.engine.rejected_total == 0
    assert rig.engine.last_accept_ns == 1_000


@pytest.mark.parametrize(
    ("quote", "reason"),
    [
        (bad(bid=math.nan), RejectReason.NAN_OR_INF),
        (bad(ask=math.nan), RejectReason.NAN_OR_INF),
        (bad(ask=math.inf), RejectReason.NAN_OR_INF),
        (bad(bid=-math.inf), RejectReason.NAN_OR_INF),
        (bad(bid_size=math.inf), RejectReason.NAN_OR_INF),
        (bad(ask_size=math.nan), RejectReason.NAN_OR_INF),
        (bad(bid=0.0), RejectReason.NON_POSITIVE_PRICE),
        (bad(bid=-1.0, ask=-0.5), RejectReason.NON_POSITIVE_PRICE),
        (bad(bid_size=-1), RejectReason.NEGATIVE_SIZE),
        (bad(ask_size=-3), RejectReason.NEGATIVE_SIZE),
        (bad(bid=10.10, ask=10.05), RejectReason.CROSSED),
        (bad(instrument_id="ZZZZ"), RejectReason.UNKNOWN_INSTRUMENT),
        (bad(instrument_id=None), RejectReason.UNKNOWN_INSTRUMENT),
        (bad(bid="10.0"), RejectReason.MALFORMED),
        (bad(ask_size=None), RejectReason.MALFORMED),
        (bad(ask_size=100.0), RejectReason.MALFORMED),
        (bad(bid=True), RejectReason.MALFORMED),
        (bad(ask=np.float32(10.05)), RejectReason.MALFORMED),
        (bad(bid=10), RejectReason.MALFORMED),
        (bad(bid_size=np.int64(100)), RejectReason.MALFORMED),
        (bad(ts_event=100.0), RejectReason.MALFORMED),
        (bad(ts_recv=np.int64(100)), RejectReason.MALFORMED),
        (bad(ts_event="100"), RejectReason.MALFORMED),
        (bad(ts_event=-1), RejectReason.MALFORMED),
        (bad(ts_event=math.nan), RejectReason.MALFORMED),
        (bad(ts_event=2**63), RejectReason.MALFORMED),
        (bad(ts_recv=None), RejectReason.MALFORMED),
        (bad(ts_recv=-1), RejectReason.MALFORMED),
        (bad(ts_recv=2**70), RejectReason.MALFORMED),
    ],
    ids=lambda x: repr(x) if isinstance(x, RejectReason) else None,
)
def test_each_bad_quote_is_dropped_and_counted_by_reason(quote: Quote, reason: RejectReason) -> None:
    rig = Rig()
    rig.engine.on_quote(quote)
    assert rig.engine.rejected == {r: int(r is reason) for r in RejectReason}
    assert rig.engine.rejected_total == 1 and rig.engine.accepted == 0
    assert len(rig.cache) == 0
    assert rig.seen == []
    assert rig.engine.last_accept_ns is None
    assert rig.engine.classify(quote)[0] is reason


def test_out_of_order_is_dropped_and_keeps_the_earlier_quote() -> None:
    rig = Rig()
    first = good(ts=200)
    rig.engine.on_quote(first)
    rig.engine.on_quote(good(ts=199, bid=11.0, ask=11.1))
    assert rig.engine.rejected[RejectReason.OUT_OF_ORDER] == 1
    assert rig.engine.rejected_total == 1 and rig.engine.accepted == 1
    assert rig.cache.get("AAPL") is first
    assert rig.delivered() == [first]
    later = good(ts=200, bid=10.5, ask=10.5)  # equal ts and a locked market are both fine
    rig.engine.on_quote(later)
    assert rig.cache.get("AAPL") is later and rig.engine.accepted == 2


def test_timestamps_are_per_instrument() -> None:
    rig = Rig()
    rig.engine.on_quotes([good("AAPL", ts=500), good("MSFT", ts=100)])
    assert rig.engine.accepted == 2


def test_a_good_quote_after_a_bad_one_in_the_same_batch_goes_through() -> None:
    rig = Rig()
    ok = good("MSFT", ts=10)
    rig.engine.on_quotes([bad(bid=math.nan), ok, bad(instrument_id="NOPE")])
    assert rig.delivered() == [ok]
    assert rig.engine.accepted == 1 and rig.engine.rejected_total == 2
    assert rig.engine.rejected[RejectReason.NAN_OR_INF] == 1
    assert rig.engine.rejected[RejectReason.UNKNOWN_INSTRUMENT] == 1


def test_out_of_order_within_one_batch_is_dropped() -> None:
    rig = Rig()
    a, b, c = good(ts=300), good(ts=299), good(ts=301)
    rig.engine.on_quotes([a, b, c])
    assert rig.delivered() == [a, c]
    assert rig.engine.rejected[RejectReason.OUT_OF_ORDER] == 1
    assert rig.cache.get("AAPL") is c


def test_lru_eviction_does_not_forget_the_last_timestamp() -> None:
    rig = Rig(option_capacity=1)
    rig.engine.on_quote(good(PUT.id, ts=500, bid=1.0, ask=1.1))
    rig.engine.on_quote(good(CALL.id, ts=10, bid=2.0, ask=2.1))  # evicts PUT's quote
    assert PUT.id not in rig.cache and rig.cache.evictions == 1
    rig.engine.on_quote(good(PUT.id, ts=400, bid=1.0, ask=1.1))
    assert rig.engine.rejected[RejectReason.OUT_OF_ORDER] == 1
    assert PUT.id not in rig.cache


def test_a_raising_handler_does_not_break_the_pipeline(caplog: pytest.LogCaptureFixture) -> None:
    rig = Rig()
    got: list[Quote] = []

    def boom(q: Quote) -> None:
        raise RuntimeError("strategy bug")

    rig.engine.subscribe("AAPL", boom)
    rig.engine.subscribe("AAPL", got.append)
    quotes = [good(ts=1), good(ts=2), good("MSFT", ts=3)]
    with caplog.at_level(logging.DEBUG, logger="alluse.marketdata.engine"):
        rig.engine.on_quotes(quotes)
    assert got == quotes[:2]
    assert rig.engine.handler_errors == 2 and rig.engine.accepted == 3
    assert [q for who, q in rig.seen if who == "*"] == quotes  # subscribe_all still ran for every quote
    failures = [r for r in caplog.records if "failed" in r.getMessage()]
    assert [r.levelno for r in failures] == [logging.ERROR, logging.DEBUG]
    assert failures[0].exc_info is not None and "strategy bug" in str(failures[0].exc_info[1])


def test_first_rejection_of_each_reason_warns_and_the_rest_are_debug(caplog: pytest.LogCaptureFixture) -> None:
    rig = Rig()
    with caplog.at_level(logging.DEBUG, logger="alluse.marketdata.engine"):
        rig.engine.on_quotes([bad(bid=math.nan), bad(ask=math.inf), bad(bid_size=-1)])
    levels = [(r.levelno, "nan_or_inf" in r.getMessage()) for r in caplog.records]
    assert levels == [(logging.WARNING, True), (logging.DEBUG, True), (logging.WARNING, False)]
    assert "bid=nan" in caplog.records[0].getMessage()


def test_subscriptions() -> None:
    rig = Rig()
    got: list[Quote] = []
    with pytest.raises(InvalidInput) as err:
        rig.engine.subscribe("NOPE", got.append)
    assert err.value.field == "instrument_id"
    rig.engine.subscribe("MSFT", got.append)
    rig.engine.subscribe("MSFT", got.append)  # twice is once
    rig.engine.on_quote(good("MSFT", ts=1))
    assert len(got) == 1
    rig.engine.unsubscribe("MSFT", got.append)
    rig.engine.unsubscribe("MSFT", got.append)  # unknown handler: no-op
    rig.engine.on_quote(good("MSFT", ts=2))
    assert len(got) == 1


def test_handler_may_unsubscribe_during_fan_out() -> None:
    rig = Rig()
    got: list[Quote] = []

    def once(q: Quote) -> None:
        got.append(q)
        rig.engine.unsubscribe_all(once)

    rig.engine.subscribe_all(once)
    rig.engine.on_quotes([good(ts=1), good(ts=2)])
    assert len(got) == 1 and rig.engine.handler_errors == 0


def test_snapshot() -> None:
    rig = Rig()
    rig.engine.on_quotes([good(ts=1), bad(bid=0.0)])
    snap = rig.engine.snapshot()
    assert snap["accepted"] == 1 and snap["rejected_total"] == 1 and snap["rejected_non_positive_price"] == 1
    assert snap["rejected_crossed"] == 0 and snap["handler_errors"] == 0


# ---------------------------------------------------------------------------- property

IDS = ["AAPL", "MSFT", PUT.id, CALL.id, "UNKNOWN"]
prices = st.one_of(
    st.floats(min_value=0.01, max_value=500.0),
    st.sampled_from([0.0, -1.0, math.nan, math.inf, -math.inf]),
)
sizes = st.one_of(
    st.integers(min_value=0, max_value=1000), st.sampled_from([-1, math.nan, math.inf, 100.0, np.int64(100), True])
)
quotes_st = st.builds(
    lambda iid, bid, ask, bs, asz, ts: Quote(iid, bid, ask, bs, asz, ts, ts),
    st.sampled_from(IDS),
    prices,
    prices,
    sizes,
    sizes,
    st.integers(min_value=-5, max_value=40),
)


def oracle(quotes: list[Quote]) -> list[Quote]:
    """The quotes that should be accepted, worked out independently of the engine."""
    last: dict[str, int] = {}
    out = []
    for q in quotes:
        numbers = (q.bid, q.ask, q.bid_size, q.ask_size)
        if (
            q.instrument_id != "UNKNOWN"
            and all(math.isfinite(x) for x in numbers)
            and q.bid > 0
            and q.ask > 0
            and isinstance(q.bid, float)  # prices are floats, sizes whole numbers as Python ints
            and isinstance(q.ask, float)
            and type(q.bid_size) is int
            and type(q.ask_size) is int
            and q.bid_size >= 0
            and q.ask_size >= 0
            and q.bid <= q.ask
            and q.ts_event >= max(0, last.get(q.instrument_id, 0))
        ):
            last[q.instrument_id] = q.ts_event
            out.append(q)
    return out


@settings(max_examples=200, deadline=None)
@given(st.lists(quotes_st, max_size=40), st.integers(min_value=1, max_value=7))
def test_engine_never_caches_or_fans_out_an_invalid_quote(quotes: list[Quote], batch: int) -> None:
    expected = oracle(quotes)
    for per_quote in (False, True):
        rig = Rig(option_capacity=1)
        if per_quote:
            for q in quotes:
                rig.engine.on_quote(q)
        else:
            for i in range(0, len(quotes), batch):
                rig.engine.on_quotes(quotes[i : i + batch])
        assert rig.delivered() == expected
        assert [q for who, q in rig.seen if who == "*"] == expected
        assert rig.engine.accepted == len(expected)
        assert rig.engine.accepted + rig.engine.rejected_total == len(quotes)
        for iid in IDS:
            cached = rig.cache.get(iid)
            mine = [q for q in expected if q.instrument_id == iid]
            if iid in (PUT.id, CALL.id) and cached is None:
                continue  # evicted from the one-slot option LRU
            assert cached is (mine[-1] if mine else None)
