"""UI-1 measures what it says: every fill reaches every client (none dropped), in a time that is the stream's
(from the fill's booking, so never negative), with the order path timed alone and with the clients."""

import pytest

from alluse.bench import ui1

pytestmark = pytest.mark.slow  # a running system and a process of clients for a few seconds


def test_ui1_delivers_every_fill_to_every_client_and_reports_its_figures():
    figures = {(f.name, f.variant): f.value for f in ui1.ui1_figures(quick=True)}
    fills = ui1.RATE * ui1.PHASE_S_QUICK  # the phase with the clients
    assert figures[("deliveries", "optimised")] == pytest.approx(fills * ui1.CLIENTS, rel=0.02)
    assert figures[("dropped", "optimised")] == 0
    assert 0 < figures[("fill to stream p50", "optimised")] <= figures[("fill to stream p99", "optimised")] < 1e6
    alone, watched = figures[("order path p50", "no client connected")], figures[("order path p50", "optimised")]
    assert figures[("order path slowdown with clients", "optimised")] == pytest.approx(100 * (watched / alone - 1))
