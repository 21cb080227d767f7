"""The collector: rates, interval percentiles, derived series, failures, its schedule; the resource sampler."""

import asyncio
import contextlib
import logging
import math
from decimal import Decimal

import pytest
from test_instrumentation import Trading as TradingRig
from test_instrumentation import quote

from alluse.common.metrics import MS, LatencyHistogram, Metric, MetricKind, counter, gauge, histogram
from alluse.marketdata import DataEngine, QuoteCache
from alluse.model import Fill, InvalidInput, Side
from alluse.monitoring.collector import (
    CACHE_HITS,
    CACHE_MISSES,
    CACHE_STALE_READS,
    ORDERS_ENDED,
    ORDERS_FILLED,
    ORDERS_REJECTED,
    ORDERS_SENT,
    QUOTES_ACCEPTED,
    SERIES_CACHE_HIT_RATIO,
    SERIES_DAILY_LOSS_USED,
    SERIES_EVENT_LOOP_LAG,
    SERIES_FILL_RATIO,
    SERIES_QUOTE_AGE,
    SERIES_STALE_QUOTE_RATIO,
    SERIES_TRADING_ERROR_RATIO,
    Collector,
)
from alluse.monitoring.resources import ResourceSampler
from alluse.portfolio import Ledger
from alluse.portfolio.valuation import LedgerValuation

ORDERS_CANCELLED = 'alluse_orders_total{event="cancelled"}'
assert ORDERS_CANCELLED in ORDERS_ENDED

S = 1_000_000_000
T0 = 1_800_000_000 * S


class Source:
    """A source whose readings the test sets; `fail` makes metrics() raise."""

    def __init__(self, **counters: float) -> None:
        self.counters = dict(counters)
        self.gauges: dict[str, float] = {}
        self.hist = LatencyHistogram()
        self.fail = False

    def metrics(self):
        if self.fail:
            raise RuntimeError("source broke")
        for name, value in self.counters.items():
            yield counter(name, "c", value)
        for name, value in self.gauges.items():
            yield gauge(name, "g", value)
        yield histogram("test_latency_seconds", "h", self.hist)


def values(samples) -> dict[str, float]:
    out = {}
    for s in samples:
        assert s.series not in out, s.series
        out[s.series] = s.value
    return out


def own(samples) -> dict[str, float]:
    """Drops the collector's self-observation series (and the build it reports)."""
    return {k: v for k, v in values(samples).items() if "collector" not in k and "build_info" not in k}


# ---------------------------------------------------------------------------- counters, gauges, histograms


def test_counters_give_cumulative_then_per_second_rate_and_gauges_pass_through():
    src = Source(a_total=10)
    src.gauges["g_bytes"] = 7.5
    c = Collector([src])
    first = own(c.collect_once(T0))
    assert first == {"a_total": 10, "g_bytes": 7.5}  # first tick: no rate, no percentiles
    src.counters["a_total"] = 40
    second = own(c.collect_once(T0 + 2 * S))
    assert second["a_total"] == 40 and second["a_total:rate"] == pytest.approx(15.0)  # 30 over 2 s
    src.counters["a_total"] = 40
    assert own(c.collect_once(T0 + 3 * S))["a_total:rate"] == 0.0


def test_every_sample_carries_the_tick_time():
    c = Collector([Source(a_total=1)])
    assert {s.ts_ns for s in c.collect_once(T0)} == {T0}


def test_a_counter_that_goes_down_was_reset_and_counts_from_zero():
    src = Source(a_total=100)
    c = Collector([src])
    c.collect_once(T0)
    src.counters["a_total"] = 5
    assert own(c.collect_once(T0 + S))["a_total:rate"] == 5.0


def test_a_series_that_appears_later_has_no_rate_on_its_first_tick():
    src = Source(a_total=1)
    c = Collector([src])
    c.collect_once(T0)
    src.counters["b_total"] = 50
    tick = own(c.collect_once(T0 + S))
    assert "b_total" in tick and "b_total:rate" not in tick and "a_total:rate" in tick


