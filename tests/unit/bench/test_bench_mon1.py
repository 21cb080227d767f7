"""MON-1 on tiny sizes: its figures, and that the per-sample variant is the real config option."""

from __future__ import annotations

import pydantic
import pytest

from alluse.bench import mon1
from alluse.bench.figures import OPTIMISED
from alluse.monitoring.config import AlertsConfig, MonitoringConfig
from alluse.monitoring.service import Monitoring
from alluse.monitoring.store import WRITE_LATENCY


def test_mon1_figures_names_units_variants():
    figures = mon1.mon1_figures(True, quotes=2_000, repeats=1, ticks=2, store_ticks=3)
    assert all(f.workload == "MON-1" for f in figures)
    got = {(f.name, f.variant): f for f in figures}
    assert set(got) == {
        ("instrumentation overhead", OPTIMISED),
        ("collector CPU", OPTIMISED),
        ("store write rate", OPTIMISED),
        ("store write rate", mon1.PER_SAMPLE),
    }
    overhead, cpu = got["instrumentation overhead", OPTIMISED], got["collector CPU", OPTIMISED]
    assert (overhead.unit, cpu.unit) == ("%", "% of a core")
    assert overhead.value > -100  # a ratio minus one: noise may make it negative, never below -100%
    assert 0 < cpu.value < 100
    for variant in (OPTIMISED, mon1.PER_SAMPLE):
        rate = got["store write rate", variant]
        assert rate.unit == "samples/s" and rate.higher_is_better and rate.value > 0


def test_collector_bench_reaches_about_500_series(tmp_path):
    bench = mon1.collector_bench(tmp_path)
    try:
        durations = [bench.tick() for _ in range(3)]
    finally:
        bench.close()
    assert all(d > 0 for d in durations)
    assert 450 <= bench.series[-1] <= 550
    assert bench.series[0] < bench.series[-1]  # rates and percentiles need earlier readings


def test_instrumentation_overhead_times_both_modes():
    registry = mon1.build_registry()
    quotes = mon1.generate_quotes([i.id for i in registry], 1_000)
    run = mon1.instrumentation_overhead(registry, quotes, repeats=2, per_quote=False)
    assert run.off_ns > 0 and run.on_ns > 0
    assert run.engine_on.instrument and run.engine_on.feed_latency.snapshot().count == 1_000 // 64
    with pytest.raises(ValueError, match="repeats"):
        mon1.instrumentation_overhead(registry, quotes, repeats=0, per_quote=False)


def test_run_store_writes_every_sample(tmp_path):
    samples = mon1.tick_samples(7, 4)
    assert len(samples) == 28 and samples[7].ts_ns == samples[0].ts_ns + 1_000_000_000
    run = mon1.run_store(tmp_path / "m.db", mon1.batches_of(samples, 7), batch_max=1)
    assert run.samples_per_s > 0 and run.submit_us > 0


def test_store_batch_max_is_a_validated_option():
    assert MonitoringConfig().store_batch_max == 10_000
    assert MonitoringConfig(store_batch_max=1).store_batch_max == 1
    with pytest.raises(pydantic.ValidationError, match="store_batch_max"):
        MonitoringConfig(store_batch_max=0)


@pytest.mark.parametrize(("batch_max", "transactions"), [(1, 5), (10_000, 1)])
def test_service_builds_its_store_with_store_batch_max(tmp_path, batch_max, transactions):
    config = MonitoringConfig(store_batch_max=batch_max)
    alerts = AlertsConfig(default_rules=False)  # no sources here, so none of the built-in alert rules' series
    monitoring = Monitoring(config, alerts, tmp_path, [], health=dict, loss_limit_used=lambda: None)
    store = monitoring.store
    try:
        store.submit(mon1.tick_samples(5, 1))
        assert store.flush()
        [latency] = [m for m in store.metrics() if m.series == WRITE_LATENCY]
        assert latency.value.count == transactions
    finally:
        store.close()
