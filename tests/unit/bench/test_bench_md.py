"""MD-1 and MD-2 workloads on tiny sizes: the figures they promise, with sane values."""

from __future__ import annotations

from time import perf_counter_ns

import numpy as np
import pytest

from alluse.bench import md
from alluse.bench.figures import OPTIMISED


def by_key(figures):
    return {(f.name, f.variant): f for f in figures}


def test_md1_figures_both_paths():
    figures = md.md1_figures(True, n=3_000)
    got = by_key(figures)
    assert set(got) == {(name, v) for name in ("throughput", "ns per quote") for v in (OPTIMISED, md.PER_QUOTE)}
    for variant in (OPTIMISED, md.PER_QUOTE):
        rate, ns = got["throughput", variant], got["ns per quote", variant]
        assert (rate.unit, rate.higher_is_better, ns.unit, ns.higher_is_better) == ("quotes/s", True, "ns", False)
        assert rate.value > 0 and ns.value > 0
        assert rate.value * ns.value == pytest.approx(1e9)  # both from the same timed pass
    assert all(f.workload == "MD-1" for f in figures)


def test_md1_run_delivers_every_quote_once_per_subscriber():
    registry = md.build_registry()
    quotes = md.generate_quotes([i.id for i in registry], 1_234)
    run = md.run_once(registry, quotes, md.FEED_BATCH, per_quote=False)
    assert run.delivered == run.engine.accepted == 1_234 and run.engine.rejected_total == 0
    md.check_delivery(run, 1_234)
    with pytest.raises(RuntimeError, match="1235 quotes in"):
        md.check_delivery(run, 1_235)


def test_md2_figures_names_units_and_order():
    figures = md.md2_figures(True, n=2_000)
    got = {f.name: f for f in figures}
    floors = [f"floor p{q} (the paced loop, no engine)" for q in ("50", "99", "99.9")]
    assert list(got) == ["latency p50", "latency p99", "latency p99.9", "achieved rate", "behind schedule", *floors]
    assert all(f.workload == "MD-2" and f.variant == OPTIMISED for f in figures)
    assert [got[n].unit for n in got] == ["us", "us", "us", "quotes/s", "%", "us", "us", "us"]
    assert 0 < got[floors[0]].value <= got[floors[1]].value <= got[floors[2]].value
    assert [n for n in got if got[n].higher_is_better] == ["achieved rate"]
    assert 0 < got["latency p50"].value <= got["latency p99"].value <= got["latency p99.9"].value
    # paced: it cannot run ahead of the schedule (2,000 quotes are due over 20 ms at 100,000/s)
    assert 0 < got["achieved rate"].value <= 100_000 * 2_000 / 1_999
    assert 0 <= got["behind schedule"].value <= 100


def test_md2_rejects_a_non_positive_rate():
    with pytest.raises(ValueError, match="rate"):
        md.md2_figures(True, n=10, rate=0)


def test_md2_paced_run_stamps_due_times_on_the_engine_clock():
    registry = md.build_registry()
    quotes = md.generate_quotes([i.id for i in registry], 500)
    run = md.paced_run(registry, quotes, rate=50_000)
    stamps = np.array([q.ts_recv for q in quotes])
    assert np.all(np.diff(stamps) > 0) and all(q.ts_event == q.ts_recv for q in quotes)
    # due times 20 us apart, to the ns the schedule's rounding allows
    assert np.all(np.abs(np.diff(stamps) - 20_000) <= 1)
    assert run.latency_ns.shape == (500,) and np.all(run.latency_ns > 0)
    assert run.gc_collections == 0  # the module's claim: the paced loop leaves the cyclic GC nothing to do


def test_md2_floor_hands_each_quote_straight_to_the_subscriber():
    registry = md.build_registry()
    floor = md.paced_run(registry, md.generate_quotes([i.id for i in registry], 300), rate=50_000, engine=False)
    assert floor.latency_ns.shape == (300,) and np.all(floor.latency_ns >= 0)


def test_md2_counts_the_queueing_delay_of_a_stall(monkeypatch):
    """No coordinated omission: a subscriber stalling 300 us on one quote delays the quotes due
    during the stall, and their latency counts from their due time, not from when they got sent."""

    class Stalling(md.LatencyRecorder):
        __slots__ = ()

        def __call__(self, quote):
            super().__call__(quote)
            if self.n == 100:
                end = perf_counter_ns() + 300_000
                while perf_counter_ns() < end:
                    pass

    monkeypatch.setattr(md, "LatencyRecorder", Stalling)
    registry = md.build_registry()
    run = md.paced_run(registry, md.generate_quotes([i.id for i in registry], 400), rate=100_000)
    assert run.behind >= 20  # quotes 100..129 were due during the stall
    assert run.latency_ns[100] >= 250_000  # the next quote waited almost the whole stall
    assert np.all(run.latency_ns[100:115] > 100_000)
