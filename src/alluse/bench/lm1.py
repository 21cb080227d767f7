"""LM-1: the market-data line manager over a simulated week of the wheel, five underlyings, 100 lines.

The simulated market runs a week in virtual time (a step every `step_interval_s`, expiries listed and
delisted as they come). The line manager holds the five underlyings pinned and prefetches as
IbkrMarketData does, with the same `Prefetcher`: the puts around each sleeve's delta band in its
days-to-expiry window, again whenever an underlying has moved enough since its last prefetch. At every
strategy evaluation the strategy's pick is made with full information (every option quoted: what the
wheel would choose if every line were open), and the look-up counts as a hit when that option has a
line. Reported: the hit ratio, the most lines ever in use (never above the budget), evictions.
"""

from __future__ import annotations

from datetime import UTC, datetime

from alluse.bench.figures import OPTIMISED, Figure
from alluse.brokers.ibkr.lines import LineManager
from alluse.brokers.ibkr.market_data import Band, Prefetcher
from alluse.common.clock import NS, TestClock, datetime_to_ns
from alluse.marketdata import DataEngine, OptionChainService, QuoteCache, SimulatedMarket
from alluse.marketdata.config import MarketConfig
from alluse.model import Quote, Right
from alluse.model.registry import InstrumentRegistry
from alluse.strategies.config import StrategyConfig

WORKLOAD = "LM-1"
BUDGET = 100
DAYS_FULL, DAYS_QUICK = 7, 2
START = datetime(2026, 11, 30, 14, 30, tzinfo=UTC)  # a Monday


TIGHT = 30  # a variant with a third of the lines: the prefetch must choose, and evict


def lm1_figures(quick: bool, *, days: int | None = None, seed: int = 7) -> list[Figure]:
    days = days or (DAYS_QUICK if quick else DAYS_FULL)
    return [*_week(days, seed, BUDGET, OPTIMISED), *_week(days, seed, TIGHT, f"a budget of {TIGHT} lines")]


def _week(days: int, seed: int, budget: int, variant: str) -> list[Figure]:
    market_config, strategy = MarketConfig(), StrategyConfig()
    clock = TestClock(datetime_to_ns(START))
    registry = InstrumentRegistry()
    cache = QuoteCache(clock, market_config.quote_ttl_ns, market_config.option_cache_capacity, registry.is_option)
    engine = DataEngine(registry, cache, clock)
    chains = OptionChainService(registry, cache, clock, rate=market_config.rate)
    market = SimulatedMarket(market_config, clock, registry, seed=seed)
    subscribed: set[str] = set()
    lines = LineManager(budget, subscribed.add, subscribed.discard)
    bands = [Band(u, s.delta_min, s.delta_max, strategy.min_dte, strategy.max_dte)
             for s in strategy.sleeves for u in s.underlyings]  # fmt: skip
    underlyings = sorted({b.underlying for b in bands})
    lines.pin(underlyings)
    prefetcher = Prefetcher(lines, registry, clock, bands, lambda u: market_config.underlyings[u].vol,
                            market_config.rate)  # fmt: skip

    def on_quotes(quotes: list[Quote]) -> None:
        engine.on_quotes(quotes)
        for u in underlyings:
            spot = cache.fresh_mid(u)
            if spot is not None:
                prefetcher.on_spot(u, spot)

    market.start(on_quotes)
    end = clock.now_ns() + days * 24 * 3600 * NS
    step = int(strategy.evaluate_every_s * NS)
    while clock.now_ns() < end:
        clock.advance_to(clock.now_ns() + step)
        for band in bands:  # the strategy's look-ups, made with every option quoted
            pick = chains.nearest_delta(band.underlying, Right.PUT, (band.delta_min + band.delta_max) / 2,
                                        band.min_dte, band.max_dte)  # fmt: skip
            if pick is not None:
                lines.look_up(pick.option.id)
        assert len(subscribed) <= budget
    market.stop()
    looked = lines.hits + lines.misses
    return [
        Figure(WORKLOAD, "prefetch hit ratio", 100.0 * lines.hits / looked if looked else 0.0, "%", variant,
               higher_is_better=True),
        Figure(WORKLOAD, "lines over the budget", float(max(0, lines.max_in_use - budget)), "lines", variant),
        Figure(WORKLOAD, "most lines in use", float(lines.max_in_use), "lines", variant),
        Figure(WORKLOAD, "evictions", float(lines.evictions), "lines", variant),
    ]  # fmt: skip
