"""The market-data line manager: never past the budget, pinned lines stay, least recently used goes first."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from alluse.brokers.ibkr.lines import LineManager


class Feed:
    def __init__(self) -> None:
        self.live: set[str] = set()
        self.max_live = 0

    def subscribe(self, i: str) -> None:
        assert i not in self.live
        self.live.add(i)
        self.max_live = max(self.max_live, len(self.live))

    def unsubscribe(self, i: str) -> None:
        self.live.remove(i)


def manager(budget: int) -> tuple[LineManager, Feed]:
    feed = Feed()
    return LineManager(budget, feed.subscribe, feed.unsubscribe), feed


def test_least_recently_used_goes_first_and_pinned_lines_stay() -> None:
    lines, feed = manager(3)
    assert lines.pin(["TSLA"]) == []
    lines.prefetch(["a", "b"])
    lines.look_up("a")  # b is now the least recently used
    lines.prefetch(["c"])
    assert feed.live == {"TSLA", "a", "c"} and lines.evictions == 1
    assert lines.pin(["x", "y"]) == []  # pinning takes the unpinned lines
    assert feed.live == {"TSLA", "x", "y"}
    assert lines.prefetch(["z"]) == 0 and lines.refused == 1  # all pinned: refused, not exceeded
    assert lines.pin(["w"]) == ["w"]


def test_look_ups_count_hits_and_misses() -> None:
    lines, _ = manager(2)
    lines.prefetch(["a"])
    assert lines.look_up("a") and not lines.look_up("b")
    assert (lines.hits, lines.misses) == (1, 1)


def test_a_reset_forgets_every_line_for_them_to_be_made_again() -> None:
    lines, _ = manager(2)
    lines.pin(["a"])
    lines.prefetch(["b"])
    assert sorted(lines.release_all()) == ["a", "b"] and lines.in_use == 0


@given(st.integers(1, 8), st.lists(st.tuples(st.sampled_from(["pin", "prefetch", "look", "unpin"]),
                                             st.lists(st.sampled_from("abcdefghijkl"), max_size=6)), max_size=40))
def test_the_budget_is_never_exceeded_however_many_ask(budget: int, steps: list[tuple[str, list[str]]]) -> None:
    lines, feed = manager(budget)
    for op, ids in steps:
        if op == "pin":
            lines.pin(ids)
        elif op == "prefetch":
            lines.prefetch(ids)
        elif op == "look":
            for i in ids:
                lines.look_up(i)
        else:
            for i in ids:
                lines.unpin(i)
        assert len(feed.live) == lines.in_use <= budget
    assert feed.max_live <= budget and lines.max_in_use <= budget
