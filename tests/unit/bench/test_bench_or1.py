"""OR-1's workload function: every variant's figures, under the names the targets match on."""

import time

import pytest

from alluse.bench.figures import OPTIMISED
from alluse.bench.or1 import VARIANTS, or1_figures, paced_figures, run_or1
from alluse.bench.targets import TARGETS
from alluse.execution.config import JournalConfig

NAMES = {"latency p50": "us", "latency p99": "us", "latency p99.9": "us", "throughput": "orders/s"}


def test_every_variant_reports_latency_percentiles_and_throughput():
    figures = or1_figures(True, n=200, paced_n=20)
    assert {f.workload for f in figures} == {"OR-1"}
    assert [f.variant for f in figures[: 4 * len(VARIANTS) : 4]] == [v for v, _ in VARIANTS]
    for variant, _ in VARIANTS:
        mine = {f.name: f for f in figures if f.variant == variant and not f.name.startswith("paced")}
        assert {name: f.unit for name, f in mine.items()} == NAMES
        assert all(f.value > 0 for f in mine.values())
        assert mine["latency p50"].value <= mine["latency p99"].value <= mine["latency p99.9"].value
        assert mine["throughput"].higher_is_better and not mine["latency p99"].higher_is_better
    paced = [f for f in figures if f.name.startswith("paced")]  # each variant paced too
    assert [f.variant for f in paced[::3]] == [v for v, _ in VARIANTS] and all(f.unit == "us" for f in paced)
    assert len(paced) == 3 * len(VARIANTS)


def test_the_targets_find_their_figures():
    names = {f.name for f in or1_figures(True, n=50, paced_n=20) if f.variant == OPTIMISED}
    assert {t.name for t in TARGETS if t.workload == "OR-1"} <= names


def test_each_before_variant_switches_off_what_its_label_says_and_nothing_else():
    default = JournalConfig().model_dump()
    changed = {
        variant: {key for key, value in config.model_dump().items() if value != default[key]}
        for variant, config in VARIANTS
    }
    assert changed == {
        OPTIMISED: set(),
        "journal: an SQLite commit per intent": {"intent_log"},
        "journal: a commit per event": {"group_commit"},
        "journal: checkpoints inside commits": {"background_checkpoint"},
        "journal: all off, synchronous FULL": {"group_commit", "background_checkpoint", "synchronous"},
    }


def test_paced_orders_are_timed_from_their_due_time(monkeypatch):
    """No coordinated omission: a 20 ms stall in one order's path is charged to the orders due during it."""
    from alluse.execution.oms import OrderManager

    submit, calls = OrderManager.submit, []

    def stalling(self, order):
        calls.append(1)
        if len(calls) == 10:
            time.sleep(0.02)
        return submit(self, order)

    monkeypatch.setattr(OrderManager, "submit", stalling)
    paced = run_or1(100, JournalConfig(), rate=1_000)  # one order a millisecond
    lat_us = paced.latencies_ns / 1e3
    assert lat_us[9] >= 20_000  # the stalled one
    # Due during the stall, sent after it: each waited at least from its due time until the stalled one ended
    # (exact, whatever else the machine does: order k is due (k - 9) ms after order 9 and starts after it ends).
    for k in range(10, 25):
        assert lat_us[k] >= lat_us[9] - (k - 9) * 1_000 > 1_000
    with pytest.raises(ValueError, match="rate"):
        run_or1(1, JournalConfig(), rate=0)
    names = [f.name for f in paced_figures(paced)]
    assert names == [f"paced latency p{q} at 2,500 orders/s" for q in ("50", "99", "99.9")]


def test_group_commit_takes_broker_events_along_and_the_last_are_flushed():
    """A commit per event is three per order (intent, ack, fill). Grouped without the intent log, one per
    order (its intent, carrying the previous order's ack and fill), one each time the flush timer finds
    events waiting (the loop moves the clock with the wall clock), and the final flush. With the log,
    intents wait too: only the timer's commits and the final one."""
    grouped = run_or1(100, JournalConfig(intent_log=False))
    per_event = run_or1(100, JournalConfig(group_commit=False, background_checkpoint=False))
    logged = run_or1(100, JournalConfig())
    assert len(grouped.latencies_ns) == len(per_event.latencies_ns) == len(logged.latencies_ns) == 100
    setup = per_event.journal_writes - 3 * 100
    timer_rounds = max(grouped.total_ns, logged.total_ns) // 2_000_000
    assert setup + 100 + 1 <= grouped.journal_writes <= setup + 100 + 1 + timer_rounds
    assert setup + 1 <= logged.journal_writes <= setup + timer_rounds + 2
