"""Prometheus text exposition of the components' readings, rendered only when scraped.

Nothing is pushed to prometheus_client on the hot path (common/metrics.py says why): components keep
plain counters and `LatencyHistogram`s, and at scrape time this exporter reads every `MetricSource`
and turns the readings into prometheus_client's custom-collector families on a private registry.
Latency histograms are kept in ns and exposed in seconds, with cumulative `le` buckets.

Formatting a few hundred series takes prometheus_client milliseconds (docs/performance.md): too long
to hold the trading loop. Reading (`read`) is one quick pass on the loop; formatting (`Scrape.chunks`)
comes in slices of `SLICE_LINES` lines so the HTTP server can hand the loop back between them.

A reading that breaks the exposition rules (a name used with two kinds, a counter without `_total`,
a duplicate series, ...) is a programming error in a source. With `strict=True` (tests) it raises
`MetricExportError`; in production it is logged once per metric name and the reading is left out,
so one bad source never fails a scrape of all the others.
"""

from __future__ import annotations

import logging
import math
import numbers
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.core import Metric as PromFamily
from prometheus_client.utils import floatToGoString

from alluse.common.metrics import HistogramSnapshot, Metric, MetricKind, MetricSource

log = logging.getLogger("alluse.monitoring.exporter")

# What generate_latest writes: the classic text format (prometheus_client's own constant moved between versions).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Legacy Prometheus names without ':' (reserved for recording rules; our store uses it for derived series).
_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
_HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")
# Exposition lines formatted between two returns to the event loop: about 1 ms of prometheus_client's work.
SLICE_LINES = 250
_NS_PER_S = 1e9

_FAMILY = {
    MetricKind.COUNTER: CounterMetricFamily,
    MetricKind.GAUGE: GaugeMetricFamily,
    MetricKind.HISTOGRAM: HistogramMetricFamily,
}