def test_histogram_percentiles_are_over_the_window_in_seconds():
    src = Source()
    c = Collector([src])
    for _ in range(100):
        src.hist.observe(1 * MS)  # before the first tick: part of the baseline, not of any interval
    assert not [k for k in own(c.collect_once(T0)) if k.startswith("test_latency")]
    for _ in range(90):
        src.hist.observe(3_000)  # 3 us: bucket (2 us, 5 us]
    for _ in range(10):
        src.hist.observe(300 * MS)  # bucket (200 ms, 500 ms]
    tick = own(c.collect_once(T0 + 2 * S))
    assert tick["test_latency_seconds:rate"] == pytest.approx(50.0)  # 100 observations over 2 s
    assert 2e-6 < tick["test_latency_seconds:p50"] <= 5e-6
    assert 2e-6 < tick["test_latency_seconds:p90"] <= 5e-6
    assert 0.2 < tick["test_latency_seconds:p99"] <= 0.5
    # the 1 ms baseline does not leak in: nothing in the interval was near 1 ms
    assert not any(1e-4 < tick[f"test_latency_seconds:{p}"] < 0.1 for p in ("p50", "p90", "p99"))


def test_an_empty_window_gives_rate_zero_and_no_percentiles():
    src = Source()
    c = Collector([src], window_s=1, min_observations=1)
    src.hist.observe(5 * MS)
    c.collect_once(T0)
    src.hist.observe(5 * MS)
    assert "test_latency_seconds:p99" in own(c.collect_once(T0 + S))
    tick = own(c.collect_once(T0 + 2 * S))
    assert tick["test_latency_seconds:rate"] == 0.0
    assert not [k for k in tick if k.startswith("test_latency_seconds:p")]


def test_percentiles_hold_the_window_and_need_its_minimum_count():
    """A slow burst stays in p99 for the window (one quiet second does not read as fast), then ages out;
    a window with fewer observations than the minimum has no percentile at all, not a made-up one."""
    src = Source()
    c = Collector([src], window_s=5, min_observations=20)
    c.collect_once(T0)
    for _ in range(10):
        src.hist.observe(300 * MS)
    assert "test_latency_seconds:p99" not in own(c.collect_once(T0 + S))  # 10 < 20: insufficient data
    for _ in range(10):
        src.hist.observe(300 * MS)
    assert 0.2 < own(c.collect_once(T0 + 2 * S))["test_latency_seconds:p99"] <= 0.5  # 20 in the window
    for t in range(3, 6):  # quiet seconds: the burst is still within the last 5 s
        assert 0.2 < own(c.collect_once(T0 + t * S))["test_latency_seconds:p99"] <= 0.5
    for _ in range(30):
        src.hist.observe(3_000)
    tick = own(c.collect_once(T0 + 6 * S))  # the window (1 s, 6 s] has dropped the first ten
    assert 0.2 < tick["test_latency_seconds:p99"] <= 0.5 and tick["test_latency_seconds:p50"] <= 5e-6
    assert own(c.collect_once(T0 + 7 * S))["test_latency_seconds:p99"] <= 5e-6  # the burst has left the window
    assert "test_latency_seconds:p99" not in own(c.collect_once(T0 + 12 * S))  # and so have the rest


def test_a_histogram_reset_counts_from_zero():
    src = Source()
    c = Collector([src], window_s=10, min_observations=1)
    for _ in range(50):
        src.hist.observe(300 * MS)
    c.collect_once(T0)
    src.hist = LatencyHistogram()  # the component was rebuilt
    src.hist.observe(3_000)
    tick = own(c.collect_once(T0 + S))
    assert tick["test_latency_seconds:rate"] == 1.0 and tick["test_latency_seconds:p99"] <= 5e-6


def test_the_fill_ratio_is_filled_over_ended_orders_in_the_window():
    t = Trading()
    c = Collector([t], window_s=10, min_orders=10)
    c.collect_once(T0)
    t.n[ORDERS_FILLED] = 6
    t.n[ORDERS_CANCELLED] = 3
    assert SERIES_FILL_RATIO not in values(c.collect_once(T0 + S))  # 9 ended: insufficient data
    t.n[ORDERS_REJECTED] = 1
    assert values(c.collect_once(T0 + 2 * S))[SERIES_FILL_RATIO] == pytest.approx(0.6)
    assert SERIES_FILL_RATIO not in values(c.collect_once(T0 + 12 * S))  # the window moved on


