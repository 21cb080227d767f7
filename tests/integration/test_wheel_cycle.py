"""The whole wheel on one account: puts sold, assigned, covered calls written, shares called away, puts again.

The market is moved by scenario (`SimulatedMarket.set_spot`) so each turn of the wheel happens on a known day;
everything else is the running system on the virtual clock (session hours, the venue's expiry settlement, the
strategy's sizing and its phases in the journal)."""

from datetime import UTC, datetime

import pytest

from alluse.app.config import load_config
from alluse.app.system import TradingSystem
from alluse.common.clock import NS, TestClock, datetime_to_ns
from alluse.model import Option, OrderStatus, Right, Side

HOUR = 3600 * NS


def utc(*args: int) -> int:
    return datetime_to_ns(datetime(*args, tzinfo=UTC))


@pytest.fixture
def system(tmp_path):
    config = load_config(
        overrides={
            "run": {"seed": 2, "start": "2026-11-30T15:00:00+00:00"},  # Monday, 10:00 New York
            "accounts": {"Rev-Acc": {"cash": 150_000}},
            "strategy": {"take_profit": 0.95,  # held to expiry: this test is about what expiry does
                         "sleeves": [{"account": "Rev-Acc", "underlyings": ["AAPL"], "delta_min": 0.3,
                                      "delta_max": 0.4}]},
        }
    )  # fmt: skip
    clock = TestClock(datetime_to_ns(config.run.start_datetime()))
    s = TradingSystem(config, clock, tmp_path)
    s.start()
    yield s, clock
    s.close()


def held(s, right: Right | None = None) -> list[tuple[str, int]]:
    out = []
    for p in s.c.ledger.open_positions("Rev-Acc"):
        inst = s.c.registry.get(p.instrument_id)
        if right is None and not isinstance(inst, Option) or isinstance(inst, Option) and inst.right is right:
            out.append((p.instrument_id, p.quantity))
    return out


def test_assignment_then_covered_calls_then_called_away_then_puts_again(system):
    s, clock = system
    market = s.c.market
    clock.advance(2 * HOUR)
    ((put_id, put_qty),) = held(s, Right.PUT)
    put = s.c.registry.get(put_id)
    assert put_qty <= -2  # sized from capital: 80% of 150,000 over one underlying, not one contract

    market.set_spot("AAPL", float(put.strike) * 0.85)  # deep in the money: kept for assignment
    clock.advance_to(utc(2026, 12, 4, 21, 0) + NS)  # Friday's close: expiry
    assert held(s, Right.PUT) == []
    assert held(s) == [("AAPL", -put_qty * 100)]  # assigned: the shares, bought at the strike
    assert s.c.ledger.positions[("Rev-Acc", "AAPL")].avg_cost == put.strike

    market.set_spot("AAPL", float(put.strike) * 0.995)  # calls at or above the shares' cost have a usable delta
    clock.advance_to(utc(2026, 12, 7, 18, 0))  # Monday
    ((call_id, call_qty),) = held(s, Right.CALL)
    call = s.c.registry.get(call_id)
    assert call_qty == put_qty  # every round lot covered, none more
    assert call.strike >= put.strike  # not below what the shares cost

    market.set_spot("AAPL", float(call.strike) * 1.15)  # through the strike: called away
    clock.advance_to(utc(2026, 12, 11, 21, 0) + NS)
    assert held(s) == [] and held(s, Right.CALL) == []

    clock.advance_to(utc(2026, 12, 14, 18, 0))  # next Monday: puts again
    assert held(s, Right.PUT)
    phases = [e["status"] for e in s.c.journal.events() if e["kind"] == "WHEEL"]
    assert phases == ["puts", "shares", "calls", "puts"]
    orders = s.c.oms.orders.values()
    assert any(o.tag == "call" and o.side is Side.SELL and o.status is OrderStatus.FILLED for o in orders)
    stats = s.c.strategy.stats
    assert stats.kept_for_assignment >= 2 and stats.calls_sent >= 1


def test_the_book_of_a_data_dir_shows_the_wheel_phase_and_the_last_marks(system):
    from alluse.app.options_book import book_from_journal

    s, clock = system
    clock.advance(2 * HOUR)
    s.stop_trading()
    s.close()  # saves the market: its last quotes are the offline book's marks
    book = book_from_journal(s.journal_path)
    assert book.wheel == {"Rev-Acc": {"AAPL": "puts"}}
    (line,) = book.lines
    assert line.quantity < 0 and line.mark is not None and line.delta is not None and line.delta > 0  # short put
    assert line.underlying_price is not None and line.dte is not None and line.theta is not None
