"""Streaming anomaly detection: is a series' newest sample far from its own recent normal?

Per rule, each new sample is scored against the series' samples of the previous `window_s` (never itself:
a spike must not widen the spread it is judged by) in robust z-scores, (x - median) / scale with
scale = 1.4826 MAD, which is the standard deviation for Gaussian data but is not dragged by the spikes
looked for. Where the MAD is 0 (a series at one value most of the time, with bursts) the scale falls back to
1.2533 x the mean absolute deviation from the median, as the report's anomalies do (common/robust.py).
The scale is never below the rule's `min_relative_scale` x |median|, the series' resolution: a histogram
percentile read off buckets a factor 2 apart, or RSS steady to 0.1 %, would otherwise score one ordinary step
z 100; a window that never varied around 0 has no scale and gives no score. Only then does the sample join the
window, so a lasting change becomes the new normal once it fills half the window: levels are the threshold
rules' job.

The rule's series (`<metric>:anomaly_z{rule=...}`) is the score signed to the bad side: z for `high`,
-z for `low`, |z| for `both`; the rule fires when it passes `z_threshold` for `for_s`. No score before
the window holds `min_points` samples (no value: the rule neither fires nor resets).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from alluse.common.clock import NS
from alluse.common.robust import median_and_scale
from alluse.monitoring.config import AlertRuleConfig, AnomalyRuleConfig
from alluse.monitoring.series import ANOMALY_Z, of_rule
from alluse.monitoring.window import TimeWindow


def robust_z(window: np.ndarray, x: float, floor: float) -> tuple[float, float, float] | None:
    """(z, median, scale) of `x` against the samples in `window`, the scale at least `floor` x |median|;
    None if that is 0 (the window never varied, around 0)."""
    center, spread = median_and_scale(window, floor)
    median, scale = float(center), float(spread)
    if scale == 0:
        return None
    return (x - median) / scale, median, scale


@dataclass(slots=True, frozen=True)
class Score:
    """One sample's score: `value` (the rule's series, signed to the bad side) and what it was judged by."""

    metric: str
    value: float
    x: float
    z: float
    median: float
    scale: float
    points: int
    span_s: float

    def note(self) -> str:
        """What the alert's description leads with."""
        return (
            f"anomaly: {self.metric} = {self.x:.4g}, robust z {self.z:+.1f} against the median {self.median:.4g} "
            f"(robust sd {self.scale:.3g}) of the {self.points} samples of the previous {self.span_s / 60:.1f} min"
        )


class AnomalyDetector:
    """One anomaly rule: the window of its series and the alert rule over the score it derives."""

    def __init__(self, cfg: AnomalyRuleConfig) -> None:
        self.cfg = cfg
        self.metric = cfg.metric
        self.rule = AlertRuleConfig(
            name=cfg.name,
            metric=of_rule(cfg.metric, ANOMALY_Z, cfg.name),
            comparison=">",
            threshold=cfg.z_threshold,
            for_s=cfg.for_s,
            severity=cfg.severity,
            description=cfg.description
            or f"{cfg.metric} more than {cfg.z_threshold:g} robust sd from its normal ({cfg.side})",
        )
        self.window = TimeWindow(cfg.window_s)

    def observe(self, now_ns: int, value: float) -> Score | None:
        """Take the series' newest sample; its score against the samples before it, or None (too few, no spread)."""
        w = self.window
        if not math.isfinite(value) or not w.add(now_ns, value):  # joins now, but is judged without itself
            return None
        past = w.values[:-1]
        if len(past) < self.cfg.min_points:
            return None
        scored = robust_z(past, value, self.cfg.min_relative_scale)
        if scored is None:
            return None
        z, median, scale = scored
        side = self.cfg.side
        signed = z if side == "high" else -z if side == "low" else abs(z)
        times = w.times_ns
        return Score(self.cfg.metric, signed, value, z, median, scale, len(past), float(times[-2] - times[0]) / NS)