def test_labels_stay_after_the_suffix():
    class Labelled:
        def metrics(self):
            yield counter("x_total", "c", self.n, kind="a")

    src = Labelled()
    src.n = 1
    c = Collector([src])
    c.collect_once(T0)
    src.n = 3
    assert values(c.collect_once(T0 + S))['x_total:rate{kind="a"}'] == 2.0


def test_non_finite_gauges_are_skipped():
    src = Source()
    src.gauges = {"nan_ratio": math.nan, "inf_ratio": math.inf, "ok_ratio": 0.5}
    tick = own(Collector([src]).collect_once(T0))
    assert "ok_ratio" in tick and "nan_ratio" not in tick and "inf_ratio" not in tick


# ---------------------------------------------------------------------------- failures


def test_a_source_that_raises_is_logged_and_skipped_and_its_rates_span_the_gap(caplog):
    broken, fine = Source(a_total=0), Source(b_total=0)
    c = Collector([broken, fine])
    c.collect_once(T0)
    broken.fail = True
    fine.counters["b_total"] = 1
    with caplog.at_level(logging.WARNING, logger="alluse.monitoring.collector"):
        tick = own(c.collect_once(T0 + S))
        c.collect_once(T0 + 2 * S)  # still broken: not logged again at WARNING
    assert "b_total:rate" in tick and "a_total" not in tick
    assert len([r for r in caplog.records if "failed" in r.getMessage()]) == 1
    assert c.source_errors == 2
    broken.fail = False
    broken.counters["a_total"] = 30
    assert own(c.collect_once(T0 + 3 * S))["a_total:rate"] == 10.0  # 30 over the 3 s since its last reading


def test_a_source_failing_halfway_adds_nothing():
    class Halfway:
        def metrics(self):
            yield counter("half_total", "c", 1)
            raise RuntimeError("midway")

    c = Collector([Halfway(), Source(a_total=1)])
    tick = own(c.collect_once(T0))
    assert "half_total" not in tick and "a_total" in tick


def test_an_unusable_reading_is_skipped_and_the_rest_of_its_source_kept():
    class Odd:
        def metrics(self):
            yield Metric("bad_total", MetricKind.COUNTER, "c", "seven")  # type: ignore[arg-type]
            yield Metric("bad_seconds", MetricKind.HISTOGRAM, "h", 3.0)
            yield gauge("good_ratio", "g", 0.25)

    c = Collector([Odd()])
    tick = own(c.collect_once(T0))
    assert tick == {"good_ratio": 0.25} and c.source_errors == 2


def test_hooks_get_samples_and_values_and_a_failing_hook_does_not_stop_the_other():
    got = []

    def broken_sink(samples):
        raise OSError("store gone")

    c = Collector([Source(a_total=2)], on_samples=broken_sink, on_values=lambda v, now: got.append((v, now)))
    samples = c.collect_once(T0)
    assert got == [({s.series: s.value for s in samples}, T0)]
    assert c.hook_errors == 1


def test_interval_must_be_a_positive_number():
    for bad in (0, -1, math.nan, math.inf, "1", True):
        with pytest.raises(InvalidInput) as err:
            Collector([], interval_s=bad)
        assert err.value.field == "interval_s"


# ---------------------------------------------------------------------------- derived series


class Trading:
    """The counters the derived ratios read, as the order manager and the quote cache name them."""

    def __init__(self) -> None:
        self.n = {ORDERS_SENT: 0, ORDERS_REJECTED: 0, ORDERS_FILLED: 0, ORDERS_CANCELLED: 0, CACHE_HITS: 0,
                  CACHE_MISSES: 0, CACHE_STALE_READS: 0}  # fmt: skip

    def metrics(self):
        n = self.n
        yield counter("alluse_orders_total", "c", n[ORDERS_SENT], event="submitted")
        yield counter("alluse_orders_total", "c", n[ORDERS_REJECTED], event="rejected")
        yield counter("alluse_orders_total", "c", n[ORDERS_FILLED], event="filled")
        yield counter("alluse_orders_total", "c", n[ORDERS_CANCELLED], event="cancelled")
        yield counter("alluse_quote_cache_hits_total", "c", n[CACHE_HITS])
        yield counter("alluse_quote_cache_misses_total", "c", n[CACHE_MISSES])
        yield counter("alluse_quote_cache_stale_reads_total", "c", n[CACHE_STALE_READS])


