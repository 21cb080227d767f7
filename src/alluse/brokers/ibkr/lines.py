"""The market-data line manager: one budget of lines (IB's 100 per login by default) shared by every subscriber.

A line is a streaming subscription. Pinned lines (underlyings, instruments held or working) are never
released; the rest are what the strategy will look at next, asked for ahead of time (`prefetch`) and
released least recently used first when the budget is full. The budget is never exceeded, however many
ask: a request that finds only pinned lines is refused and counted. Look-ups are counted as hits (the
instrument had a line) or misses, the measure of the prefetch.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable

from alluse.common.metrics import Metric, counter, gauge


class LineManager:
    def __init__(self, budget: int, subscribe: Callable[[str], None], unsubscribe: Callable[[str], None]) -> None:
        self.budget = budget
        self._subscribe = subscribe
        self._unsubscribe = unsubscribe
        self._lines: OrderedDict[str, bool] = OrderedDict()  # instrument id -> pinned; least recently used first
        self.max_in_use = 0
        self.evictions = 0
        self.refused = 0
        self.hits = 0
        self.misses = 0

    @property
    def in_use(self) -> int:
        return len(self._lines)

    @property
    def pinned(self) -> int:
        return sum(self._lines.values())

    def ids(self) -> list[str]:
        """The instruments with a line, least recently used first."""
        return list(self._lines)

    def __contains__(self, instrument_id: object) -> bool:
        return instrument_id in self._lines

    def pin(self, instrument_ids: Iterable[str]) -> list[str]:
        """Lines that stay: returns the ids that could not get one (the budget is all pinned)."""
        return [i for i in instrument_ids if not self._take(i, pinned=True)]

    def unpin(self, instrument_id: str) -> None:
        if self._lines.get(instrument_id):
            self._lines[instrument_id] = False

    def prefetch(self, instrument_ids: Iterable[str]) -> int:
        """Lines for what will be looked at next, most wanted first; returns how many were new."""
        wanted = list(dict.fromkeys(instrument_ids))
        new = 0
        for instrument_id in reversed(wanted):  # the most wanted is touched last: the last to be evicted
            existed = instrument_id in self._lines
            if self._take(instrument_id, pinned=False, evict_protect=set(wanted)):
                new += not existed
        return new

    def look_up(self, instrument_id: str) -> bool:
        """A look-up by the strategy: a hit when the instrument has a line (it becomes the most recently used)."""
        if instrument_id in self._lines:
            self._lines.move_to_end(instrument_id)
            self.hits += 1
            return True
        self.misses += 1
        return False

    def release_all(self) -> list[str]:
        """Forget every line (IB dropped them: 1101); returns them, to subscribe again."""
        ids = list(self._lines)
        self._lines.clear()
        return ids

    def _take(self, instrument_id: str, pinned: bool, evict_protect: set[str] | None = None) -> bool:
        lines = self._lines
        if instrument_id in lines:
            lines[instrument_id] = lines[instrument_id] or pinned
            lines.move_to_end(instrument_id)
            return True
        if len(lines) >= self.budget and not self._evict(evict_protect or set()):
            self.refused += 1
            return False
        self._subscribe(instrument_id)
        lines[instrument_id] = pinned
        self.max_in_use = max(self.max_in_use, len(lines))
        return True

    def _evict(self, protect: set[str]) -> bool:
        for instrument_id, pinned in self._lines.items():
            if not pinned and instrument_id not in protect:
                del self._lines[instrument_id]
                self._unsubscribe(instrument_id)
                self.evictions += 1
                return True
        return False

    def metrics(self) -> list[Metric]:
        return [
            gauge("alluse_ibkr_market_data_lines", "market-data lines in use", self.in_use),
            gauge("alluse_ibkr_market_data_line_budget", "market-data lines this login has", self.budget),
            counter("alluse_ibkr_line_evictions_total", "lines released for others (least recently used)",
                    self.evictions),
            counter("alluse_ibkr_line_refusals_total", "lines refused: the budget was all pinned", self.refused),
            counter("alluse_ibkr_prefetch_hits_total", "strategy look-ups that found a line", self.hits),
            counter("alluse_ibkr_prefetch_misses_total", "strategy look-ups that found none", self.misses),
        ]  # fmt: skip
