"""ER-1 at test size: faults injected by the venue, counted against the venue's own records."""

import pytest

from alluse.bench.er1 import run_er1


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_transient_faults_recover_and_permanent_rejects_fail_fast(seed):
    r = run_er1(800, seed=seed)
    assert r.transient_orders > 10 and r.permanent_orders > 0, r.faults  # the faults really happened
    assert (r.lost, r.duplicated, r.misclassified, r.mismatched) == (0, 0, 0, 0), r.problems[:5]
    assert r.recovered == r.transient_orders


@pytest.mark.parametrize("seed", [4, 5])
def test_duplicated_and_reordered_events_change_nothing(seed):
    r = run_er1(800, seed=seed, event_rate=0.03)
    assert r.faults.get("DUPLICATE_EVENT", 0) > 5 and r.faults.get("DELAYED_EVENT", 0) > 5
    assert r.ok, r.problems[:5]


def test_the_counts_catch_a_broken_order_manager(monkeypatch):
    """A manager that resends blindly on every ack timeout must show up as duplicated."""
    from alluse.app import kernel
    from alluse.execution.dispatch import Dispatcher
    from alluse.execution.oms import OrderManager

    class BlindResender(Dispatcher):  # a subclass: a compiled class's methods cannot be patched
        def query(self, order):
            self.send(order)

    def blind_order_manager(**kwargs):
        return OrderManager(**kwargs, dispatcher=BlindResender)

    monkeypatch.setattr(kernel, "OrderManager", blind_order_manager)  # the one the kernel makes
    r = run_er1(800, seed=1)
    assert r.duplicated > 0
