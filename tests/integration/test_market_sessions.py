"""The system keeps the exchange's hours: nothing fills or moves while closed, DAY orders end at the close,
and a restart on the same data continues the same market (marks before = marks after)."""

import json
import logging
from datetime import UTC, date, datetime

import pytest

from alluse.app.backtest import run_backtest
from alluse.app.config import load_config
from alluse.app.market_state import MARKET_STATE_FILE
from alluse.app.system import TradingSystem, resume_start_ns
from alluse.common.clock import NS, TestClock, datetime_to_ns
from alluse.model import OrderStatus

HOUR = 3600 * NS


def utc(*args: int) -> int:
    return datetime_to_ns(datetime(*args, tzinfo=UTC))


@pytest.fixture(scope="module")
def thanksgiving_fortnight(tmp_path_factory):
    """Two weeks over Thanksgiving (a holiday, then an early close) and a weekend, on the virtual clock."""
    data = tmp_path_factory.mktemp("bt")
    config = load_config(overrides={"run": {"seed": 5}})
    system, result = run_backtest(config, data, date(2026, 11, 23), date(2026, 12, 4))
    yield system, result
    system.close()


def test_every_trade_is_inside_a_session(thanksgiving_fortnight):
    system, result = thanksgiving_fortnight
    c = system.c
    fills = c.journal.load().fills
    trades = [f for f in fills if not f.client_order_id.startswith("settle:")]
    assert trades, "the wheel traded"
    assert all(c.hours.is_open(f.ts_event) for f in trades)
    days = {datetime.fromtimestamp(f.ts_event / NS, tz=UTC).date() for f in trades}
    assert date(2026, 11, 26) not in days  # Thanksgiving
    assert not any(d.weekday() >= 5 for d in days)  # no weekend fill
    assert result.sessions == 9


def test_day_orders_expire_at_the_close_including_the_early_one(thanksgiving_fortnight):
    system, _ = thanksgiving_fortnight
    closes = {system.c.hours.close_on(date(2026, 11, d)) for d in (23, 24, 25, 27, 30)}
    closes |= {system.c.hours.close_on(date(2026, 12, d)) for d in (1, 2, 3, 4)}
    expired = [o for o in system.c.oms.orders.values() if o.status is OrderStatus.EXPIRED]
    assert utc(2026, 11, 27, 18, 0) in closes  # the early close, 13:00 New York
    assert all(o.ts_last in closes for o in expired)


def test_no_quote_moves_while_the_market_is_closed(tmp_path):
    config = load_config(overrides={"run": {"seed": 3}})
    clock = TestClock(utc(2026, 12, 4, 20, 0))  # Friday, an hour before the close
    system = TradingSystem(config, clock, tmp_path)
    system.start()
    try:
        clock.advance_to(utc(2026, 12, 4, 21, 0))
        accepted = system.c.engine.accepted
        last = system.c.cache.get("TSLA")
        clock.advance_to(utc(2026, 12, 7, 14, 29))  # the whole weekend, to a minute before Monday's open
        assert system.c.engine.accepted == accepted
        assert system.c.cache.get("TSLA") == last and last.ts_event < utc(2026, 12, 4, 21, 0)
        clock.advance_to(utc(2026, 12, 7, 14, 30))
        assert system.c.engine.accepted > accepted  # the open's first batch
    finally:
        system.close()


def test_marks_after_a_restart_equal_the_marks_before(tmp_path, caplog):
    config = load_config(overrides={"run": {"seed": 9, "start": "2026-12-01T15:00:00+00:00"}})
    clock = TestClock(datetime_to_ns(config.run.start_datetime()))
    first = TradingSystem(config, clock, tmp_path)
    first.start()
    clock.advance(3 * HOUR)
    ids = ["TSLA", "NVDA", *first.c.market.state()["options"][:40]]
    before = {i: first.c.cache.get(i).mid for i in ids}
    spots = {t: first.c.market.spot(t) for t in ("TSLA", "NVDA")}
    first.stop_trading()
    first.close()
    saved = json.loads((tmp_path / MARKET_STATE_FILE).read_text())
    assert saved["spots"][0] == pytest.approx(spots["TSLA"])

    clock2 = TestClock(resume_start_ns(config, first.journal_path))
    assert clock2.now_ns() >= saved["last_ns"]  # time never moves back behind the market
    second = TradingSystem(config, clock2, tmp_path)
    caplog.clear()
    second.start()
    try:
        assert second.market_restored
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []  # a normal restart
        clock2.advance(1)  # the first batch: the marks the market stopped with
        after = {i: second.c.cache.get(i).mid for i in ids}
        assert after == before
        assert {t: second.c.market.spot(t) for t in spots} == spots
        clock2.advance(HOUR)  # and from there it moves on
        assert second.c.cache.get("TSLA").mid != before["TSLA"]
    finally:
        second.close()


def test_a_broken_market_state_file_starts_the_market_from_the_config(tmp_path, caplog):
    (tmp_path / MARKET_STATE_FILE).write_text("{not json")
    config = load_config(overrides={"run": {"start": "2026-12-01T15:00:00+00:00"}})
    system = TradingSystem(config, TestClock(datetime_to_ns(config.run.start_datetime())), tmp_path)
    system.start()
    try:
        assert not system.market_restored
        assert system.c.market.spot("TSLA") == config.market.underlyings["TSLA"].spot
        assert "not valid JSON" in caplog.text
    finally:
        system.close()