def test_trading_error_ratio_is_over_a_window_of_orders_and_absent_below_its_minimum():
    t = Trading()
    c = Collector([t], window_s=10, min_orders=10)
    assert SERIES_TRADING_ERROR_RATIO not in values(c.collect_once(T0))  # first tick: no interval yet
    assert SERIES_TRADING_ERROR_RATIO not in values(c.collect_once(T0 + S))  # no orders: no ratio
    t.n[ORDERS_SENT] = 4
    t.n[ORDERS_REJECTED] = 1
    assert SERIES_TRADING_ERROR_RATIO not in values(c.collect_once(T0 + 2 * S))  # 4 orders: insufficient data
    t.n[ORDERS_SENT] = 12
    assert values(c.collect_once(T0 + 3 * S))[SERIES_TRADING_ERROR_RATIO] == pytest.approx(1 / 12)
    t.n[ORDERS_SENT] = 20  # a second of sends without a reject is not 0 %: the window still holds the reject
    assert values(c.collect_once(T0 + 4 * S))[SERIES_TRADING_ERROR_RATIO] == pytest.approx(1 / 20)
    assert values(c.collect_once(T0 + 5 * S))[SERIES_TRADING_ERROR_RATIO] == pytest.approx(1 / 20)  # quiet
    t.n[ORDERS_SENT] = 21
    t.n[ORDERS_REJECTED] = 30  # rejections of orders sent before the window: a share cannot pass 1
    assert values(c.collect_once(T0 + 6 * S))[SERIES_TRADING_ERROR_RATIO] == 1.0
    t.n[ORDERS_SENT] = 25
    assert SERIES_TRADING_ERROR_RATIO not in values(c.collect_once(T0 + 16 * S))  # the window moved on: 4 orders


def test_stale_quote_ratio_is_the_stale_share_of_all_reads():
    t = Trading()
    c = Collector([t])
    c.collect_once(T0)
    tick = values(c.collect_once(T0 + S))
    assert tick[SERIES_STALE_QUOTE_RATIO] == 0.0  # no reads
    assert SERIES_CACHE_HIT_RATIO not in tick  # no reads, no hit rate
    t.n.update({CACHE_HITS: 70, CACHE_MISSES: 10, CACHE_STALE_READS: 20})
    tick = values(c.collect_once(T0 + 2 * S))
    assert tick[SERIES_STALE_QUOTE_RATIO] == pytest.approx(0.2)
    assert tick[SERIES_CACHE_HIT_RATIO] == pytest.approx(0.7)


def test_without_the_components_there_are_no_derived_series():
    tick = values(Collector([Source(a_total=1)]).collect_once(T0))
    for series in (SERIES_TRADING_ERROR_RATIO, SERIES_STALE_QUOTE_RATIO, SERIES_QUOTE_AGE, SERIES_DAILY_LOSS_USED):
        assert series not in tick


def test_quote_age_counts_wall_seconds_since_the_accepted_count_last_moved():
    class Engine:
        accepted = 0

        def metrics(self):
            yield counter("alluse_quotes_total", "c", self.accepted, outcome="accepted")

    e = Engine()
    c = Collector([e])
    assert values(c.collect_once(T0))[SERIES_QUOTE_AGE] == 0.0  # watching starts
    assert values(c.collect_once(T0 + 3 * S))[SERIES_QUOTE_AGE] == 3.0  # silent since: a feed that never starts
    e.accepted = 10
    assert values(c.collect_once(T0 + 4 * S))[SERIES_QUOTE_AGE] == 0.0
    assert values(c.collect_once(T0 + 9 * S))[SERIES_QUOTE_AGE] == 5.0
    assert QUOTES_ACCEPTED == 'alluse_quotes_total{outcome="accepted"}'


def test_daily_loss_limit_used_comes_from_the_callable_and_is_skipped_without_a_value():
    used = [0.4]
    c = Collector([], loss_limit_used=lambda: used[0])
    assert values(c.collect_once(T0))[SERIES_DAILY_LOSS_USED] == 0.4
    used[0] = None
    assert SERIES_DAILY_LOSS_USED not in values(c.collect_once(T0 + S))
    assert SERIES_DAILY_LOSS_USED not in values(Collector([]).collect_once(T0))


