"""The series the collector derives and the default alert rules watch: one spelling, imported by both.

A rule naming a series the collector does not produce would never fire, so the names live here
once rather than as string literals on each side. Forms follow `metrics.Sample`.
"""

from __future__ import annotations

from alluse.common.metrics import derived

TRADING_ERROR_RATIO = "alluse_trading_error_ratio"  # rejected / submitted orders over the window, 0..1
FILL_RATIO = "alluse_fill_ratio"  # filled / ended (filled, cancelled, expired, rejected) orders over the window, 0..1
# submit to acknowledgement, seconds: the order path's own latency. (Submit to fill also counts the time a
# limit order rests waiting for the market, minutes for the wheel's entries: no alert can use that.)
# (A simulated venue's is exported as alluse_order_ack_latency_simulated_seconds instead: its configured
# latency played on an accelerated clock, timer jitter included, is not a measurement of this process.)
ORDER_LATENCY_P99 = derived("alluse_order_ack_latency_seconds", "p99")
# the process's own part of every order, any venue: validation, risk checks, the journal's intent (wall time)
ORDER_SUBMIT_P99 = derived("alluse_order_submit_seconds", "p99")
# its typical order: a p99 over a minute of a few orders a second is the minute's slowest order, which one
# garbage-collection pause holds up for the whole minute; the p90 moves only when many orders are slower
ORDER_SUBMIT_P90 = derived("alluse_order_submit_seconds", "p90")
QUOTES_ACCEPTED_RATE = derived('alluse_quotes_total{outcome="accepted"}', "rate")  # quotes per second
FEED_LATENCY_P99 = derived("alluse_feed_latency_seconds", "p99")  # feed to subscriber, seconds
BROKER_CONNECTED = "alluse_broker_connected"  # 1 connected, 0 not; one broker a process (its name: alluse_broker_info)
PROCESS_RSS_BYTES = "alluse_process_rss_bytes"
PROCESS_CPU_PERCENT = "alluse_process_cpu_percent"  # psutil: 100 = one full core
PROCESS_CPU_SECONDS = "alluse_process_cpu_seconds_total"  # the counter behind it on /metrics (user + system)
MARKET_OPEN = "alluse_market_open"  # 1 while the market is in session (market_hours_only rules hold only then)
STALE_QUOTE_RATIO = "alluse_stale_quote_ratio"  # stale reads / reads over the interval, 0..1
CACHE_HIT_RATIO = "alluse_quote_cache_hit_ratio"  # fresh hits / reads over the interval, 0..1; a gap with no reads
DAILY_LOSS_LIMIT_USED_RATIO = "alluse_daily_loss_limit_used_ratio"  # today's loss / daily limit, worst account
QUOTE_AGE_SECONDS = "alluse_quote_age_seconds"  # wall seconds since the last accepted quote
EVENT_LOOP_LAG_SECONDS = "alluse_event_loop_lag_seconds"  # how late the collector's own tick fired
METRICS_STORE_HEALTHY = "alluse_metrics_store_healthy"  # 1 writing, 0 failing (locked, full, not a database)
# the collector's running total of samples: 0 at a process's first tick, never falling within one, so a 0 or a
# fall marks a (re)start (the report's warm-up, analytics/warmup.py)
COLLECTOR_SAMPLES_TOTAL = "alluse_collector_samples_total"

# what the predictive and anomaly rules derive from a series (monitoring/prediction.py, anomaly_stream.py): one
# series per rule, `<metric>:<suffix>{...,rule="<name>"}`; the suffix is what marks an alert "predicted" or "anomaly"
PREDICTED = "predicted"  # the series' straight-line forecast at the rule's horizon
ANOMALY_Z = "anomaly_z"  # the newest value's robust z-score against its rolling window, signed to the bad side


def of_rule(series: str, suffix: str, rule: str) -> str:
    """`name{labels}`, "predicted", "r" -> `name:predicted{labels,rule="r"}` (rule names need no escaping)."""
    name = derived(series, suffix)
    if name.endswith("}"):
        return f'{name[:-1]},rule="{rule}"}}'
    return f'{name}{{rule="{rule}"}}'


def kind_of(series: str) -> str:
    """ "predicted", "anomaly" or "threshold": what an alert on `series` judges, read from its suffix."""
    suffix = series.partition("{")[0].rpartition(":")[2]
    return {PREDICTED: "predicted", ANOMALY_Z: "anomaly"}.get(suffix, "threshold")


# the engine's own
ALERTS_FIRING = "alluse_alerts_firing"
ALERT_RULES_INSUFFICIENT_DATA = "alluse_alert_rules_insufficient_data"
ALERT_NOTIFICATIONS_TOTAL = "alluse_alert_notifications_total"
ALERT_NOTIFIER_FAILURES_TOTAL = "alluse_alert_notifier_failures_total"
ALERT_HISTORY_FAILURES_TOTAL = "alluse_alert_history_failures_total"
