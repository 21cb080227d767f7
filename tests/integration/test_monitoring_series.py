"""The series alert rules are checked against are exactly the ones the collector produces."""

from alluse.app.config import load_config
from alluse.app.system import TradingSystem
from alluse.common.clock import NS, TestClock, datetime_to_ns
from alluse.monitoring.alert_rules import default_rules
from alluse.monitoring.collector import Collector
from alluse.monitoring.resources import ResourceSampler
from alluse.monitoring.service import known_series


def test_collector_output_matches_the_declared_series_and_covers_the_default_rules(tmp_path):
    cfg = load_config(overrides={"run": {"start": "2026-11-23T14:30:00+00:00"}})
    clock = TestClock(datetime_to_ns(cfg.run.start_datetime()))
    system = TradingSystem(cfg, clock, tmp_path)
    system.start()
    sources = system.metric_sources()
    resources = ResourceSampler(tmp_path)
    collector = Collector(sources, resources=resources, loss_limit_used=lambda: 0.0)
    produced = set()
    for tick in range(3):
        clock.advance(3600 * NS)  # trading happens between ticks, so rates and percentiles appear
        produced |= {s.series for s in collector.collect_once(1_800_000_000 * NS + tick * NS)}
    declared = known_series([*sources, resources, collector])
    assert produced - declared == set()
    rule_series = {r.metric for r in default_rules()} - {"alluse_metrics_store_healthy"}  # the store is not here
    assert rule_series <= declared
    system.stop_trading()
    system.close()
