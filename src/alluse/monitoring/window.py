"""The last `span_s` of one series' samples, for the streaming detectors (prediction.py, anomaly_stream.py).

Kept in two numpy arrays (wall time in ns, value) whose live part is one contiguous slice: a detector reads
it as views, without copying, once a collector interval. Samples join at the end and leave from the front;
when the end of the arrays is reached the live part moves to the front (or the arrays double), so a run of
any length costs O(1) amortised per sample and memory in proportion to the window.
"""

from __future__ import annotations

import numpy as np

from alluse.common.clock import NS


class TimeWindow:
    """Samples in strictly increasing time: one no later than the newest (the wall clock stepped back) is
    refused, so the window stays sorted and a detector's line never sees time run backwards."""

    __slots__ = ("span_ns", "_t", "_v", "_start", "_end")

    def __init__(self, span_s: float, capacity: int = 64) -> None:
        if not span_s > 0 or capacity < 1:
            raise ValueError(f"span_s={span_s!r} capacity={capacity!r}: both must be positive")
        self.span_ns = round(span_s * NS)
        self._t = np.empty(capacity, np.int64)
        self._v = np.empty(capacity, np.float64)
        self._start = self._end = 0

    def __len__(self) -> int:
        return self._end - self._start

    @property
    def times_ns(self) -> np.ndarray:
        return self._t[self._start : self._end]

    @property
    def values(self) -> np.ndarray:
        return self._v[self._start : self._end]

    @property
    def span_s(self) -> float:
        """From the oldest sample to the newest (0 with fewer than two)."""
        return float(self._t[self._end - 1] - self._t[self._start]) / NS if len(self) > 1 else 0.0

    def trim(self, now_ns: int) -> None:
        """Forget the samples older than the window ending at `now_ns`: it keeps (now - span, now]."""
        cut = np.searchsorted(self.times_ns, now_ns - self.span_ns, side="right")
        self._start += int(cut)

    def add(self, ts_ns: int, value: float) -> bool:
        """Append a sample and trim to the window ending at it; False (nothing changed) if it is not newer."""
        if len(self) and ts_ns <= self._t[self._end - 1]:
            return False
        if self._end == len(self._t):
            self._make_room()
        self._t[self._end] = ts_ns
        self._v[self._end] = value
        self._end += 1
        self.trim(ts_ns)
        return True

    def _make_room(self) -> None:
        live = len(self)
        if 2 * live > len(self._t):  # more than half full: grow, or moving would come back at once
            t, v = np.empty(2 * len(self._t), np.int64), np.empty(2 * len(self._v), np.float64)
        else:
            t, v = self._t, self._v
        t[:live] = self.times_ns  # an overlapping move to the front copies correctly (numpy buffers the copy)
        v[:live] = self.values
        self._t, self._v, self._start, self._end = t, v, 0, live
