"""The rubric gives the documented grade for the documented inputs (docs/report.md, "Worked example")."""

import pytest

from alluse.analytics.config import TargetConfig
from alluse.analytics.grading import CRITICAL_CAP, DEFAULT_TARGETS, LETTERS, band, grade, score_check, score_text
from alluse.analytics.results import SeriesStats


def stats(series: str, **values: float) -> SeriesStats:
    base = dict(count=10, mean=0.0, std=0.0, min=0.0, p50=0.0, p95=0.0, p99=0.0, max=0.0, first_ns=0, last_ns=1)
    base.update(values)
    return SeriesStats(series=series, **base)


TARGETS = [
    TargetConfig(component="trading", name="latency", series="lat", statistic="p95", at_most=0.005),
    TargetConfig(component="trading", name="errors", series="err", statistic="mean", at_most=0.02),
    TargetConfig(component="resources", name="cpu", series="cpu", statistic="p95", at_most=80),
    TargetConfig(component="resources", name="memory", series="rss", statistic="max", at_most=2**30),
    TargetConfig(component="broker", name="connected", series="conn", statistic="mean", at_least=0.99),
    TargetConfig(component="monitoring", name="store", series="store", statistic="min", at_least=1),
]
MEASURED = {
    "lat": stats("lat", p95=0.004),  # met
    "err": stats("err", mean=0.024),  # missed by 0.004 <= 0.25 x 0.02: near
    "cpu": stats("cpu", p95=95.0),  # missed by 15 <= 20: near
    "rss": stats("rss", max=2**29),  # met
    "conn": stats("conn", mean=0.98),  # missed by 0.01 <= 0.2475: near
    # "store": no data
}


def test_the_worked_example_of_the_documentation():
    g = grade(MEASURED, TARGETS)
    by = {h.component: h for h in g.components}
    assert (by["trading"].score, by["trading"].status) == (75.0, "degraded")
    assert (by["resources"].score, by["resources"].status) == (75.0, "degraded")
    assert (by["broker"].score, by["broker"].status) == (50.0, "unhealthy")
    assert (by["monitoring"].score, by["monitoring"].status) == (None, "no data")
    assert g.score == pytest.approx(200 / 3)
    assert g.letter == "D"
    assert [c.status for c in by["trading"].checks] == ["met", "near"]
    assert by["trading"].checks[1].measured == 0.024 and by["trading"].checks[1].target == 0.02


def test_a_critical_alert_caps_a_perfect_score_at_c():
    perfect = {k: v for k, v in MEASURED.items()}
    perfect.update(err=stats("err", mean=0.0), cpu=stats("cpu", p95=10.0), conn=stats("conn", mean=1.0))
    assert grade(perfect, TARGETS).letter == "A"
    capped = grade(perfect, TARGETS, critical_alerts=1)
    assert (capped.letter, capped.score, capped.critical_alerts) == ("C", CRITICAL_CAP, 1)


def test_a_miss_beyond_the_tolerance_scores_zero_and_at_least_targets_work_the_other_way():
    t = TargetConfig(component="x", name="hit", series="h", statistic="mean", at_least=0.9, tolerance=0.1)
    assert score_check(t, stats("h", mean=0.95)).status == "met"
    assert score_check(t, stats("h", mean=0.85)).status == "near"  # 0.05 <= 0.09
    assert score_check(t, stats("h", mean=0.5)).score == 0.0
    assert score_check(t, None).status == "no data"


@pytest.mark.parametrize(
    "score,letter", [(90.0, "A"), (89.99, "B"), (80.0, "B"), (70.0, "C"), (60.0, "D"), (59.9, "F"), (0.0, "F")]
)
def test_letter_boundaries(score, letter):
    assert band(score, LETTERS, "F") == letter


def test_no_data_anywhere_is_not_a_grade():
    g = grade({}, DEFAULT_TARGETS)
    assert (g.letter, g.score) == ("n/a", None)
    assert all(h.status == "no data" for h in g.components)


def test_bad_targets_are_refused_naming_the_field():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="exactly one of at_most, at_least"):
        TargetConfig(component="c", name="n", series="s", at_most=1, at_least=0)
    with pytest.raises(ValidationError, match="statistic"):
        TargetConfig(component="c", name="n", series="s", statistic="median", at_most=1)


@pytest.mark.parametrize(
    "score,decimals,shown", [(89.96, 0, "89"), (89.96, 1, "89.9"), (90.0, 0, "90"), (75.0, 1, "75.0")]
)
def test_a_shown_score_never_rounds_up_past_its_letter(score, decimals, shown):
    assert score_text(score, decimals) == shown
    assert band(float(shown), LETTERS, "F") == band(score, LETTERS, "F")
