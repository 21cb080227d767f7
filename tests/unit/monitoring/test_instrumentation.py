"""Each component's metrics(): names, kinds, labels and values that follow what the component did."""

import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from alluse.app.config import AccountConfig, Config
from alluse.app.kernel import build_kernel
from alluse.brokers.paper import PaperVenue, PaperVenueConfig
from alluse.common.clock import TestClock, datetime_to_ns
from alluse.common.metrics import HistogramSnapshot, Metric, MetricKind
from alluse.execution.journal import Journal
from alluse.marketdata import DataEngine, QuoteCache, RejectReason
from alluse.marketdata.engine import FEED_LATENCY_SAMPLE_EVERY
from alluse.model import Equity, Fill, Order, OrderType, Quote, Side
from alluse.model.events import EventKind, OrderEvent
from alluse.model.registry import InstrumentRegistry
from alluse.risk.denial import DenyReason
from alluse.strategies.config import StrategyConfig

MS = 1_000_000
T0 = datetime_to_ns(datetime(2026, 1, 5, 14, 30, tzinfo=UTC))  # a Monday, mid-session
C, G, H = MetricKind.COUNTER, MetricKind.GAUGE, MetricKind.HISTOGRAM


def by_series(metrics) -> dict[str, Metric]:
    out: dict[str, Metric] = {}
    for m in metrics:
        assert m.series not in out, f"{m.series} reported twice"
        out[m.series] = m
    return out


def check_conventions(readings: dict[str, Metric]) -> None:
    for m in readings.values():
        assert m.name.startswith("alluse_"), m.name
        assert m.name.endswith("_total") == (m.kind is C), m.name
        assert (m.kind is H) == m.name.endswith("_seconds") and (m.kind is H) == isinstance(
            m.value, HistogramSnapshot
        ), m.name
        assert m.help, m.name


# ---------------------------------------------------------------------------- market data


def quote(iid: str, ts: int, bid: float = 10.0) -> Quote:
    return Quote(iid, bid, bid + 0.05, 5, 5, ts, ts)


@pytest.fixture
def md():
    clock = TestClock(T0)
    registry = InstrumentRegistry([Equity("AAPL"), Equity("MSFT")])
    cache = QuoteCache(clock, ttl_ns=1_000 * MS, option_capacity=4, is_option=registry.is_option)
    engine = DataEngine(registry, cache, clock)
    engine.subscribe("AAPL", lambda q: None)
    return clock, cache, engine


def test_data_engine_metrics_names_kinds_labels_and_values(md):
    _, _, engine = md
    engine.on_quotes([quote("AAPL", T0), quote("AAPL", T0 + 1, bid=-1.0), quote("ZZZ", T0)])
    engine.subscribe("MSFT", lambda q: 1 / 0)
    engine.on_quote(quote("MSFT", T0))
    r = by_series(engine.metrics())
    check_conventions(r)
    assert r['alluse_quotes_total{outcome="accepted"}'].value == 2
    assert r['alluse_quotes_rejected_total{reason="non_positive_price"}'].value == 1
    assert r['alluse_quotes_rejected_total{reason="unknown_instrument"}'].value == 1
    assert {k for k in r if k.startswith("alluse_quotes_rejected_total")} == {
        f'alluse_quotes_rejected_total{{reason="{reason.value}"}}' for reason in RejectReason
    }  # every reason present from the start, so rates exist before the first reject
    assert r["alluse_quote_handler_errors_total"].value == 1
    assert r["alluse_feed_latency_seconds"].kind is H


def test_feed_latency_times_exactly_every_64th_accepted_quote_across_batches_and_single_quotes(md):
    _, _, engine = md
    ts = T0
    sizes = [1, 63, 1, 100, 7, 200, 1, 1, 500]  # crosses the sampling boundary inside and between batches
    accepted = 0
    for size in sizes:
        batch = []
        for _ in range(size):
            ts += 1
            batch.append(quote("AAPL", ts))
        batch.append(quote("AAPL", T0 - 1))  # out of order: rejected, and not counted for sampling
        if size == 1:
            engine.on_quote(batch[0])
            engine.on_quote(batch[1])
        else:
            engine.on_quotes(batch)
        accepted += size
        assert engine.feed_latency.count == accepted // FEED_LATENCY_SAMPLE_EVERY
    assert engine.accepted == accepted == 874
    snap = engine.feed_latency.snapshot()
    assert snap.count == 13 and snap.sum_ns > 0


def test_feed_latency_switched_off_records_nothing_and_on_again_counts_afresh(md):
    clock, cache, engine = md
    engine.on_quotes([quote("AAPL", T0 + i) for i in range(40)])
    engine.instrument = False
    assert not engine.instrument
    engine.on_quotes([quote("AAPL", T0 + 40 + i) for i in range(200)])
    assert engine.feed_latency.count == 0 and engine.accepted == 240
    engine.instrument = True
    engine.on_quotes([quote("AAPL", T0 + 240 + i) for i in range(63)])
    assert engine.feed_latency.count == 0
    engine.on_quote(quote("AAPL", T0 + 303))
    assert engine.feed_latency.count == 1
    off = DataEngine(engine._registry, cache, clock, instrument=False)
    off.on_quotes([quote("MSFT", T0 + i) for i in range(200)])
    assert not off.instrument and off.feed_latency.count == 0


