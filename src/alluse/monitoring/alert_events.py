"""An alert's states and the FIRING/RESOLVED event that is notified and stored (engine, history and
notifiers all speak it, so it lives apart from each of them)."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from alluse.common.clock import NS, ns_to_datetime
from alluse.monitoring.series import kind_of

CLOSED = "closed"  # the description of a RESOLVED event the engine made to close an episode (not the value)


class AlertStatus(enum.Enum):
    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(slots=True, frozen=True)
class AlertEvent:
    """A FIRING or RESOLVED transition: what is notified and stored. `threshold` is the line the
    value crossed (the clear threshold for RESOLVED); `started_ns` is when the episode fired.
    `kind` follows from the series: a predictive or anomaly rule's events say so wherever they go."""

    rule: str
    severity: str
    state: AlertStatus
    metric: str
    comparison: str
    value: float
    threshold: float
    ts_ns: int
    started_ns: int
    description: str = ""

    @property
    def kind(self) -> str:
        """ "threshold", "predicted" (a forecast crossed the line) or "anomaly" (a value far from its normal)."""
        return kind_of(self.metric)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready (strict JSON: a non-finite value becomes a string)."""
        return {
            "rule": self.rule,
            "state": self.state.value,
            "kind": self.kind,
            "severity": self.severity,
            "metric": self.metric,
            "comparison": self.comparison,
            "value": self.value if math.isfinite(self.value) else str(self.value),
            "threshold": self.threshold,
            "ts": ns_to_datetime(self.ts_ns).isoformat(),
            "ts_ns": self.ts_ns,
            "started_ns": self.started_ns,
            "description": self.description,
        }

    def summary(self) -> str:
        """One line for logs and the console."""
        cond = f"{self.metric} {self.comparison} {self.threshold:g}"
        if self.state is AlertStatus.RESOLVED:
            lasted = (self.ts_ns - self.started_ns) / NS
            if self.description.startswith(CLOSED):  # not cleared by its value: closed, and why
                return f"RESOLVED {self.rule}: {self.description}; lasted {lasted:.0f} s"
            past = f"past {self.threshold:g}; lasted {lasted:.0f} s"
            return f"RESOLVED {self.rule}: {self.metric} = {self.value:g} ({past})"
        marks = self.severity if self.kind == "threshold" else f"{self.severity}, {self.kind}"
        return f"FIRING [{marks}] {self.rule}: {cond} (value {self.value:g}) {self.description}".rstrip()
