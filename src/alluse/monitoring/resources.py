"""Process and system resources as gauges, read with psutil once per collector tick.

CPU is computed from the process's CPU times between two samples (percent of ONE core, as `top`
shows it, so a busy second thread can take it past 100), so the first sample has none. Open files
are file descriptors (files, sockets, pipes: what runs out) where the platform counts them
cheaply, else the open regular files. Each reading is taken on its own: one that fails (a data
dir unmounted, access denied) is skipped and logged once, and the others are still reported.
Event-loop lag is not here: the collector measures it from its own schedule.

/metrics shows the readings of the collector's last tick (`last_readings`): a scrape reading psutil
itself would move the CPU baseline under the collector's feet. It also carries the process's CPU
seconds as a counter, which Prometheus turns into a rate over any window it likes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import psutil

from alluse.common.metrics import Metric, counter, gauge
from alluse.model import InvalidInput
from alluse.monitoring import series

log = logging.getLogger("alluse.monitoring.resources")

T = TypeVar("T")


class ResourceSampler:
    def __init__(
        self,
        data_dir: str | Path,
        *,
        process: psutil.Process | None = None,
        monotonic_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        path = Path(data_dir)
        if not path.is_dir():
            raise InvalidInput("data_dir", str(data_dir), "is not an existing directory")
        self.data_dir = path
        self._process = process if process is not None else psutil.Process()
        self._monotonic_ns = monotonic_ns
        self._last_cpu: tuple[float, int] | None = None  # (process CPU seconds, monotonic ns)
        self._failing: set[str] = set()
        self._last: list[Metric] = []

    def last_readings(self) -> Iterator[Metric]:
        """What the last `metrics()` call read (for /metrics), without reading anything again."""
        return iter(self._last)

    def metrics(self) -> Iterator[Metric]:
        self._last = list(self._read_all())
        return iter(self._last)

    def _read_all(self) -> Iterator[Metric]:
        proc = self._process
        with proc.oneshot():
            rss = self._read("rss", lambda: proc.memory_info().rss)
            times = self._read("cpu", proc.cpu_times)
            files = self._read("open_files", self._open_files)
        now = self._monotonic_ns()
        if rss is not None:
            yield gauge("alluse_process_rss_bytes", "Resident memory of this process", rss)
        if times is not None:
            cpu_s = times.user + times.system
            yield counter(series.PROCESS_CPU_SECONDS, "CPU time of this process, user and system", cpu_s)
            last = self._last_cpu
            self._last_cpu = (cpu_s, now)
            if last is not None and now > last[1]:
                percent = 100.0 * (cpu_s - last[0]) * 1e9 / (now - last[1])
                yield gauge(
                    "alluse_process_cpu_percent", "CPU of this process since the last sample, % of one core", percent
                )
        if files is not None:
            yield gauge("alluse_process_open_files", "Open file descriptors of this process", files)
        memory = self._read("memory", lambda: psutil.virtual_memory().percent)
        if memory is not None:
            yield gauge("alluse_system_memory_percent", "System memory in use", memory)
        disk = self._read("disk", lambda: psutil.disk_usage(str(self.data_dir)).percent)
        if disk is not None:
            yield gauge("alluse_data_dir_disk_used_percent", "Disk space used on the data dir's filesystem", disk)

    def _open_files(self) -> int:
        proc = self._process
        if hasattr(proc, "num_fds"):  # POSIX: one directory listing
            return proc.num_fds()
        return len(proc.open_files())

    def _read(self, what: str, read: Callable[[], T]) -> T | None:
        try:
            value = read()
        except (psutil.Error, OSError) as exc:
            if what not in self._failing:
                self._failing.add(what)
                log.warning("cannot read %s (%s); skipped until it can", what, exc)
            return None
        self._failing.discard(what)
        return value