def test_feed_latency_sampling_works_for_unsized_batches(md):
    _, _, engine = md
    engine.on_quotes(quote("AAPL", T0 + i) for i in range(130))
    assert engine.feed_latency.count == 2 and engine.feed_latency.sum_ns > 0


def test_feed_latency_spans_the_batch_up_to_the_sampled_quote(md):
    _, _, engine = md
    # the sampled quote's fan-out waits behind a slow subscriber on the earlier quotes of its batch: the timed
    # span must enclose all of that subscriber's time (measured inside it, on the same clock), not just its own
    spent: list[int] = []

    def slow(q: Quote) -> None:
        t0 = time.perf_counter_ns()
        sum(range(2_000))
        spent.append(time.perf_counter_ns() - t0)

    engine.subscribe("MSFT", slow)
    engine.on_quotes([quote("MSFT", T0 + i) for i in range(FEED_LATENCY_SAMPLE_EVERY - 1)] + [quote("AAPL", T0)])
    assert len(spent) == FEED_LATENCY_SAMPLE_EVERY - 1
    assert engine.feed_latency.count == 1 and engine.feed_latency.sum_ns >= sum(spent)


def test_quote_cache_metrics(md):
    clock, cache, engine = md
    engine.on_quote(quote("AAPL", T0))
    cache.get("AAPL")
    cache.get_fresh("MSFT")
    clock.advance(2_000 * MS)
    cache.get_fresh("AAPL")
    r = by_series(cache.metrics())
    check_conventions(r)
    assert r["alluse_quote_cache_hits_total"].value == 1
    assert r["alluse_quote_cache_misses_total"].value == 1
    assert r["alluse_quote_cache_stale_reads_total"].value == 1
    assert r["alluse_quote_cache_evictions_total"].value == 0
    assert r['alluse_quote_cache_size{kind="equity"}'].value == 1
    assert r['alluse_quote_cache_size{kind="option"}'].value == 0
    assert r['alluse_quote_cache_capacity{kind="option"}'].value == 4


# ---------------------------------------------------------------------------- trading


class Trading:
    """The kernel's order path with a paper venue of 1 ms ack and 3 ms fill latency, on a TestClock. Account B
    is unknown to the venue (its orders are rejected there): the test builds the venue and seeds only A."""

    def __init__(self, tmp_path) -> None:
        self.clock = TestClock(T0)
        self.quotes: dict[str, Quote] = {}
        config = Config(accounts={a: AccountConfig(cash=Decimal(100_000)) for a in "AB"},
                        strategy=StrategyConfig(enabled=False, sleeves=[]))  # fmt: skip
        registry = InstrumentRegistry([Equity("AAPL")])
        self.venue = PaperVenue(self.clock, registry, self, PaperVenueConfig(ack_latency_ms=1, fill_latency_ms=3))
        self.venue.load_account("A", Decimal(100_000), {})
        kernel = build_kernel(config, self.clock, None, instruments=registry, feed=False,
                              journal=Journal(tmp_path / "j.db"), broker=self.venue)  # fmt: skip
        self.registry, self.ledger, self.risk, self.oms = kernel.registry, kernel.ledger, kernel.risk, kernel.oms
        kernel.recover()
        self.quotes["AAPL"] = quote = Quote("AAPL", 200.0, 200.02, 500, 500, T0, T0)
        kernel.engine.on_quotes([quote])

    def get(self, iid: str) -> Quote | None:
        return self.quotes.get(iid)

    def submit(self, qty: int = 10, limit: str | None = None, account: str = "A") -> Order:
        order = Order(
            self.oms.next_client_order_id(),
            account,
            "AAPL",
            Side.BUY,
            qty,
            order_type=OrderType.MARKET if limit is None else OrderType.LIMIT,
            limit_price=None if limit is None else Decimal(limit),
        )
        return self.oms.submit(order)


def test_order_manager_counts_outcomes_states_and_latencies_in_wall_time(tmp_path):
    t = Trading(tmp_path)
    t.oms.events.simulated_venue = False  # as with a real venue: what it and the process take is wall time
    wall0 = time.perf_counter_ns()
    t.submit()  # fills: ack after 1 ms, fill after 3 ms of simulated time
    resting = t.submit(limit="190.00")  # accepted, rests
    t.submit(account="B")  # venue rejects: permanent
    t.submit(qty=6_000)  # over max_order_shares: denied by risk
    t.clock.advance(10 * MS)
    wall = time.perf_counter_ns() - wall0
    r = by_series(t.oms.metrics())
    check_conventions(r)
    events = {k: m.value for k, m in r.items() if k.startswith("alluse_orders_total")}
    assert events == {
        'alluse_orders_total{event="submitted"}': 3,
        'alluse_orders_total{event="denied"}': 1,
        'alluse_orders_total{event="filled"}': 1,
        'alluse_orders_total{event="canceled"}': 0,
        'alluse_orders_total{event="rejected"}': 1,
        'alluse_orders_total{event="expired"}': 0,
    }
    assert r['alluse_open_orders{state="accepted"}'].value == 1
    assert r['alluse_open_orders{state="submitted"}'].value == 0
    assert r['alluse_oms_rejects_total{error_class="permanent"}'].value == 1
    assert r["alluse_orders_in_flight"].value == 0
    ack = r["alluse_order_ack_latency_seconds"].value
    fill = r["alluse_order_latency_seconds"].value
    # the filled and the resting order, in wall time: within what the test itself took, whatever the
    # simulated clock said (its 10 ms advance takes no real time)
    assert ack.count == 2 and 0 < ack.sum_ns <= 2 * wall
    assert fill.count == 1 and 0 < fill.sum_ns <= wall
    t.oms.cancel(resting.client_order_id)
    t.clock.advance(10 * MS)
    r = by_series(t.oms.metrics())
    assert r['alluse_orders_total{event="canceled"}'].value == 1
    assert r['alluse_open_orders{state="accepted"}'].value == 0


