"""Skipping closed hours: the clocks jump ahead, and timers due in between fire then, in time order."""

import asyncio

from alluse.common.clock import NS, LiveClock, TestClock

HOUR = 3600 * NS


def test_test_clock_skip_fires_skipped_timers_at_the_new_time_in_order():
    clock = TestClock(0)
    seen = []
    clock.call_at(2 * HOUR, lambda: seen.append(("b", clock.now_ns())))
    clock.call_at(1 * HOUR, lambda: seen.append(("a", clock.now_ns())))
    clock.call_at(20 * HOUR, lambda: seen.append(("late", clock.now_ns())))
    clock.skip_to(10 * HOUR)
    assert seen == [("a", 10 * HOUR), ("b", 10 * HOUR)]
    assert clock.now_ns() == 10 * HOUR and clock.next_timer_ns() == 20 * HOUR


async def test_live_clock_skip_jumps_time_and_fires_a_timer_armed_far_ahead_at_once():
    clock = LiveClock(asyncio.get_running_loop(), speed=1.0, start_ns=0)
    fired = asyncio.Event()
    at = []
    clock.call_at(17 * HOUR, lambda: (at.append(clock.now_ns()), fired.set()))  # 17 wall hours away
    later = clock.call_at(18 * HOUR, lambda: at.append(-1))
    assert clock.next_timer_ns() == 17 * HOUR
    clock.skip_to(17 * HOUR)
    await asyncio.wait_for(fired.wait(), timeout=2.0)  # not 17 hours
    assert 17 * HOUR <= at[0] < 17 * HOUR + NS
    later.cancel()
    assert clock.next_timer_ns() is None
    clock.skip_to(HOUR)  # never backwards
    assert clock.now_ns() >= 17 * HOUR


async def test_live_clock_timers_fire_in_time_order_and_a_failing_one_does_not_stop_the_rest():
    loop = asyncio.get_running_loop()
    errors = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context["exception"]))
    clock = LiveClock(loop, speed=1000.0, start_ns=0)
    base = clock.now_ns()
    order = []
    done = asyncio.Event()

    def boom():
        raise RuntimeError("a failing callback")

    clock.call_at(base + 3 * NS, lambda: (order.append("c"), done.set()))  # 3 ms of wall time at 1000x
    clock.call_at(base + 1 * NS, lambda: order.append("a"))
    clock.call_at(base + 2 * NS, boom)
    clock.call_at(base + 2 * NS, lambda: order.append("b"))
    await asyncio.wait_for(done.wait(), timeout=2.0)
    assert order == ["a", "b", "c"]
    assert [str(e) for e in errors] == ["a failing callback"]
