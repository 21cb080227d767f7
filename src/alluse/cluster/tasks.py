"""Waiting, and stopping the cluster's background tasks for certain. Under Python 3.11 a cancellation that lands as an
inner `asyncio.wait_for` ends (the Redis and PostgreSQL drivers use them) can be lost, and a task that was
cancelled once goes on; so a task is cancelled again until it is done, within a bound."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

log = logging.getLogger("alluse.cluster.tasks")


async def cancel_until_done(tasks: Iterable[asyncio.Task[object]], within_s: float = 5.0) -> None:
    pending = {t for t in tasks if not t.done()}
    deadline = asyncio.get_running_loop().time() + within_s
    while pending and asyncio.get_running_loop().time() < deadline:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.05)
    for task in pending:
        log.error("task %s would not stop", task.get_name())


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, or less if `stop` is set meanwhile."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass
