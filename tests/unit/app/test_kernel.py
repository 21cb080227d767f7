"""The kernel: one config builds every engine, a broker comes from the registry by name, recovery is the start."""

from decimal import Decimal

import pytest

from alluse.app.config import AccountConfig, Config, ConfigError, RunConfig
from alluse.app.kernel import BROKERS, build_kernel
from alluse.brokers.base import Broker
from alluse.brokers.paper import PaperVenue
from alluse.common.clock import TestClock
from alluse.strategies.config import StrategyConfig

T0 = 1_795_000_000 * 1_000_000_000


def config(**run) -> Config:
    return Config(run=RunConfig(**run), accounts={"A": AccountConfig(cash=Decimal(50_000))},
                  strategy=StrategyConfig(enabled=False, sleeves=[]))  # fmt: skip


def test_the_paper_venue_comes_from_the_registry_and_is_seeded_from_the_recovered_book(tmp_path):
    kernel = build_kernel(config(), TestClock(T0), tmp_path)
    try:
        assert isinstance(kernel.broker, PaperVenue) and isinstance(kernel.broker, Broker)
        assert kernel.oms.broker is kernel.broker and kernel.market is not None  # one of each, wired together
        report = kernel.recover()
        assert report.session == 1 and kernel.broker.account_snapshot("A").cash == Decimal(50_000)
        assert (tmp_path / "journal.db").exists() and (tmp_path / "venue.db").exists()
        sources = kernel.metric_sources()
        assert kernel.broker in sources and kernel.oms in sources and kernel.risk in sources
    finally:
        kernel.close()


def test_an_unknown_broker_is_refused_by_its_key_before_any_file_is_opened(tmp_path):
    with pytest.raises(ConfigError, match=r"run.broker = 'schwab': unknown broker \(known: ibkr, paper\)"):
        build_kernel(config(broker="schwab"), TestClock(T0), tmp_path)
    assert list(tmp_path.iterdir()) == []
    assert sorted(BROKERS) == ["ibkr", "paper"]


def test_a_halt_cancels_the_accounts_working_orders_and_is_journaled(tmp_path):
    from alluse.model import Order, OrderType, Quote, Side, TradingState

    kernel = build_kernel(config(), TestClock(T0), tmp_path)
    try:
        kernel.recover()
        symbol = next(iter(kernel.config.market.underlyings))
        now = kernel.clock.now_ns()
        kernel.engine.on_quotes([Quote(symbol, 99.0, 101.0, 100, 100, now, now)])
        resting = Order(kernel.oms.next_client_order_id(), "A", symbol, Side.BUY, 1, OrderType.LIMIT, Decimal("90.00"))
        kernel.oms.submit(resting)
        kernel.clock.advance(10_000_000)
        assert resting.status.is_open
        kernel.states.set("A", TradingState.HALTED, "test", "risk")
        kernel.clock.advance(10_000_000)
        assert not resting.status.is_open
        assert kernel.journal.trading_states()["A"][0] == "HALTED"
    finally:
        kernel.close()
