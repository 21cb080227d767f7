"""Values read with the unit their series' name implies."""

import pytest

from alluse.analytics.units import display, p_text


@pytest.mark.parametrize(
    "name,value,shown",
    [
        ("alluse_order_ack_latency_seconds:p99", 0.00197, "1.97 ms"),
        ("alluse_quote_age_seconds", 5.0, "5 s"),
        ("alluse_process_rss_bytes", 78229504, "74.6 MiB"),
        ("alluse_process_rss_bytes", 2.0 * 2**30, "2 GiB"),
        ("alluse_trading_error_ratio", 0.025, "2.5 %"),
        ("alluse_process_cpu_percent", 12.5, "12.5 %"),
        ('alluse_quotes_total:rate{outcome="accepted"}', 123456.7, "123,457/s"),
        ("alluse_feed_latency_seconds:rate", 217.2, "217/s"),  # observations per second, not a latency
        ('alluse_quotes_total:rate{outcome="accepted"}', 2000.3, "2,000/s"),  # not "2e+03/s"
        ('alluse_quotes_total:rate{outcome="accepted"}', 999.7, "1,000/s"),
        ("alluse_process_rss_bytes", 1000 * 2**20, "1,000 MiB"),
        ('alluse_account_cash_usd{account="A"}', 102275.0, "$102,275"),
        ("alluse_account_realized_pnl_usd", -1234.5, "-$1,234"),
        ("alluse_x", None, "n/a"),
        ("alluse_x", float("nan"), "n/a"),
    ],
)
def test_display(name, value, shown):
    assert display(name, value) == shown


@pytest.mark.parametrize(
    "p,shown", [(None, "p n/a"), (0.0, "p<1e-16"), (1e-300, "p<1e-16"), (3.4e-7, "p=3.4e-07"), (0.0123, "p=0.012")]
)
def test_p_values_never_read_as_zero(p, shown):
    assert p_text(p) == shown
