"""When did the system behave unlike itself? Per-series robust outliers plus multivariate windows.

Series differ wildly in scale (bytes next to ratios), so everything is compared in robust z-scores:
(x - median) / scale, with the scale of common/robust.py (1.4826 MAD, or 1.2533 mean absolute deviation
where the MAD is 0), the one the running system's streaming anomaly rules use too.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from sklearn.ensemble import IsolationForest

from alluse.analytics.results import NS_PER_S, Anomalies, AnomalyWindow, Grid, Outlier, Skipped, Standout, TooShort
from alluse.common.robust import median_and_scale

log = logging.getLogger("alluse.analytics")

_RESOLUTION = 1e-9  # relative: smaller differences from the median are not variation
_STANDOUTS = 3


def _robust_z(x: np.ndarray) -> np.ndarray:
    """(x - median) / (1.4826 MAD) per column, or / (1.2533 mean |x - median|) where the MAD is 0 (see the
    module docstring), never below _RESOLUTION x |median|; every column must hold at least two distinct
    finite values, so the scale is > 0."""
    # differences far below the values' own size are floating-point noise (a histogram percentile read
    # as 0.000955 and 0.0009550000000000001), not variation: without this floor one such step scored z 3e15
    median, scale = median_and_scale(x, _RESOLUTION)
    return (x - median) / scale


def _outliers(
    names: list[str], times: np.ndarray, x: np.ndarray, z: np.ndarray, beyond: np.ndarray, limit: int
) -> list[Outlier]:
    rows, cols = np.nonzero(beyond)
    order = np.argsort(-np.abs(z[rows, cols]), kind="stable")[:limit]
    return [
        Outlier(names[j], int(times[i]), float(x[i, j]), float(z[i, j]))
        for i, j in zip(rows[order], cols[order], strict=True)
    ]


def _standouts(names: list[str], x_row: np.ndarray, z_row: np.ndarray) -> list[Standout]:
    present = np.flatnonzero(np.isfinite(z_row))
    top = present[np.argsort(-np.abs(z_row[present]), kind="stable")[:_STANDOUTS]]
    return [Standout(names[j], float(x_row[j]), float(z_row[j])) for j in top]


def find_anomalies(
    grid: Grid,
    *,
    contamination: float,
    robust_threshold: float,
    seed: int,
    min_rows: int,
    max_outliers: int = 100,
) -> Anomalies | Skipped:
    """Robust per-series outliers (|robust z| > robust_threshold, at most max_outliers, largest first, with
    every series' full count so a capped list does not hide how many there were) and
    IsolationForest windows over the rows with data: consecutive flagged bins merge into one window,
    scored by its worst bin, with the series that stand out most there.

    The forest sees the z matrix with gaps filled forward then backward in time, so a series that is
    missing for a while, or appears mid-window, looks ordinary where it is absent instead of anomalous.
    Constant and empty series carry no information and are left out."""
    finite = np.isfinite(grid.values)
    x = np.where(finite, grid.values, np.nan)
    lowest = np.where(finite, x, np.inf).min(axis=0, initial=np.inf)
    highest = np.where(finite, x, -np.inf).max(axis=0, initial=-np.inf)
    varies = lowest < highest
    if not varies.any():
        return Skipped("anomalies", None, f"none of the {x.shape[1]} series varies in the window (constant or empty)")
    names = [n for n, keep in zip(grid.names, varies, strict=True) if keep]
    x = x[:, varies]
    data_rows = np.flatnonzero(np.isfinite(x).any(axis=1))
    if data_rows.size < min_rows:
        step_s = grid.step_ns / NS_PER_S
        return Skipped(
            "anomalies",
            None,
            f"{data_rows.size} bins of {step_s:g} s hold data: too short, anomaly detection needs {min_rows}",
            TooShort(data_rows.size * step_s, min_rows * step_s, int(data_rows.size), min_rows),
        )

    z = _robust_z(x)
    beyond = np.abs(z) > robust_threshold  # NaN (a gap) compares False
    outliers = _outliers(names, grid.times_ns, x, z, beyond, max_outliers)
    counts = beyond.sum(axis=0)

    features = pd.DataFrame(z[data_rows]).ffill().bfill().to_numpy()
    forest = IsolationForest(contamination=contamination, random_state=seed, n_estimators=100).fit(features)
    raw = forest.score_samples(features)
    flagged = raw < forest.offset_  # exactly predict() == -1, without scoring the rows twice
    bins, bin_scores = data_rows[flagged], -raw[flagged]

    windows = []
    for run in np.split(np.arange(bins.size), np.flatnonzero(np.diff(bins) != 1) + 1):
        if run.size == 0:
            continue
        worst = run[np.argmax(bin_scores[run])]
        windows.append(
            AnomalyWindow(
                start_ns=int(grid.times_ns[bins[run[0]]]),
                end_ns=int(grid.times_ns[bins[run[-1]]]) + grid.step_ns,
                score=float(bin_scores[worst]),
                standouts=_standouts(names, x[bins[worst]], z[bins[worst]]),
            )
        )
    windows.sort(key=lambda w: w.score, reverse=True)
    log.debug(
        "anomalies: %d series x %d bins: %d windows, %d outliers",
        len(names),
        data_rows.size,
        len(windows),
        int(counts.sum()),
    )
    return Anomalies(
        step_s=grid.step_ns / NS_PER_S,
        contamination=contamination,
        robust_threshold=robust_threshold,
        series_used=names,
        windows=windows,
        outliers=outliers,
        outlier_counts={name: int(c) for name, c in zip(names, counts, strict=True) if c},
    )
