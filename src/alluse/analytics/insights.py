"""Short sentences from the data: the largest regression, the worst anomaly, a forecast that crosses a
target. Each names its series and quotes the figures it rests on; nothing is said that the report's
numbers do not show."""

from __future__ import annotations

from collections.abc import Sequence

from alluse.analytics.config import TargetConfig
from alluse.analytics.results import NS_PER_S, Anomalies, Forecast, Insight, Trend
from alluse.analytics.units import display, p_text, short_name
from alluse.common.clock import ns_to_datetime


def _clock(ts_ns: int) -> str:
    return f"{ns_to_datetime(ts_ns):%H:%M:%S}"


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def regression(trends: Sequence[Trend]) -> Insight | None:
    """The worsening trend with the largest change over the window."""
    worse = [t for t in trends if t.worsening and t.relative_change is not None]
    if not worse:
        return None
    t = max(worse, key=lambda t: abs(t.relative_change or 0.0))
    slope = display(t.series, abs(t.slope_per_hour))
    verb = "rising" if t.slope_per_hour > 0 else "falling"
    return Insight(
        "regression",
        t.series,
        f"largest regression: {short_name(t.series)} is {verb} {slope} per hour "
        f"({t.relative_change:+.0%} of its mean over the window, {p_text(t.p_value)}, R²={t.r2:.2f})",
    )


def worst_anomaly(anomalies: Anomalies | None) -> Insight | None:
    """The most anomalous window and what stood out in it; else the largest single-series outlier."""
    if anomalies is None:
        return None
    if anomalies.windows:
        w = anomalies.windows[0]
        parts = [
            f"{short_name(s.series)} {display(s.series, s.value)} (robust z {s.robust_z:+.1f})" for s in w.standouts
        ]
        detail = ": " + ", ".join(parts) if parts else ""
        when = f"{_clock(w.start_ns)}-{_clock(w.end_ns)} UTC (score {w.score:.2f}){detail}"
        # IsolationForest flags its `contamination` share of bins in any data, so on a quiet run its
        # "worst" window is merely the least ordinary one: say so rather than call it an anomaly.
        if all(abs(s.robust_z) <= anomalies.robust_threshold for s in w.standouts):
            when += (
                f"; no series beyond robust z {anomalies.robust_threshold:g} there (the forest flags "
                f"{anomalies.contamination:.0%} of bins in any data)"
            )
            return Insight("anomaly", w.standouts[0].series if w.standouts else None, f"most unusual window {when}")
        return Insight("anomaly", w.standouts[0].series, f"worst anomaly {when}")
    if anomalies.outliers:
        o = anomalies.outliers[0]
        return Insight(
            "outlier",
            o.series,
            f"largest outlier: {short_name(o.series)} {display(o.series, o.value)} at {_clock(o.ts_ns)} UTC "
            f"(robust z {o.robust_z:+.1f})",
        )
    return None


def forecast_breaches(forecasts: Sequence[Forecast], targets: Sequence[TargetConfig]) -> list[Insight]:
    """Forecasts whose mean (or, failing that, 95% band) crosses a target's limit within the horizon."""
    out = []
    by_series = {f.series: f for f in forecasts}
    for target in targets:
        f = by_series.get(target.series)
        if f is None or not f.mean:
            continue
        if target.at_most is not None:
            limit, mean_hit, band = target.at_most, [m > target.at_most for m in f.mean], f.hi95
            band_hit = [b > target.at_most for b in band]
        else:
            assert target.at_least is not None
            limit, mean_hit, band = target.at_least, [m < target.at_least for m in f.mean], f.lo95
            band_hit = [b < target.at_least for b in band]
        start = f.ts_ns[0] - int(f.step_s * NS_PER_S)  # the last observed bin
        if any(mean_hit):
            i, how = mean_hit.index(True), "is forecast to cross"
        elif any(band_hit):
            i, how = band_hit.index(True), "may cross (95% band)"
        else:
            continue
        after = (f.ts_ns[i] - start) / NS_PER_S
        out.append(
            Insight(
                "forecast_breach",
                f.series,
                f"{short_name(f.series)} {how} its target {target.name} ({display(f.series, limit)}) in about "
                f"{_minutes(after)} ({f.model}, held-out error {display(f.series, f.holdout_mae)})",
            )
        )
    return out


def insights(
    trends: Sequence[Trend],
    anomalies: Anomalies | None,
    forecasts: Sequence[Forecast],
    targets: Sequence[TargetConfig],
) -> list[Insight]:
    found = [i for i in (regression(trends), worst_anomaly(anomalies)) if i is not None]
    found += forecast_breaches(forecasts, targets)
    if not found:
        found.append(Insight("none", None, "no worsening trend, anomaly or forecast breach in the window"))
    return found
