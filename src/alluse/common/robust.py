"""Robust location and scale, for the report's anomalies (analytics/anomalies.py) and the running system's
streaming anomaly rules (monitoring/anomaly_stream.py): one definition, so both judge a spike alike.

The scale is 1.4826 MAD (the standard deviation for Gaussian data, but not dragged by the spikes looked for).
Where the MAD is 0 (a ratio that is 0 in most samples, with a few bursts) it falls back to 1.2533 x the mean
absolute deviation from the median (also the standard deviation for Gaussian data), which is non-zero
whenever the values vary at all; and it is never below `floor` x |median|, the series' own resolution.
"""

from __future__ import annotations

import numpy as np

MAD_TO_SIGMA = 1.4826
MEAN_AD_TO_SIGMA = 1.2533


def median_and_scale(x: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """(median, robust scale) along the first axis, NaNs left out; the scale is 0 only where the values never
    varied around a median of 0."""
    median = np.nanmedian(x, axis=0)
    dev = np.abs(x - median)
    scale = MAD_TO_SIGMA * np.nanmedian(dev, axis=0)
    scale = np.where(scale == 0, MEAN_AD_TO_SIGMA * np.nanmean(dev, axis=0), scale)
    return median, np.maximum(scale, floor * np.abs(median))
