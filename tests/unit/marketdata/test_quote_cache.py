import pytest

from alluse.common.clock import TestClock
from alluse.marketdata import QuoteCache
from alluse.model import InvalidInput, Quote

OPTIONS = {"O1", "O2", "O3", "O4"}


def quote(iid: str, ts: int = 0, bid: float = 1.0) -> Quote:
    return Quote(iid, bid, bid + 0.05, 10, 10, ts, ts)


def make_cache(clock: TestClock | None = None, ttl_ns: int = 100, capacity: int = 2) -> QuoteCache:
    return QuoteCache(clock or TestClock(), ttl_ns=ttl_ns, option_capacity=capacity, is_option=OPTIONS.__contains__)


def test_get_counts_hits_and_misses_and_returns_latest() -> None:
    cache = make_cache()
    assert cache.get("AAPL") is None
    first, second = quote("AAPL", bid=1.0), quote("AAPL", bid=2.0)
    cache.put(first)
    cache.put(second)
    assert cache.get("AAPL") is second
    assert cache.get("MSFT") is None
    assert (cache.hits, cache.misses, cache.stale_reads) == (1, 2, 0)
    assert len(cache) == 1


def test_get_fresh_respects_ttl_on_ts_recv() -> None:
    clock = TestClock(1_000)
    cache = make_cache(clock, ttl_ns=100)
    q = quote("AAPL", ts=1_000)
    cache.put(q)
    clock.advance(100)  # exactly ttl old: still fresh
    assert not cache.is_stale(q)
    assert cache.get_fresh("AAPL") is q
    clock.advance(1)
    assert cache.is_stale(q)
    assert cache.get_fresh("AAPL") is None
    assert cache.get("AAPL") is q  # stale quotes are still there for get()
    assert cache.get_fresh("NONE") is None
    assert cache.snapshot() == {"hits": 2, "misses": 1, "stale_reads": 1, "evictions": 0, "equities": 1, "options": 0}


def test_options_evicted_least_recently_used_first() -> None:
    cache = make_cache(capacity=2)
    cache.put(quote("O1"))
    cache.put(quote("O2"))
    cache.put(quote("O3"))  # evicts O1 (oldest)
    assert "O1" not in cache and "O2" in cache and "O3" in cache
    assert cache.evictions == 1
    cache.put(quote("O2", bid=2.0))  # update refreshes O2, so O3 is now the oldest
    cache.put(quote("O4"))
    assert "O3" not in cache and {"O2", "O4"} <= {i for i in OPTIONS if i in cache}
    assert cache.evictions == 2
    assert cache.get("O2").bid == 2.0


def test_reading_an_option_refreshes_its_lru_position() -> None:
    cache = make_cache(capacity=2)
    cache.put(quote("O1"))
    cache.put(quote("O2"))
    assert cache.get("O1") is not None  # O2 becomes the least recently used
    cache.put(quote("O3"))
    assert "O1" in cache and "O2" not in cache
    assert cache.evictions == 1


def test_equities_are_never_evicted() -> None:
    cache = make_cache(capacity=1)
    equities = [f"E{i}" for i in range(50)]
    for iid in equities:
        cache.put(quote(iid))
        cache.put(quote("O1"))
        cache.put(quote("O2"))
    assert all(iid in cache for iid in equities)
    assert len(cache) == 51
    assert cache.snapshot()["equities"] == 50 and cache.snapshot()["options"] == 1
    assert cache.evictions == 2 * 50 - 1  # every O1/O2 put but the very first evicts the other


def test_is_option_is_decided_once_per_instrument() -> None:
    calls: list[str] = []

    def is_option(iid: str) -> bool:
        calls.append(iid)
        return iid.startswith("O")

    cache = QuoteCache(TestClock(), ttl_ns=10, option_capacity=5, is_option=is_option)
    for _ in range(3):
        cache.put(quote("O1"))
        cache.put(quote("AAPL"))
    assert calls == ["O1", "AAPL"]


@pytest.mark.parametrize(
    ("ttl", "capacity", "field"), [(0, 1, "ttl_ns"), (-5, 1, "ttl_ns"), (1.5, 1, "ttl_ns"), (10, 0, "option_capacity")]
)
def test_bad_construction_names_the_field(ttl: object, capacity: object, field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        QuoteCache(TestClock(), ttl_ns=ttl, option_capacity=capacity, is_option=OPTIONS.__contains__)  # type: ignore[arg-type]
    assert err.value.field == field


def test_fresh_view_hides_stale_quotes() -> None:
    clock = TestClock(0)
    cache = QuoteCache(clock, ttl_ns=100, option_capacity=10, is_option=lambda iid: False)
    cache.put(Quote("AAPL", 1.0, 1.01, 1, 1, 0, 0))
    view = cache.fresh_view()
    assert view.get("AAPL") is not None
    clock.advance(101)
    assert view.get("AAPL") is None and cache.get("AAPL") is not None
