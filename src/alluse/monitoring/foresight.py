"""Predictive and streaming-anomaly rules as ordinary alert rules, over series derived from the collector's.

Between the collector and the alert engine: each interval, every detector (a `Predictor`, prediction.py;
an `AnomalyDetector`, anomaly_stream.py) takes its series' new value, if any, and may derive one of its own
(the forecast at the horizon, the anomaly score) under `<metric>:predicted{rule=...}` or
`<metric>:anomaly_z{rule=...}`, with a note saying what it means now. The engine evaluates the rules over
those series like any other, so they get its states (pending, firing, resolved), history and notifiers; the
note leads each event's description and the series' suffix marks the event "predicted" or "anomaly"
(`AlertEvent.kind`). A detector with too little data derives nothing, which the engine reads as no data.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Protocol

from alluse.monitoring.anomaly_stream import AnomalyDetector
from alluse.monitoring.config import AlertRuleConfig, AnomalyRuleConfig, PredictiveRuleConfig
from alluse.monitoring.prediction import Predictor


class Reading(Protocol):
    """What a detector derived this interval: the value of its series and what it means."""

    @property
    def value(self) -> float: ...

    def note(self) -> str: ...


class Detector(Protocol):
    @property
    def metric(self) -> str: ...  # the series it watches

    @property
    def rule(self) -> AlertRuleConfig: ...  # the alert rule over the series it derives

    def observe(self, now_ns: int, value: float) -> Reading | None: ...


class _Notes(Mapping[str, str]):
    """The readings' notes, written only for the series an event asks about (events are rare, ticks are not)."""

    def __init__(self, readings: dict[str, Reading]) -> None:
        self._readings = readings

    def __getitem__(self, series: str) -> str:
        return self._readings[series].note()

    def __iter__(self) -> Iterator[str]:
        return iter(self._readings)

    def __len__(self) -> int:
        return len(self._readings)


class Foresight:
    def __init__(self, predictive: Iterable[PredictiveRuleConfig] = (), anomaly: Iterable[AnomalyRuleConfig] = ()):
        self.detectors: list[Detector] = [*map(Predictor, predictive), *map(AnomalyDetector, anomaly)]

    def rules(self) -> list[AlertRuleConfig]:
        """The alert engine's rules for the detectors, one each."""
        return [d.rule for d in self.detectors]

    def derive(self, values: Mapping[str, float], now_ns: int) -> tuple[dict[str, float], Mapping[str, str]]:
        """`values` with every detector's reading added under its series, and the readings' notes."""
        out = dict(values)
        readings: dict[str, Reading] = {}
        for d in self.detectors:
            v = values.get(d.metric)
            if v is None:
                continue
            reading = d.observe(now_ns, v)
            if reading is not None:
                out[d.rule.metric] = reading.value
                readings[d.rule.metric] = reading
        return out, _Notes(readings)
