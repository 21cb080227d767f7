"""One injectable clock for the whole system.

Every component asks the clock for the time and for timers, never `time` or `asyncio`
directly, so the same code runs in wall time, in accelerated simulated time (`--speed`)
and in fully manual virtual time (tests, benchmarks).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol

NS = 1_000_000_000  # time is kept in whole nanoseconds everywhere
MS = 1_000_000
US = 1_000


def s_to_ns(seconds: float) -> int:
    """Configured seconds (a float in a config file) as whole clock nanoseconds: the one conversion."""
    return round(seconds * NS)


def ms_to_ns(ms: float) -> int:
    return round(ms * MS)


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def now_ns(self) -> int: ...

    def call_at(self, ts_ns: int, callback: Callable[..., Any], *args: Any) -> TimerHandle: ...

    def call_later(self, delay_ns: int, callback: Callable[..., Any], *args: Any) -> TimerHandle: ...


def ns_to_datetime(ts_ns: int) -> datetime:
    return datetime.fromtimestamp(ts_ns / NS, tz=UTC)


def datetime_to_ns(dt: datetime) -> int:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp()) * NS + dt.microsecond * 1000


def anchored_now_ns(start_ns: int, anchor_unix_s: float, speed: float) -> int:
    """Simulated time now on a clock several processes share: it read `start_ns` at wall time `anchor_unix_s`
    and runs `speed` times faster than the wall (a LiveClock built at this start keeps in step with the others,
    as far as their machines' wall clocks agree)."""
    return start_ns + int((time.time() - anchor_unix_s) * speed * NS)


class _ManualTimer:
    __slots__ = ("cancelled",)

    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class TestClock:
    """Virtual time that moves only when told to; timers fire in time order, ties in FIFO order."""

    __test__: ClassVar[bool] = False  # not a pytest test class (ClassVar: compiled, a class attribute)

    def __init__(self, start_ns: int = 0) -> None:
        self._now = start_ns
        self._heap: list[tuple[int, int, _ManualTimer, Callable[..., Any], tuple[Any, ...]]] = []
        self._seq = itertools.count()

    def now_ns(self) -> int:
        return self._now

    def call_at(self, ts_ns: int, callback: Callable[..., Any], *args: Any) -> _ManualTimer:
        handle = _ManualTimer()
        heapq.heappush(self._heap, (max(ts_ns, self._now), next(self._seq), handle, callback, args))
        return handle

    def call_later(self, delay_ns: int, callback: Callable[..., Any], *args: Any) -> _ManualTimer:
        return self.call_at(self._now + max(0, delay_ns), callback, *args)

    def next_timer_ns(self) -> int | None:
        while self._heap and self._heap[0][2].cancelled:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def advance_to(self, ts_ns: int) -> int:
        """Fire every timer due up to `ts_ns` (including ones they schedule); returns how many fired."""
        fired = 0
        while self._heap and self._heap[0][0] <= ts_ns:
            when, _, handle, callback, args = heapq.heappop(self._heap)
            if handle.cancelled:
                continue
            self._now = max(self._now, when)
            callback(*args)
            fired += 1
        self._now = max(self._now, ts_ns)
        return fired

    def advance(self, delta_ns: int) -> int:
        return self.advance_to(self._now + delta_ns)

    def skip_to(self, ts_ns: int) -> None:
        """Jump to `ts_ns`: timers due in between fire at `ts_ns` (late, as after a pause), so a periodic
        timer resumes from there instead of ticking through the skipped hours."""
        self._now = max(self._now, ts_ns)
        self.advance_to(ts_ns)

    def run_until_idle(self, limit_ns: int | None = None) -> int:
        """Fire timers until none is left (or the next is past `limit_ns`)."""
        fired = 0
        while (nxt := self.next_timer_ns()) is not None and (limit_ns is None or nxt <= limit_ns):
            fired += self.advance_to(nxt)
        return fired


class LiveClock:
    """Wall time (speed 1, real epoch) or simulated time running `speed` times faster than the wall.

    Simulated time starts at `start_ns` and advances with the monotonic clock. Timers are kept here, in
    simulated time, with one asyncio timer armed for the earliest: so `skip_to` can jump over closed
    market hours and the timers due in between fire at once, not after the wall time they were armed for.
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop | None = None, speed: float = 1.0, start_ns: int | None = None
    ) -> None:
        if not speed > 0:
            raise ValueError(f"speed={speed!r}: must be positive")
        self._loop = loop
        self.speed = speed
        self._wall0 = time.perf_counter_ns()
        self._start = time.time_ns() if start_ns is None else start_ns
        self._heap: list[tuple[int, int, _ManualTimer, Callable[..., Any], tuple[Any, ...]]] = []
        self._seq = itertools.count()
        self._armed: asyncio.TimerHandle | None = None
        self._armed_ns = -1  # when the asyncio timer is due (-1: none armed)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def now_ns(self) -> int:
        return self._start + int((time.perf_counter_ns() - self._wall0) * self.speed)

    def call_at(self, ts_ns: int, callback: Callable[..., Any], *args: Any) -> _ManualTimer:
        handle = _ManualTimer()
        heapq.heappush(self._heap, (ts_ns, next(self._seq), handle, callback, args))
        if self._armed_ns < 0 or ts_ns < self._armed_ns:
            self._arm()
        return handle

    def call_later(self, delay_ns: int, callback: Callable[..., Any], *args: Any) -> _ManualTimer:
        return self.call_at(self.now_ns() + max(0, delay_ns), callback, *args)

    def rebase(self, start_ns: int) -> None:
        """Simulated time is `start_ns` now: a run's time starts when it starts trading, not when it began
        building (at 8000x, a second of start-up would be two hours of simulated time gone). Timers keep
        their times (call before anything is armed whose timing matters)."""
        self._wall0 = time.perf_counter_ns()
        self._start = start_ns
        self._arm()

    def next_timer_ns(self) -> int | None:
        heap = self._heap
        while heap and heap[0][2].cancelled:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def skip_to(self, ts_ns: int) -> None:
        """Jump simulated time forward to `ts_ns` (never back); the timers due by then fire next."""
        now = self.now_ns()
        if ts_ns > now:
            self._start += ts_ns - now
            self._arm()

    def _arm(self) -> None:
        # (`_armed_ns`, not `_armed is None`, says whether one is armed: compiled, a None assigned to the
        # attribute would be assumed to stay None after the callbacks below)
        if self._armed is not None:
            self._armed.cancel()
        heap = self._heap
        while heap and heap[0][2].cancelled:
            heapq.heappop(heap)
        self._armed_ns = heap[0][0] if heap else -1
        if heap:
            self._armed = self.loop.call_later(max(0, self._armed_ns - self.now_ns()) / NS / self.speed, self._fire)

    def _fire(self) -> None:
        self._armed_ns = -1
        heap = self._heap
        now = self.now_ns()
        while heap and heap[0][0] <= now:
            entry = heapq.heappop(heap)
            if entry[2].cancelled:
                continue
            try:
                entry[3](*entry[4])
            except Exception as exc:  # as asyncio does for its own callbacks: reported, the others still run
                self.loop.call_exception_handler({"message": f"exception in clock callback {entry[3]!r}",
                                                  "exception": exc})  # fmt: skip
        if self._armed_ns < 0:  # a callback may have armed an earlier timer already
            self._arm()

    async def sleep(self, delay_ns: int) -> None:
        await asyncio.sleep(max(0, delay_ns) / NS / self.speed)
