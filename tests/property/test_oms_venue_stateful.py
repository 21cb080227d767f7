"""Order manager + paper venue under random interleavings of submits, cancels, market moves,
faults, disconnects and restarts (hypothesis stateful). After every step: nothing overfilled, no
client order id reached the venue twice, no fill the venue never made. At the end, after the
run settles: journal, ledger and the venue's records agree order by order."""

import shutil
import tempfile
from collections import Counter
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from alluse.bench.core import build_core
from alluse.bench.cr1 import _compare
from alluse.brokers.paper import FaultConfig, PaperVenueConfig
from alluse.common.clock import MS, NS
from alluse.execution.config import ExecutionConfig

RETRY = ExecutionConfig(max_attempts=6, initial_backoff_ms=10, max_backoff_ms=200, ack_timeout_ms=100)


class OmsAndVenue(RuleBasedStateMachine):
    @initialize(seed=st.integers(0, 10_000), rate=st.sampled_from([0.0, 0.03, 0.1]))
    def start(self, seed, rate):
        self.dir = Path(tempfile.mkdtemp(prefix="alluse-stateful-"))
        faults = FaultConfig(
            seed=seed, lose_submit_rate=rate, lose_response_rate=rate, drop_ack_rate=rate, pacing_reject_rate=rate,
            permanent_reject_rate=rate / 3, duplicate_event_rate=rate, delay_rate=rate, max_delay_ms=20,
        )  # fmt: skip
        self.config = PaperVenueConfig(ack_latency_ms=1, fill_latency_ms=2, faults=faults)
        self.core = build_core(self.dir, stocks=3, venue_config=self.config, execution=RETRY, seed=seed)
        self.k = 0

    def teardown(self):
        if hasattr(self, "core"):
            self.core.close()
            shutil.rmtree(self.dir, ignore_errors=True)

    @rule(style=st.sampled_from(["market", "marketable", "resting"]), qty=st.integers(1, 300))
    def submit(self, style, qty):
        self.k += 1
        self.core.oms.submit(self.core.order(self.k, qty=qty, style=style))

    @precondition(lambda self: self.core.oms.open_orders())
    @rule(pick=st.integers(0, 1_000))
    def cancel(self, pick):
        orders = self.core.oms.open_orders()
        self.core.oms.cancel(orders[pick % len(orders)].client_order_id)

    @rule(ms=st.integers(0, 300), size=st.integers(1, 500))
    def time_passes(self, ms, size):
        self.core.clock.advance(ms * MS)
        self.core.quote_all(size=size)  # thin quotes make partial fills

    @precondition(lambda self: self.core.venue.connected)
    @rule(ms=st.integers(1, 500))
    def disconnect(self, ms):
        self.core.venue.disconnect(ms * MS)

    @rule()
    def restart(self):
        now = self.core.clock.now_ns()
        self.core.close()
        self.core = build_core(self.dir, stocks=3, venue_config=self.config, execution=RETRY, start_ns=now + NS)

    @invariant()
    def nothing_overfilled_or_duplicated(self):
        if not hasattr(self, "core"):
            return
        core = self.core
        for order in core.oms.orders.values():
            assert 0 <= order.filled_qty <= order.quantity, order
        receipts = core.venue.receipts()
        sent = Counter(r.client_order_id for r in receipts if r.outcome in ("accepted", "rejected"))
        assert all(n == 1 for n in sent.values()), sent.most_common(3)
        assert not [r for r in receipts if r.outcome == "duplicate"]
        venue_fills = {f.fill_id for f in core.venue.executions()} if core.venue.connected else None
        if venue_fills is not None:
            assert {f.fill_id for f in core.journal.load().fills} <= venue_fills

    def check_agreement(self):
        core = self.core
        core.settle(limit_ns=60 * NS)
        core.oms.reconcile()
        assert _compare(core).problems == []


class Checked(OmsAndVenue):
    def teardown(self):
        try:
            if hasattr(self, "core"):
                self.check_agreement()
        finally:
            super().teardown()


Checked.TestCase.settings = settings(max_examples=25, stateful_step_count=25, deadline=None)
TestOmsAndVenue = Checked.TestCase