def test_a_late_fill_after_a_cancel_is_not_counted_as_a_second_outcome(tmp_path):
    t = Trading(tmp_path)
    order = t.submit(limit="190.00")
    t.clock.advance(5 * MS)
    t.oms.cancel(order.client_order_id)
    t.clock.advance(5 * MS)
    late = Fill(order.client_order_id, "A", "AAPL", Side.BUY, 10, Decimal("190.00"), Decimal("1.00"), T0, "LATE-1")
    t.oms.events.on_order_event(OrderEvent(EventKind.FILL, order.client_order_id, t.clock.now_ns(), fill=late))
    r = by_series(t.oms.metrics())
    assert t.oms.counters.late_fills == 1
    assert r['alluse_orders_total{event="canceled"}'].value == 1
    assert r['alluse_orders_total{event="filled"}'].value == 0
    assert r["alluse_order_latency_simulated_seconds"].value.count == 0  # the paper venue's: on the clock
    assert r["alluse_order_latency_seconds"].value.count == 0


def test_oms_reliability_counters_come_from_oms_counters(tmp_path):
    t = Trading(tmp_path)
    t.oms.counters.retries = 4
    t.oms.counters.transient_rejects = 3
    t.oms.counters.status_queries = 2
    t.oms.counters.reconnects = 1
    r = by_series(t.oms.metrics())
    assert r["alluse_oms_retries_total"].value == 4
    assert r['alluse_oms_rejects_total{error_class="transient"}'].value == 3
    assert r["alluse_oms_status_queries_total"].value == 2
    assert r["alluse_oms_reconnects_total"].value == 1


def test_risk_gate_counts_denials_by_reason(tmp_path):
    t = Trading(tmp_path)
    t.submit(qty=6_000)
    t.submit(qty=6_000)
    t.submit()
    r = by_series(t.risk.metrics())
    check_conventions(r)
    assert r["alluse_risk_checks_total"].value == 3
    assert r[f'alluse_risk_denials_total{{reason="{DenyReason.MAX_QUANTITY.value}"}}'].value == 2
    assert sum(m.value for k, m in r.items() if k.startswith("alluse_risk_denials_total")) == 2
    assert len([k for k in r if k.startswith("alluse_risk_denials_total")]) == len(DenyReason)


def test_paper_venue_connection_gauge_and_reconnects(tmp_path):
    t = Trading(tmp_path)
    t.submit()
    t.clock.advance(10 * MS)
    r = by_series(t.venue.metrics())
    check_conventions(r)
    assert r["alluse_broker_connected"].value == 1
    assert r['alluse_broker_orders_received_total{broker="paper"}'].value == 1
    assert r['alluse_broker_fills_total{broker="paper"}'].value == 1
    t.venue.disconnect(50 * MS)
    r = by_series(t.venue.metrics())
    assert r["alluse_broker_connected"].value == 0
    assert r['alluse_broker_disconnects_total{broker="paper"}'].value == 1
    assert r['alluse_broker_reconnects_total{broker="paper"}'].value == 0
    t.clock.advance(60 * MS)
    r = by_series(t.venue.metrics())
    assert r["alluse_broker_connected"].value == 1
    assert r['alluse_broker_reconnects_total{broker="paper"}'].value == 1


def test_ledger_metrics_per_account(tmp_path):
    t = Trading(tmp_path)
    t.submit()  # buys 10 at the ask 200.02, commission from the schedule
    t.clock.advance(10 * MS)
    r = by_series(t.ledger.metrics())
    check_conventions(r)
    assert set(r) == {
        f'alluse_account_{name}{{account="{a}"}}'
        for name in ("cash_usd", "realized_pnl_usd", "fills_total")
        for a in "AB"
    }
    assert r['alluse_account_cash_usd{account="A"}'].value == float(t.ledger.cash["A"]) < 100_000 - 2_000
    assert r['alluse_account_cash_usd{account="B"}'].value == 100_000
    assert r['alluse_account_fills_total{account="A"}'].value == 1
    assert r['alluse_account_realized_pnl_usd{account="A"}'].value == 0
