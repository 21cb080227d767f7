"""OR-1's workload function: every variant's figures, under the names the targets match on."""

from alluse.bench.figures import OPTIMISED, TARGETS
from alluse.bench.or1 import VARIANTS, or1_figures, run_or1
from alluse.config import JournalConfig

NAMES = {"latency p50": "us", "latency p99": "us", "latency p99.9": "us", "throughput": "orders/s"}


def test_every_variant_reports_latency_percentiles_and_throughput():
    figures = or1_figures(True, n=200)
    assert {f.workload for f in figures} == {"OR-1"}
    assert [f.variant for f in figures[::4]] == [OPTIMISED, *(v for v, _ in VARIANTS[1:])]
    for variant, _ in VARIANTS:
        mine = {f.name: f for f in figures if f.variant == variant}
        assert {name: f.unit for name, f in mine.items()} == NAMES
        assert all(f.value > 0 for f in mine.values())
        assert mine["latency p50"].value <= mine["latency p99"].value <= mine["latency p99.9"].value
        assert mine["throughput"].higher_is_better and not mine["latency p99"].higher_is_better


def test_the_targets_find_their_figures():
    names = {f.name for f in or1_figures(True, n=50) if f.variant == OPTIMISED}
    assert {t.name for t in TARGETS if t.workload == "OR-1"} <= names


def test_the_variants_are_real_journal_settings():
    configs = dict(VARIANTS)
    assert configs[OPTIMISED] == JournalConfig()
    assert not configs["journal: a commit per event"].group_commit
    assert configs["journal: a commit per event, synchronous FULL"].synchronous == "FULL"


def test_group_commit_takes_broker_events_along_and_the_last_are_flushed():
    """A commit per event is three per order (intent, ack, fill); grouped, one per order (its intent, carrying
    the previous order's ack and fill) plus the final flush of the last order's."""
    grouped = run_or1(100, JournalConfig())
    per_event = run_or1(100, JournalConfig(group_commit=False, background_checkpoint=False))
    assert len(grouped.latencies_ns) == len(per_event.latencies_ns) == 100
    setup = per_event.journal_writes - 3 * 100
    assert grouped.journal_writes == setup + 100 + 1
