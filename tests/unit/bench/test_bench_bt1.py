"""BT-1 measures what it says: the sessions it ran, at a rate that projects the year, and the targets and goals
find their figures; NautilusTrader's side streams the same session's quotes (where it is installed)."""

import pytest

from alluse.bench.bt1 import YEAR_SESSIONS, bt1_figures, last_day, one_session_of_quotes, rss_slope
from alluse.bench.figures import OPTIMISED
from alluse.bench.targets import GOALS, TARGETS


def test_bt1_runs_whole_sessions_of_the_wheel_and_projects_the_year():
    figures = {f.name: f for f in bt1_figures(True)}
    rate = figures["sessions per second"].value
    assert rate > 0 and figures["a simulated year"].value == pytest.approx(YEAR_SESSIONS / rate)
    assert figures["quote events per second"].value > 1_000 and figures["peak RSS"].value > 10
    assert all(f.variant == OPTIMISED and f.workload == "BT-1" for f in figures.values())
    judged = {t.name for t in (*TARGETS, *GOALS) if t.workload == "BT-1"}
    assert judged <= figures.keys()


def test_the_sessions_counted_follow_the_calendar_and_the_slope_is_least_squares():
    assert str(last_day(1)) == "2026-01-05" and str(last_day(11)) == "2026-01-20"  # Martin Luther King Day skipped
    assert rss_slope([100, 110, 120, 130]) == pytest.approx(10.0)


def test_one_session_of_quotes_is_a_second_of_stocks_and_a_minute_of_chains():
    quotes = one_session_of_quotes()
    stocks = [q for q in quotes if len(q.instrument_id) <= 6]
    assert len(stocks) == 5 * 23_400  # five underlyings, every second of 6.5 hours
    assert len(quotes) - len(stocks) >= 390 * 500  # chains every minute (more strikes as the spots move)


def test_nautilus_streams_the_same_quotes():
    nautilus = pytest.importorskip("alluse.bench.nautilus")
    pytest.importorskip("nautilus_trader")
    (figure,) = nautilus.nautilus_bt1_figures(True)
    assert figure.workload == "BT-1" and figure.name == "quote events per second" and figure.value > 0
