"""Honest latencies: a simulated venue's acknowledgement is its configured latency on our clock, exported as
simulated; the process's own part of an order (checks, risk, journal) is wall time, exported for any venue."""

from alluse.bench.core import build_core
from alluse.brokers.paper.config import PaperVenueConfig
from alluse.common.clock import MS


def exported(core) -> dict[str, object]:
    return {m.name: m for m in core.oms.metrics() if m.name.startswith("alluse_order_")}


def test_a_simulated_venue_s_latency_is_measured_in_its_clock_and_labelled_simulated(tmp_path):
    core = build_core(tmp_path, venue_config=PaperVenueConfig(ack_latency_ms=2, fill_latency_ms=3))
    try:
        for k in range(20):
            core.oms.submit(core.order(k))
            core.clock.advance(10 * MS)
        names = exported(core)
        wall = names["alluse_order_ack_latency_seconds"].value  # the series exists (alert rules name it)...
        assert wall.count == 0  # ...and nothing pretends to be a measurement in it
        ack = core.oms.events.ack_latency.snapshot()
        assert ack.count == 20
        assert ack.sum_ns == 20 * 2 * MS  # exactly the venue's 2 ms each, on the clock: no wall time in it
        assert "alluse_order_ack_latency_simulated_seconds" in names
        assert "simulated venue's clock" in names["alluse_order_ack_latency_simulated_seconds"].help
        own = core.oms.submit_latency.snapshot()
        assert own.count == 20 and 0 < own.sum_ns < 20 * 50 * MS  # wall time of our own code: real, small
        assert "alluse_order_submit_seconds" in names
    finally:
        core.close()


def test_a_real_venue_s_latency_is_wall_time(tmp_path):
    core = build_core(tmp_path)
    core.oms.events.simulated_venue = False  # what the kernel sets for a broker that is not a simulation
    try:
        core.oms.submit(core.order(0))
        names = exported(core)
        assert "alluse_order_ack_latency_seconds" in names and "alluse_order_ack_latency_simulated_seconds" not in names
    finally:
        core.close()