def test_derived_series_from_the_real_components(tmp_path):
    """The collector's input names match what the components report."""
    t = TradingRig(tmp_path)
    cache = QuoteCache(t.clock, ttl_ns=S, option_capacity=4, is_option=t.registry.is_option)
    engine = DataEngine(t.registry, cache, t.clock)
    c = Collector([engine, engine.cache, t.oms, t.risk, t.venue, t.ledger], min_orders=1, min_observations=1)
    c.collect_once(T0)
    t.submit(account="B")  # rejected by the venue
    t.submit()
    t.clock.advance(10 * MS)
    engine.on_quote(quote("AAPL", t.clock.now_ns()))
    engine.cache.get_fresh("AAPL")
    engine.cache.get_fresh("AAPL")
    t.clock.advance(2 * S)
    engine.cache.get_fresh("AAPL")  # stale now
    tick = values(c.collect_once(T0 + S))
    assert tick[SERIES_TRADING_ERROR_RATIO] == 0.5
    assert tick[SERIES_STALE_QUOTE_RATIO] == pytest.approx(1 / 3)
    assert tick[SERIES_CACHE_HIT_RATIO] == pytest.approx(2 / 3)
    assert tick[SERIES_QUOTE_AGE] == 0.0
    assert tick["alluse_order_ack_latency_simulated_seconds:p50"] > 0  # the paper venue's, on its clock
    assert "alluse_order_ack_latency_seconds:p50" not in tick  # nothing measured in wall time: no percentile
    assert tick["alluse_order_submit_seconds:p50"] > 0  # the process's own part, in wall time


# ---------------------------------------------------------------------------- self-observation


def test_the_collector_reports_its_own_tick_time_and_sample_count():
    c = Collector([Source(a_total=1)], min_observations=1)
    first = c.collect_once(T0)
    tick = values(c.collect_once(T0 + S))
    assert tick["alluse_collector_samples_total"] == len(first)
    assert tick["alluse_collector_tick_seconds:rate"] == 1.0  # the first tick, observed in this interval
    assert 0 < tick["alluse_collector_tick_seconds:p50"] < 0.1
    assert c.samples_total == len(first) + len(tick)
    assert SERIES_EVENT_LOOP_LAG not in tick  # only measured when the loop runs it


# ---------------------------------------------------------------------------- on the loop


class FakeLoop:
    """Just enough of an event loop to drive the schedule: time() and call_at()."""

    def __init__(self) -> None:
        self.now = 100.0
        self.calls: list[tuple[float, object]] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when, callback, *args):
        self.calls.append((when, callback))
        return self

    def cancel(self) -> None:  # the handle call_at returns
        self.calls.append((None, None))

    def fire(self, at: float) -> None:
        self.now = at
        when, callback = self.calls[-1]
        callback()


def test_the_schedule_is_drift_free_skips_missed_ticks_and_measures_lag():
    loop = FakeLoop()
    c = Collector([Source(a_total=1)], interval_s=1.0, wall_ns=lambda: T0)
    c.start(loop)  # type: ignore[arg-type]
    assert loop.calls[-1][0] == 100.0  # the first tick at once: it sets the baseline
    loop.fire(100.002)
    assert loop.calls[-1][0] == 101.0 and c.loop_lag_s == pytest.approx(0.002)
    loop.fire(101.3)  # late, yet the next tick stays on the grid
    assert loop.calls[-1][0] == 102.0 and c.loop_lag_s == pytest.approx(0.3)
    loop.fire(104.5)  # the loop was blocked: ticks at 103 and 104 are skipped, not run back to back
    assert loop.calls[-1][0] == 105.0 and c.missed_ticks == 2
    assert c.ticks == 3
    with pytest.raises(RuntimeError):
        c.start(loop)  # type: ignore[arg-type]
    c.stop()
    assert not c.running and loop.calls[-1] == (None, None)


async def test_runs_on_the_asyncio_loop_until_stopped():
    done = asyncio.Event()
    ticks = []

    def on_values(v, now):
        ticks.append(v)
        if len(ticks) == 3:
            done.set()

    c = Collector([Source(a_total=1)], interval_s=0.01, on_values=on_values)
    c.start(asyncio.get_running_loop())
    await asyncio.wait_for(done.wait(), timeout=2)
    c.stop()
    await asyncio.sleep(0.03)
    assert len(ticks) == 3  # nothing after stop
    assert SERIES_EVENT_LOOP_LAG in ticks[-1] and 0 <= ticks[-1][SERIES_EVENT_LOOP_LAG] < 0.5
    assert ticks[-1]["a_total:rate"] == 0.0


