"""Market hours from the exchange calendar: holidays, early closes, weekends, DST, weekly expiries."""

from datetime import UTC, date, datetime

import pytest

from alluse.common.clock import NS, datetime_to_ns
from alluse.common.market_hours import AlwaysOpen, load_market_hours

HOUR = 3600 * NS


def utc(*args: int) -> int:
    return datetime_to_ns(datetime(*args, tzinfo=UTC))


@pytest.fixture(scope="module")
def xnys():
    return load_market_hours("XNYS", date(2026, 1, 1), date(2027, 12, 31))


def test_regular_hours_are_9_30_to_16_new_york_in_winter_and_summer_time(xnys):
    assert not xnys.is_open(utc(2026, 1, 6, 14, 29)) and xnys.is_open(utc(2026, 1, 6, 14, 30))  # 9:30 EST
    assert xnys.is_open(utc(2026, 1, 6, 20, 59)) and not xnys.is_open(utc(2026, 1, 6, 21, 0))  # 16:00 EST
    assert xnys.is_open(utc(2026, 7, 7, 13, 30)) and not xnys.is_open(utc(2026, 7, 7, 20, 0))  # EDT: an hour earlier


def test_a_holiday_has_no_session(xnys):
    thanksgiving = utc(2026, 11, 26, 17, 0)
    assert not xnys.is_open(thanksgiving)
    assert xnys.next_open(thanksgiving) == utc(2026, 11, 27, 14, 30)
    assert xnys.close_on(date(2026, 11, 26)) is None
    assert date(2026, 11, 26) not in xnys.session_days(date(2026, 11, 23), date(2026, 11, 27))


def test_an_early_close_ends_the_session_at_13_new_york(xnys):
    assert xnys.close_on(date(2026, 11, 27)) == utc(2026, 11, 27, 18, 0)  # the day after Thanksgiving
    assert xnys.is_open(utc(2026, 11, 27, 17, 59)) and not xnys.is_open(utc(2026, 11, 27, 18, 0))
    assert xnys.next_close(utc(2026, 11, 27, 15, 0)) == utc(2026, 11, 27, 18, 0)


def test_the_weekend_is_closed_and_the_next_open_is_monday(xnys):
    saturday = utc(2026, 12, 5, 15, 0)
    assert not xnys.is_open(saturday)
    assert xnys.next_open(saturday) == utc(2026, 12, 7, 14, 30)
    assert xnys.next_close(saturday) == utc(2026, 12, 7, 21, 0)


def test_weekly_expiry_is_friday_or_the_thursday_before_a_friday_holiday(xnys):
    assert xnys.weekly_expiry(date(2026, 12, 11)) == date(2026, 12, 11)
    assert xnys.weekly_expiry(date(2027, 3, 26)) == date(2027, 3, 25)  # Good Friday
    assert xnys.weekly_expiry(date(2026, 12, 25)) == date(2026, 12, 24)  # Christmas


def test_open_time_counts_only_sessions(xnys):
    friday_noon, monday_noon = utc(2026, 12, 4, 17, 0), utc(2026, 12, 7, 17, 0)
    # from noon to Friday's close (16:00 EST), then from Monday's open to noon
    assert xnys.open_ns_between(friday_noon, monday_noon) == 4 * HOUR + 2.5 * HOUR
    assert xnys.open_ns_between(monday_noon, friday_noon) == 0


def test_always_open_has_a_daily_close_and_friday_expiries():
    hours = AlwaysOpen(close_hour_utc=20)
    assert hours.is_open(utc(2026, 12, 5, 3, 0))
    assert hours.next_close(utc(2026, 12, 5, 3, 0)) == utc(2026, 12, 5, 20, 0)
    assert hours.next_close(utc(2026, 12, 5, 20, 0)) == utc(2026, 12, 6, 20, 0)
    assert hours.weekly_expiry(date(2026, 12, 25)) == date(2026, 12, 25)


def test_an_unknown_calendar_is_named():
    with pytest.raises(ValueError, match="market.calendar = 'XLON'"):
        load_market_hours("XLON", date(2026, 1, 1), date(2026, 2, 1))
