"""When the market is open: regular sessions from an exchange calendar, as plain sorted integers.

The holidays and early closes come from `exchange_calendars` (XNYS: US equity options follow the NYSE's
regular hours, 9:30-16:00 America/New_York). That library brings pandas, so it is read once when a
process starts (`load_market_hours`) and the trading path only bisects two lists of nanosecond times.
`AlwaysOpen` is the 24/7 market of benchmarks and of tests that are not about sessions.
"""

from __future__ import annotations

import warnings
from bisect import bisect_left, bisect_right
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from alluse.common.clock import NS, datetime_to_ns

DAY_NS = 86_400 * NS
CALENDAR_YEAR_NS = 365 * DAY_NS
TRADING_YEAR_NS = 252 * 23_400 * NS  # 252 sessions of 6.5 hours: a year of open market
ALWAYS = "24/7"
CALENDARS = ("XNYS", ALWAYS)


class MarketHours:
    """Sessions as parallel sorted lists of open and close times (ns since the epoch, UTC).

    Outside the loaded range the market is closed: a run that outlives it stops trading rather than
    inventing sessions (the loader covers years ahead; the simulated market says so when it gets there)."""

    __slots__ = ("name", "opens", "closes", "_open_sums")
    year_ns = TRADING_YEAR_NS  # a year of trading time: prices move only while open

    def __init__(self, name: str, opens: list[int], closes: list[int]) -> None:
        if len(opens) != len(closes) or any(o >= c for o, c in zip(opens, closes, strict=True)):
            raise ValueError("market hours: every session needs an open before its close")
        if any(c > o for c, o in zip(closes, opens[1:], strict=False)):
            raise ValueError("market hours: sessions must be sorted and must not overlap")
        self.name = name
        self.opens = opens
        self.closes = closes
        sums = [0]
        for o, c in zip(opens, closes, strict=True):
            sums.append(sums[-1] + c - o)
        self._open_sums = sums  # open time before session i, for open_ns_between

    def _session(self, ts: int) -> int:
        """The index of the last session opening at or before `ts` (-1: none)."""
        return bisect_right(self.opens, ts) - 1

    def is_open(self, ts: int) -> bool:
        i = self._session(ts)
        return i >= 0 and ts < self.closes[i]

    def next_open(self, ts: int) -> int | None:
        """`ts` itself if the market is open then, else the next open (None: beyond the loaded range)."""
        i = self._session(ts)
        if i >= 0 and ts < self.closes[i]:
            return ts
        return self.opens[i + 1] if i + 1 < len(self.opens) else None

    def next_close(self, ts: int) -> int | None:
        """The first close strictly after `ts`: today's while open, else the next session's."""
        i = bisect_right(self.closes, ts)
        return self.closes[i] if i < len(self.closes) else None

    def open_ns_between(self, a: int, b: int) -> int:
        """How much of [a, b) the market was open: simulated prices move in trading time only."""
        if b <= a:
            return 0
        return self._open_before(b) - self._open_before(a)

    def _open_before(self, ts: int) -> int:
        i = self._session(ts)
        if i < 0:
            return 0
        return self._open_sums[i] + min(ts, self.closes[i]) - self.opens[i]

    def session_days(self, first: date, last: date) -> list[date]:
        """The session dates (New York trading days) from `first` to `last`, both included."""
        lo = bisect_left(self.opens, datetime_to_ns(datetime(first.year, first.month, first.day, tzinfo=UTC)))
        hi = bisect_left(self.opens, datetime_to_ns(datetime(last.year, last.month, last.day, tzinfo=UTC)) + DAY_NS)
        return [datetime.fromtimestamp(o / NS, tz=UTC).date() for o in self.opens[lo:hi]]

    def weekly_expiry(self, friday: date) -> date | None:
        """The expiry of the week ending `friday`: the Friday, or the last session day before it when the
        Friday is a holiday (Thursday before Good Friday). None: no session that week."""
        days = self.session_days(friday - timedelta(days=4), friday)
        return days[-1] if days else None

    def close_on(self, day: date) -> int | None:
        """The close of the session on `day` (an early close where the calendar has one)."""
        start = datetime_to_ns(datetime(day.year, day.month, day.day, tzinfo=UTC))
        i = bisect_left(self.opens, start)
        if i < len(self.opens) and self.opens[i] < start + DAY_NS:
            return self.closes[i]
        return None


class AlwaysOpen:
    """The 24/7 market: always open, a "session close" every day at `close_hour_utc` (where DAY orders
    expire), weekly expiries on Fridays. Arithmetic, no table: any date works."""

    __slots__ = ("name", "close_hour_utc")
    year_ns = CALENDAR_YEAR_NS

    def __init__(self, close_hour_utc: int = 20) -> None:
        self.name = ALWAYS
        self.close_hour_utc = close_hour_utc

    def is_open(self, ts: int) -> bool:
        return True

    def next_open(self, ts: int) -> int | None:
        return ts

    def next_close(self, ts: int) -> int | None:
        close = ts - ts % DAY_NS + self.close_hour_utc * 3_600 * NS
        return close if close > ts else close + DAY_NS

    def open_ns_between(self, a: int, b: int) -> int:
        return max(b - a, 0)

    def weekly_expiry(self, friday: date) -> date | None:
        return friday

    def close_on(self, day: date) -> int | None:
        return datetime_to_ns(datetime(day.year, day.month, day.day, self.close_hour_utc, tzinfo=UTC))


class Sessions(Protocol):
    """What the market, the venue, the strategy and the run loop ask of the hours."""

    name: str
    year_ns: int  # open time in a year: annual volatility spreads over this much open market

    def is_open(self, ts: int) -> bool: ...

    def next_open(self, ts: int) -> int | None: ...

    def next_close(self, ts: int) -> int | None: ...

    def open_ns_between(self, a: int, b: int) -> int: ...

    def weekly_expiry(self, friday: date) -> date | None: ...

    def close_on(self, day: date) -> int | None: ...


def load_market_hours(name: str, first: date, last: date, close_hour_utc: int = 20) -> Sessions:
    """The regular sessions of calendar `name` from `first` to `last` (a few hundred sessions a year);
    `close_hour_utc` is the 24/7 market's daily close."""
    if name == ALWAYS:
        return AlwaysOpen(close_hour_utc)
    if name not in CALENDARS:
        raise ValueError(f"market.calendar = {name!r}: unknown (known: {', '.join(CALENDARS)})")
    import exchange_calendars  # type: ignore[import-untyped]  # pandas: at start-up, never on the trading path

    with warnings.catch_warnings():  # its own use of pandas' deprecated APIs (pandas 3): not ours to act on
        warnings.simplefilter("ignore", DeprecationWarning)
        calendar = exchange_calendars.get_calendar(name, start=first.isoformat(), end=last.isoformat())
        schedule = calendar.schedule
    opens = [int(ts.value) for ts in schedule["open"]]
    closes = [int(ts.value) for ts in schedule["close"]]
    return MarketHours(name, opens, closes)
