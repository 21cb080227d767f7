"""FO-1 measures a real takeover: its figures come from PostgreSQL's clock (the standby's first send after the
dead gateway's lease expired, never before it) and the local gateway's receipts (nothing received twice)."""

from alluse.bench.fo1 import fo1_figures


def test_fo1_reports_takeovers_that_send_only_after_the_lease_expired_and_nothing_twice(redis_server):
    figures = {f.name: f for f in fo1_figures(quick=True)}  # its own servers; redis_server: skip without Redis
    assert set(figures) == {"failover p50", "failover max", "duplicated"}
    assert figures["failover p50"].value > 0  # a standby that sent before the expiry would show a negative figure
    assert figures["failover max"].value >= figures["failover p50"].value
    assert figures["duplicated"].value == 0
