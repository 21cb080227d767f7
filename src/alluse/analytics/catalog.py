"""Which stored series mean what to a reader: the dashboard's panels, the series worth forecasting,
and whether a higher value is worse. Names come from `monitoring.series`, the collector's own spelling.
"""

from __future__ import annotations

import re

from alluse.common.metrics import derived
from alluse.monitoring import series as s

ORDER_ACK = "alluse_order_ack_latency_seconds"
ORDER_LATENCY_PERCENTILES = tuple(derived(ORDER_ACK, p) for p in ("p50", "p90", "p99"))
FEED_LATENCY_P50 = derived("alluse_feed_latency_seconds", "p50")

# dashboard panels: the series each one draws (absent ones are left out, and the panel says so)
PANEL_TRADING = (*ORDER_LATENCY_PERCENTILES, s.ORDER_SUBMIT_P99, s.TRADING_ERROR_RATIO)
PANEL_MARKET_DATA = (s.QUOTES_ACCEPTED_RATE, FEED_LATENCY_P50, s.FEED_LATENCY_P99, s.CACHE_HIT_RATIO)
PANEL_RESOURCES = (s.PROCESS_CPU_PERCENT, s.PROCESS_RSS_BYTES, s.EVENT_LOOP_LAG_SECONDS)

# forecast by default: the figures an operator would want to see coming
KEY_SERIES = (
    s.ORDER_LATENCY_P99,
    s.TRADING_ERROR_RATIO,
    s.QUOTES_ACCEPTED_RATE,
    s.FEED_LATENCY_P99,
    s.CACHE_HIT_RATIO,
    s.PROCESS_CPU_PERCENT,
    s.PROCESS_RSS_BYTES,
    s.EVENT_LOOP_LAG_SECONDS,
)

# A counter's running total only ever rises; its ":rate" series carries what it says.
_CUMULATIVE = re.compile(r"_total(\{.*\})?$")

# First match wins. True: higher is worse; False: higher is better; None: neither.
_POLARITY: tuple[tuple[re.Pattern[str], bool | None], ...] = (
    (re.compile(r"_seconds:rate"), None),  # how many latencies were observed, not how long they took
    (re.compile(r"hit_ratio|_healthy|_connected|quotes_total:rate\{outcome=\"accepted\"\}"), False),
    (re.compile(r"_seconds:p\d+|latency|lag|_age_|error|reject|fail|dropped|stale|timeout|gave_up|missed"), True),
    (re.compile(r"cpu_percent|rss_bytes|disk_used|loss_limit_used|disconnect|queue|in_flight"), True),
)


def is_cumulative(name: str) -> bool:
    """A counter's running total (analysed through its `:rate` series instead)."""
    return _CUMULATIVE.search(name) is not None


def higher_is_worse(name: str) -> bool | None:
    """True for latency, errors, lag and resource use; False for throughput, hit rates and health flags;
    None when the series has no better direction (cash, exposure, cache size)."""
    for pattern, worse in _POLARITY:
        if pattern.search(name):
            return worse
    return None
