"""The whole system in virtual time: five and a half simulated days in about a second."""

from decimal import Decimal

import pytest

from alluse.app.config import load_config
from alluse.app.run_summary import check_consistency
from alluse.app.system import TradingSystem, resume_start_ns
from alluse.common.clock import NS, TestClock, datetime_to_ns
from alluse.model import OrderStatus, Side

DAY = 86_400 * NS


def run_days(cfg, data_dir, days, start_ns=None):
    clock = TestClock(start_ns or datetime_to_ns(cfg.run.start_datetime()))
    system = TradingSystem(cfg, clock, data_dir)
    system.start()
    clock.advance(int(days * DAY))
    system.stop_trading()
    clock.advance(NS)
    return system


@pytest.fixture(scope="module")
def week(tmp_path_factory):
    data = tmp_path_factory.mktemp("week")
    cfg = load_config(overrides={"run": {"start": "2026-11-23T14:30:00+00:00", "seed": 11}})
    system = run_days(cfg, data, 5.5)
    yield cfg, data, system
    system.close()


def test_the_wheel_sells_puts_and_buys_them_back(week):
    _, _, system = week
    orders = list(system.c.oms.orders.values())
    sold = [o for o in orders if o.tag == "open" and o.status is OrderStatus.FILLED]
    closed = [o for o in orders if o.tag in ("take-profit", "roll") and o.status is OrderStatus.FILLED]
    assert sold and closed
    assert all(o.side is Side.SELL for o in sold) and all(o.side is Side.BUY for o in closed)
    for o in sold:  # every sale is a put within its sleeve's delta band at the time: check the right
        assert o.instrument_id[12] == "P"


def test_every_order_is_final_and_fills_match(week):
    _, _, system = week
    for o in system.c.oms.orders.values():
        assert o.status.is_terminal, o
        assert 0 <= o.filled_qty <= o.quantity
        assert (o.status is OrderStatus.FILLED) == (o.filled_qty == o.quantity)


def test_ledger_matches_journal_and_cash_adds_up(week):
    cfg, data, system = week
    assert check_consistency(system.c.ledger, system.journal_path, system.c.broker) == []
    state = system.c.journal.load()
    deposits = sum(a.cash for a in cfg.accounts.values())
    flows = sum(
        f.side.sign * f.quantity * f.price * (100 if len(f.instrument_id) > 6 else 1) + f.commission
        for f in state.fills
    )
    assert sum(system.c.ledger.cash.values()) == deposits - flows


def test_restart_recovers_the_same_book_and_continues_in_time(week):
    cfg, data, system = week
    before_positions = {(p.account, p.instrument_id): p.quantity for p in system.c.ledger.open_positions()}
    before_cash = dict(system.c.ledger.cash)
    n_orders = len(system.c.oms.orders)
    last = system.clock.now_ns()
    system.close()
    start = resume_start_ns(cfg, data / "journal.db")
    assert start > last
    again = TradingSystem(cfg, TestClock(start), data)
    report = again.start()
    try:
        assert report.session == 2 and report.orders == n_orders and report.reconcile.resolved == []
        after = {(p.account, p.instrument_id): p.quantity for p in again.c.ledger.open_positions()}
        assert after == before_positions and dict(again.c.ledger.cash) == before_cash
        assert again.c.broker.account_snapshot("Gen-Acc").cash == before_cash["Gen-Acc"]
    finally:
        again.stop_trading()
        again.close()


def test_expiry_settles_positions_left_to_expire(tmp_path):
    """Strategy off; sell one far-OTM put by hand and let the clock pass its expiry."""
    accounts = {name: {"cash": 150_000} for name in ("Gen-Acc", "Rev-Acc", "Plain")}  # Plain: no delta band
    cfg = load_config(
        overrides={
            "run": {"start": "2026-11-23T14:30:00+00:00"},
            "strategy": {"enabled": False},
            "accounts": accounts,
        }
    )
    clock = TestClock(datetime_to_ns(cfg.run.start_datetime()))
    system = TradingSystem(cfg, clock, tmp_path)
    system.start()
    clock.advance(NS)
    c = system.c
    put = min((o for o in c.registry.options_for("MSFT") if o.right.value == "P"), key=lambda o: (o.expiry, o.strike))
    q = c.cache.get(put.id)
    from alluse.model import Order, OrderType, round_to_tick, to_money

    order = Order(
        c.oms.next_client_order_id(),
        "Plain",
        put.id,
        Side.SELL,
        1,
        OrderType.LIMIT,
        round_to_tick(put, to_money(q.bid), Side.BUY),
    )
    c.oms.submit(order)
    clock.advance(NS)
    assert order.status is OrderStatus.FILLED
    clock.advance(5 * DAY)
    assert c.ledger.position("Plain", put.id) == 0
    assert c.oms.counters.settlements == 1
    fills = [f for f in c.journal.load().fills if f.instrument_id == put.id]
    assert fills[-1].liquidity == "X" and fills[-1].price == Decimal(0)
    system.stop_trading()
    system.close()


def test_restart_at_the_same_simulated_time_keeps_every_fill(tmp_path):
    """Venue ids carry the journal's session number, so a restarted venue's fills are never taken for old ones."""
    from alluse.model import Order, OrderType

    cfg = load_config(overrides={"run": {"start": "2026-11-23T14:30:00+00:00"}, "strategy": {"enabled": False}})
    start = datetime_to_ns(cfg.run.start_datetime())
    for session in (1, 2):
        clock = TestClock(start)  # the same simulated start both times
        system = TradingSystem(cfg, clock, tmp_path)
        system.start()
        clock.advance(NS)
        oms = system.c.oms
        order = oms.submit(Order(oms.next_client_order_id(), "Rev-Acc", "AAPL", Side.BUY, 10, OrderType.MARKET))
        clock.advance(NS)
        assert order.status is OrderStatus.FILLED
        assert oms.counters.duplicate_fills == 0
        assert system.c.ledger.position("Rev-Acc", "AAPL") == 10 * session
        system.stop_trading()
        system.close()
    reader = TradingSystem(cfg, TestClock(start), tmp_path)
    fills = reader.c.journal.load().fills
    reader.close()
    assert len({f.fill_id for f in fills}) == len(fills) == 2
