"""Hot-path metrics: plain counters and fixed-bucket latency histograms owned by each component.

A prometheus_client call per quote would cost more than the engine spends on the quote itself
(docs/performance.md, "What monitoring costs the trading loop"). So components keep plain ints and
a `LatencyHistogram` (a bisect and three additions) and expose them through `metrics()`; the
collector reads them once a second and the Prometheus exporter renders them at scrape time.
Reading never changes what is read.

Naming follows Prometheus conventions: `alluse_` prefix, counters end in `_total`, histograms
measure seconds (kept in ns internally, converted when rendered), gauges carry their unit.
"""

from __future__ import annotations

import enum
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from alluse.common.clock import MS, US

# 1 us .. 10 s, roughly 1-2-5 per decade: fine enough for p50/p99 of quotes (us) and orders (ms)
DEFAULT_BOUNDS_NS: tuple[int, ...] = tuple(
    m * d for d in (US, 10 * US, 100 * US, MS, 10 * MS, 100 * MS, 1000 * MS) for m in (1, 2, 5)
) + (10_000 * MS,)


class MetricKind(enum.Enum):
    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"


@dataclass(slots=True, frozen=True)
class HistogramSnapshot:
    bounds_ns: tuple[int, ...]  # upper bounds; one more count than bounds: the +Inf bucket
    counts: tuple[int, ...]  # per bucket, not cumulative
    count: int
    sum_ns: int

    def minus(self, earlier: HistogramSnapshot) -> HistogramSnapshot:
        """What was observed between `earlier` and this snapshot (for per-interval percentiles)."""
        counts = tuple(a - b for a, b in zip(self.counts, earlier.counts, strict=True))
        return HistogramSnapshot(self.bounds_ns, counts, self.count - earlier.count, self.sum_ns - earlier.sum_ns)

    def percentile_ns(self, q: float) -> float | None:
        """Estimated q-quantile (0 < q <= 1): linear within the bucket holding it; None when empty.
        Values past the last bound report the last bound (a floor: say so when it matters)."""
        if self.count <= 0:
            return None
        rank = q * self.count
        seen = 0
        for i, n in enumerate(self.counts):
            if n and seen + n >= rank:
                if i >= len(self.bounds_ns):
                    return float(self.bounds_ns[-1])
                lo = self.bounds_ns[i - 1] if i else 0
                return lo + (self.bounds_ns[i] - lo) * (rank - seen) / n
            seen += n
        return float(self.bounds_ns[-1])

    @property
    def mean_ns(self) -> float | None:
        return self.sum_ns / self.count if self.count else None


class LatencyHistogram:
    """Fixed buckets in ns; `observe` is a bisect and three additions."""

    __slots__ = ("bounds_ns", "counts", "count", "sum_ns")

    def __init__(self, bounds_ns: tuple[int, ...] = DEFAULT_BOUNDS_NS) -> None:
        if not bounds_ns or list(bounds_ns) != sorted(set(bounds_ns)) or bounds_ns[0] <= 0:
            raise ValueError(f"bounds_ns={bounds_ns!r}: must be positive, strictly increasing")
        self.bounds_ns = bounds_ns
        self.counts = [0] * (len(bounds_ns) + 1)
        self.count = 0
        self.sum_ns = 0

    def observe(self, ns: int) -> None:
        self.counts[bisect_left(self.bounds_ns, ns)] += 1
        self.count += 1
        self.sum_ns += ns

    def snapshot(self) -> HistogramSnapshot:
        return HistogramSnapshot(self.bounds_ns, tuple(self.counts), self.count, self.sum_ns)


@dataclass(slots=True, frozen=True)
class Metric:
    """One reading: a counter or gauge value, or a histogram snapshot, with its labels."""

    name: str
    kind: MetricKind
    help: str
    value: float | HistogramSnapshot
    labels: tuple[tuple[str, str], ...] = ()

    @property
    def series(self) -> str:
        """The series key used by the store and the alert rules: `name{k="v",...}` (labels sorted)."""
        if not self.labels:
            return self.name
        return self.name + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(self.labels)) + "}"


@runtime_checkable
class MetricSource(Protocol):
    def metrics(self) -> Iterable[Metric]: ...


def counter(name: str, help: str, value: float, **labels: str) -> Metric:
    return Metric(name, MetricKind.COUNTER, help, value, tuple(labels.items()))


def gauge(name: str, help: str, value: float, **labels: str) -> Metric:
    return Metric(name, MetricKind.GAUGE, help, value, tuple(labels.items()))


def histogram(name: str, help: str, hist: LatencyHistogram, **labels: str) -> Metric:
    return Metric(name, MetricKind.HISTOGRAM, help, hist.snapshot(), tuple(labels.items()))


@dataclass(slots=True, frozen=True)
class Sample:
    """One stored point of one series. The collector derives these from `Metric` readings:

    - a gauge `g{labels}`           -> `g{labels}` as read;
    - a counter `c_total{labels}`   -> `c_total{labels}` (cumulative) and `c_total:rate{labels}` (per second
                                       over the collection interval);
    - a histogram `h_seconds{...}`  -> `h_seconds:p50{...}`, `:p90`, `:p99` (seconds, over the interval)
                                       and `h_seconds:rate{...}` (observations per second).
    Alert rules and queries name series in exactly this form.
    """

    series: str
    ts_ns: int
    value: float


def derived(series: str, suffix: str) -> str:
    """`name{labels}` + ":p99" -> `name:p99{labels}`."""
    name, brace, rest = series.partition("{")
    return f"{name}:{suffix}{brace}{rest}"