# ---------------------------------------------------------------------------- resources and valuation


def test_resource_sampler_reports_sane_values(tmp_path):
    clock = [0]
    r = ResourceSampler(tmp_path, monotonic_ns=lambda: clock[0])
    first = {m.name: m.value for m in r.metrics()}
    assert {m.name for m in r.metrics() if m.kind is not MetricKind.GAUGE} == {"alluse_process_cpu_seconds_total"}
    assert "alluse_process_cpu_percent" not in first  # nothing to compare with yet
    assert first["alluse_process_cpu_seconds_total"] > 0
    assert 10_000_000 < first["alluse_process_rss_bytes"] < 64 * 2**30
    assert 0 < first["alluse_system_memory_percent"] <= 100
    assert 0 < first["alluse_data_dir_disk_used_percent"] <= 100
    assert first["alluse_process_open_files"] >= 3  # stdin, stdout, stderr at least
    sum(range(300_000))
    clock[0] += 10 * S
    cpu = {m.name: m.value for m in r.metrics()}["alluse_process_cpu_percent"]
    assert 0 <= cpu < 100  # a few ms of CPU in a (pretended) 10 s
    last = {m.name: m.value for m in r.last_readings()}  # what /metrics shows: the last reading, not a new one
    clock[0] += 10 * S
    assert {m.name: m.value for m in r.last_readings()} == last and last["alluse_process_cpu_percent"] == cpu


def test_resource_sampler_cpu_follows_the_process_cpu_time(tmp_path):
    class Proc:
        def __init__(self) -> None:
            self.cpu = 1.0

        def oneshot(self):
            return contextlib.nullcontext()

        def memory_info(self):
            return type("M", (), {"rss": 123})()

        def cpu_times(self):
            return type("T", (), {"user": self.cpu, "system": 0.5})()

        def num_fds(self):
            return 9

    proc, clock = Proc(), [0]
    r = ResourceSampler(tmp_path, process=proc, monotonic_ns=lambda: clock[0])
    list(r.metrics())
    proc.cpu += 0.25
    clock[0] += 1 * S
    got = {m.name: m.value for m in r.metrics()}
    assert got["alluse_process_cpu_percent"] == pytest.approx(25.0)
    assert got["alluse_process_open_files"] == 9 and got["alluse_process_rss_bytes"] == 123


def test_resource_sampler_skips_a_reading_that_fails_and_keeps_the_others(tmp_path, caplog):
    data = tmp_path / "data"
    data.mkdir()
    r = ResourceSampler(data)
    data.rmdir()
    with caplog.at_level(logging.WARNING, logger="alluse.monitoring.resources"):
        names = {m.name for m in r.metrics()}
        list(r.metrics())
    assert "alluse_data_dir_disk_used_percent" not in names and "alluse_process_rss_bytes" in names
    assert len([r for r in caplog.records if r.name == "alluse.monitoring.resources"]) == 1


def test_resource_sampler_needs_an_existing_data_dir(tmp_path):
    with pytest.raises(InvalidInput) as err:
        ResourceSampler(tmp_path / "missing")
    assert err.value.field == "data_dir" and "missing" in str(err.value)


def test_ledger_valuation_marks_equity_and_gross_exposure():
    ledger = Ledger(lambda iid: 100 if len(iid) > 6 else 1)
    ledger.deposit("A", Decimal(10_000))
    ledger.apply_fill(Fill("c1", "A", "AAPL", Side.BUY, 10, Decimal("200"), Decimal("1"), 0, "f1"))
    ledger.apply_fill(Fill("c2", "A", "MSFT", Side.SELL, 5, Decimal("100"), Decimal("1"), 0, "f2"))
    marks = {"AAPL": 210.0}  # MSFT has no mark: valued at cost
    got = {m.series: m.value for m in LedgerValuation(ledger, marks.get).metrics()}
    cash = 10_000 - 2_000 - 1 + 500 - 1
    assert got['alluse_account_equity_usd{account="A"}'] == cash + 2_100 - 500
    assert got['alluse_account_gross_exposure_usd{account="A"}'] == 2_100 + 500