class MetricExportError(ValueError):
    """A source's reading cannot be exposed as given; names the metric and the reason."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"metric {name!r}: {reason}")
        self.name = name
        self.reason = reason


@dataclass(slots=True)
class _Family:
    """Readings of one metric name in one scrape; one label-name set per name, as every client library has."""

    kind: MetricKind
    help: str
    source: MetricSource
    labelnames: tuple[str, ...]
    series: list[tuple[list[str], Metric]] = field(default_factory=list)  # (label values, reading)
    seen: set[tuple[tuple[str, str], ...]] = field(default_factory=set)


@dataclass(slots=True)
class Scrape:
    """One scrape's readings, checked and grouped by name. Readings are frozen snapshots, so formatting them
    in slices, handing the loop back in between, still gives the values of one instant per source."""

    families: dict[str, _Family]

    def chunks(self, max_lines: int = SLICE_LINES) -> Iterator[bytes]:
        """The exposition in pieces of about `max_lines` lines (one series may exceed it), families sorted by
        name; a family too big for one piece continues in the next without repeating its HELP/TYPE lines."""
        batch: list[PromFamily] = []
        lines = 0
        for name in sorted(self.families):
            for i, (part, n) in enumerate(_parts(name, self.families[name], max_lines)):
                if i:
                    if batch:
                        yield _render(batch)
                        batch, lines = [], 0
                    yield _render([part]).split(b"\n", 2)[2]  # drop the HELP and TYPE lines already written
                    continue
                if batch and lines + n > max_lines:
                    yield _render(batch)
                    batch, lines = [], 0
                batch.append(part)
                lines += n
        if batch:
            yield _render(batch)


@dataclass(slots=True, frozen=True)
class ReadingsView:
    """A source over readings another component already holds (the collector's last tick), so a scrape
    shows them without reading, and so disturbing, what they came from."""

    read: Callable[[], Iterable[Metric]]

    def metrics(self) -> Iterator[Metric]:
        return iter(self.read())


class PrometheusExporter:
    """Reads the sources only when scraped: `read()` on the event loop, then `Scrape.chunks()` to format."""

    def __init__(self, sources: Iterable[MetricSource] = (), *, strict: bool = False) -> None:
        self._sources: list[MetricSource] = list(sources)
        self._strict = strict
        self._reported: set[str] = set()  # metric names whose problem was logged already
        self._valid_shapes: set[tuple[str, MetricKind, tuple[str, ...]]] = set()

    def add_source(self, source: MetricSource) -> None:
        self._sources.append(source)

    def render(self) -> bytes:
        """The whole text exposition (format 0.0.4) in one call, for callers not on the trading loop."""
        return b"".join(self.read().chunks())

    def read(self) -> Scrape:
        """Reads every source once and checks the readings; the only part that touches component state."""
        families: dict[str, _Family] = {}
        for source in self._sources:
            try:
                readings = list(source.metrics())
            except Exception:
                if self._strict:
                    raise
                log.exception("metric source %r failed; its readings are left out of this scrape", source)
                continue
            for m in readings:
                try:
                    self._add(families, source, m)
                except MetricExportError as exc:
                    self._problem(exc)
        return Scrape(families)

    def _add(self, families: dict[str, _Family], source: MetricSource, m: Metric) -> None:
        """Adds one reading to its family, or raises without changing anything."""
        shape = (m.name, m.kind, tuple(k for k, _ in m.labels))
        if shape not in self._valid_shapes:
            _check_shape(*shape)
            self._valid_shapes.add(shape)
        _check_values(m)
        labels = tuple(sorted(m.labels))
        labelnames = tuple(k for k, _ in labels)
        fam = families.get(m.name)
        if fam is None:
            fam = _Family(m.kind, m.help, source, labelnames)
        elif fam.kind is not m.kind:
            raise MetricExportError(
                m.name, f"is a {m.kind.value} in {source!r} but a {fam.kind.value} in {fam.source!r}"
            )
        elif fam.labelnames != labelnames:
            raise MetricExportError(
                m.name, f"label names {list(labelnames)} in {source!r} differ from {list(fam.labelnames)} seen first"
            )
        elif labels in fam.seen:
            raise MetricExportError(m.name, f"duplicate series with labels {dict(labels)!r} (from {source!r})")
        families[m.name] = fam
        fam.seen.add(labels)
        fam.series.append(([v for _, v in labels], m))

    def _problem(self, exc: MetricExportError) -> None:
        if self._strict:
            raise exc
        if exc.name not in self._reported:
            self._reported.add(exc.name)
            log.error("%s; reading left out of /metrics (logged once per metric)", exc)


def _check_shape(name: str, kind: MetricKind, labelnames: tuple[str, ...]) -> None:
    """Naming rules; the error names the metric and the offending part. Shapes repeat every scrape: cached."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise MetricExportError(str(name), "name must match [a-zA-Z_][a-zA-Z0-9_]* (no ':')")
    if (kind is MetricKind.COUNTER) != name.endswith("_total"):
        raise MetricExportError(name, "counters, and only counters, end in '_total'")
    if kind is MetricKind.HISTOGRAM and not name.endswith("_seconds"):
        raise MetricExportError(name, "histograms are exposed in seconds: the name must end in '_seconds'")
    if kind is not MetricKind.HISTOGRAM and name.endswith(_HISTOGRAM_SUFFIXES):
        raise MetricExportError(name, f"names ending in {_HISTOGRAM_SUFFIXES} are reserved for histograms")
    for label in labelnames:
        if not isinstance(label, str) or not _LABEL.match(label) or label.startswith("__"):
            raise MetricExportError(name, f"label name {label!r} is invalid or reserved")
        if kind is MetricKind.HISTOGRAM and label == "le":
            raise MetricExportError(name, "label name 'le' is reserved for histogram buckets")
    if len(set(labelnames)) != len(labelnames):
        raise MetricExportError(name, f"label names {list(labelnames)} repeat a name")


def _check_values(m: Metric) -> None:
    if m.kind is MetricKind.HISTOGRAM:
        snap = m.value
        if not isinstance(snap, HistogramSnapshot) or len(snap.counts) != len(snap.bounds_ns) + 1:
            raise MetricExportError(m.name, f"value={snap!r}: needs a HistogramSnapshot with len(bounds_ns)+1 counts")
    else:
        value = m.value
        # float apart: numbers.Real takes numpy's numbers too, but a type checker does not count float among them
        if isinstance(value, HistogramSnapshot) or not isinstance(value, (float, numbers.Real)):
            raise MetricExportError(m.name, f"value={value!r}: a {m.kind.value} needs a number")
        if m.kind is MetricKind.COUNTER and not (0 <= value < math.inf):
            raise MetricExportError(m.name, f"value={value!r}: a counter must be finite and >= 0")
    for label, text in m.labels:
        if not isinstance(text, str):
            raise MetricExportError(m.name, f"label {label}={text!r}: label values must be str")


def _parts(name: str, fam: _Family, max_lines: int) -> Iterator[tuple[PromFamily, int]]:
    """The family as prometheus_client families of at most `max_lines` exposition lines each (or one series),
    with the line count of each; the first one's count includes its HELP and TYPE lines."""
    part, lines, empty = _FAMILY[fam.kind](name, fam.help, labels=fam.labelnames), 2, True
    for values, m in fam.series:
        snap = m.value
        n = len(snap.counts) + 2 if isinstance(snap, HistogramSnapshot) else 1  # buckets, _count, _sum
        if not empty and lines + n > max_lines:
            yield part, lines
            part, lines = _FAMILY[fam.kind](name, fam.help, labels=fam.labelnames), 0
        if isinstance(snap, HistogramSnapshot):
            part.add_metric(values, _buckets(snap), sum_value=snap.sum_ns / _NS_PER_S)
        else:
            part.add_metric(values, snap)
        lines += n
        empty = False
    yield part, lines


class _Batch:
    """A custom collector over families already built: what the private registry hands generate_latest."""

    __slots__ = ("families",)

    def __init__(self, families: list[PromFamily]) -> None:
        self.families = families

    def collect(self) -> Iterator[PromFamily]:
        return iter(self.families)


def _render(families: list[PromFamily]) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Batch(families))
    return generate_latest(registry)


def _buckets(snap: HistogramSnapshot) -> list[tuple[str, float]]:
    """Per-bucket ns counts -> cumulative counts under `le` bounds in seconds, ending with +Inf."""
    total = 0
    out: list[tuple[str, float]] = []
    for le, n in zip(_le_labels(snap.bounds_ns), snap.counts, strict=True):
        total += n
        out.append((le, total))
    return out


@lru_cache(maxsize=64)
def _le_labels(bounds_ns: tuple[int, ...]) -> tuple[str, ...]:
    """Bucket labels for one bound set; few distinct sets exist, so they are formatted once."""
    return tuple(floatToGoString(b / _NS_PER_S) for b in bounds_ns) + ("+Inf",)
