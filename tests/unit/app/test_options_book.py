"""The options book (app/options_book.py): greeks' signs and sizes for a position, an account's net delta,
premium collected from known fills, the buying power of a cash-secured put, P&L gross and net of commissions,
"-" with a reason where a figure cannot be known, bad input refused by name, and JSON that parses."""

import json
import math
from datetime import date
from decimal import Decimal

import pytest

from alluse.app.config import load_config
from alluse.app.options_book import (
    EXPIRED,
    NO_QUOTE,
    NO_QUOTE_OFFLINE,
    NO_UNDERLYING,
    NO_VOL,
    book_from_journal,
    book_json,
    build_book,
    premium_collected,
    to_json_value,
)
from alluse.app.run_summary import build_summary, summary_json
from alluse.app.system import TradingSystem
from alluse.common.clock import NS, TestClock, datetime_to_ns
from alluse.execution.journal import JOURNAL_FILE, Journal
from alluse.marketdata.pricing import DAY_NS, YEAR_NS, greeks, implied_vol
from alluse.model import Fill, InvalidInput, Option, Right, Side, expiry_ns
from alluse.portfolio import Ledger

RATE = 0.04
EXPIRY = date(2026, 12, 18)
PUT = Option("TSLA", EXPIRY, Decimal("250"), Right.PUT)
CALL = Option("AAPL", EXPIRY, Decimal("230"), Right.CALL)
NOW = expiry_ns(PUT) - 7 * DAY_NS  # a week to expiry
MARKS = {"TSLA": 260.0, PUT.id: 4.00, "AAPL": 232.0, CALL.id: 5.50}


def fill(fid, iid, side, qty, price, comm="0", account="A"):
    return Fill("C" + fid, account, iid, side, qty, Decimal(price), Decimal(comm), 1, fid)


# sell 2 puts at 5.00, buy one back at 3.00; buy 100 TSLA at 255; in B, buy 1 call at 5.00
FILLS = [
    fill("1", PUT.id, Side.SELL, 2, "5.00", "1.30"),
    fill("2", PUT.id, Side.BUY, 1, "3.00", "0.65"),
    fill("3", "TSLA", Side.BUY, 100, "255.00", "1.00"),
    fill("4", CALL.id, Side.BUY, 1, "5.00", "0.65", account="B"),
]


def ledger(fills=FILLS):
    led = Ledger(lambda iid: 100 if len(iid) > 6 else 1)
    led.deposit("A", Decimal("100000"))
    led.deposit("B", Decimal("50000"))
    for f in fills:
        led.apply_fill(f)
    return led


def per_contract(option, spot, mid, now=NOW):
    T = (expiry_ns(option) - now) / YEAR_NS
    call = option.right is Right.CALL
    iv = float(implied_vol(mid, spot, float(option.strike), T, RATE, call))
    g = greeks(spot, float(option.strike), T, RATE, iv, call)
    return iv, float(g.delta), float(g.theta_per_day)


def line(book, account, iid):
    [found] = [x for x in book.lines if x.account == account and x.instrument_id == iid]
    return found


def account(book, name):
    [found] = [a for a in book.accounts if a.account == name]
    return found


def test_a_short_put_has_positive_delta_and_theta_per_position():
    book = build_book(ledger(), FILLS, NOW, MARKS.get, RATE)
    put = line(book, "A", PUT.id)
    iv, delta, theta = per_contract(PUT, 260.0, 4.00)
    assert delta < 0 and theta < 0  # a long put, per contract
    assert put.quantity == -1 and put.delta == pytest.approx(delta * 100 * -1) and put.delta > 0
    assert put.theta == pytest.approx(theta * 100 * -1) and put.theta > 0  # a short option earns its decay
    assert put.iv == pytest.approx(iv)
    assert put.dte == pytest.approx(7.0) and put.underlying_price == 260.0 and put.mark == 4.00
    assert put.unrealized == Decimal("100.00")  # sold at 5.00 (FIFO: the lot still open), now 4.00, one contract
    assert put.note == "" and put.right == "P" and put.strike == Decimal("250")


def test_a_long_call_has_positive_delta_and_negative_theta():
    call = line(build_book(ledger(), FILLS, NOW, MARKS.get, RATE), "B", CALL.id)
    _, delta, theta = per_contract(CALL, 232.0, 5.50)
    assert call.delta == pytest.approx(delta * 100) and 0 < call.delta < 100
    assert call.theta == pytest.approx(theta * 100) and call.theta < 0


def test_net_delta_per_underlying_adds_shares_to_the_options_delta():
    book = build_book(ledger(), FILLS, NOW, MARKS.get, RATE)
    stock = line(book, "A", "TSLA")
    assert stock.delta == 100.0 and stock.theta == 0.0 and stock.dte is None and stock.right is None
    a = account(book, "A")
    assert a.net_delta == {"TSLA": pytest.approx(100 + line(book, "A", PUT.id).delta)}
    assert a.theta == pytest.approx(line(book, "A", PUT.id).theta)
    assert account(book, "B").net_delta == {"AAPL": pytest.approx(line(book, "B", CALL.id).delta)}


def test_premium_collected_is_option_sells_minus_option_buys():
    assert premium_collected(FILLS) == {"A": Decimal("700.00"), "B": Decimal("-500.00")}  # stock fills add nothing
    expiry = Fill("settle", "A", PUT.id, Side.BUY, 1, Decimal(0), Decimal(0), 2, "5", "X")
    assert premium_collected([*FILLS, expiry])["A"] == Decimal("700.00")  # expiring at 0 keeps what was taken in
    book = build_book(ledger(), FILLS, NOW, MARKS.get, RATE)
    assert account(book, "A").premium_collected == Decimal("700.00")


def test_buying_power_is_the_cash_securing_short_puts_plus_long_stock_at_market():
    book = build_book(ledger(), FILLS, NOW, MARKS.get, RATE)
    assert account(book, "A").buying_power_used == Decimal(250 * 100 * 1) + Decimal(100 * 260)
    assert account(book, "B").buying_power_used == 0  # a long call is paid for, it secures nothing
    offline = build_book(ledger(), FILLS, NOW, lambda _: None, RATE)
    assert account(offline, "A").buying_power_used == Decimal(250 * 100) + Decimal(100 * 255)  # stock at cost


def test_realized_pnl_gross_and_net_of_commissions_equity_and_return():
    led = ledger()
    a = account(build_book(led, FILLS, NOW, MARKS.get, RATE), "A")
    assert a.realized_gross == Decimal("200.00")  # one contract sold at 5.00, bought back at 3.00
    assert a.commissions == Decimal("2.95") and a.realized_net == Decimal("197.05")
    cash = Decimal(100000) + 1000 - 300 - 25500 - Decimal("2.95")
    assert a.cash == cash and a.deposits == Decimal(100000) and a.fills == 3
    assert a.equity == cash - 400 + 26000  # short put at 4.00, 100 TSLA at 260
    assert a.return_on_deposits == pytest.approx(float(a.equity / 100000 - 1))
    assert a.unrealized == Decimal("100.00") + Decimal("500.00") and a.at_cost == 0


def test_without_marks_greeks_and_unrealized_are_unknown_and_say_why():
    book = build_book(ledger(), FILLS, NOW, lambda _: None, RATE, no_quote=NO_QUOTE_OFFLINE)
    put, stock = line(book, "A", PUT.id), line(book, "A", "TSLA")
    assert (put.mark, put.delta, put.theta, put.unrealized, put.iv) == (None, None, None, None, None)
    assert put.note == NO_QUOTE_OFFLINE and put.dte == pytest.approx(7.0)
    assert stock.delta == 100.0 and stock.unrealized is None and stock.note == NO_QUOTE_OFFLINE
    a = account(book, "A")
    assert a.net_delta == {"TSLA": None} and a.theta is None and a.unrealized is None and a.at_cost == 2
    assert book.notes() == [NO_QUOTE_OFFLINE]


@pytest.mark.parametrize(
    "marks,now,note",
    [
        ({PUT.id: 4.0}, NOW, NO_UNDERLYING),  # the option's mark, not the underlying's
        ({"TSLA": 260.0}, NOW, NO_QUOTE),
        ({"TSLA": 200.0, PUT.id: 1.0}, NOW, NO_VOL),  # below the put's intrinsic value of 50
        (MARKS, expiry_ns(PUT) + NS, EXPIRED),
    ],
)
def test_each_missing_greek_names_its_reason(marks, now, note):
    put = line(build_book(ledger(), FILLS, now, marks.get, RATE), "A", PUT.id)
    assert put.note == note and put.delta is None and put.theta is None
    assert (put.mark is None) == (PUT.id not in marks)


def test_the_chain_services_iv_and_delta_are_used_where_it_has_them():
    book = build_book(ledger(), FILLS, NOW, MARKS.get, RATE, model=lambda o: (0.5, -0.3) if o == PUT else None)
    put = line(book, "A", PUT.id)
    assert put.delta == pytest.approx(30.0) and put.iv == 0.5
    T = 7 / 365
    assert put.theta == pytest.approx(-100 * float(greeks(260.0, 250.0, T, RATE, 0.5, False).theta_per_day))
    assert line(book, "B", CALL.id).iv == pytest.approx(per_contract(CALL, 232.0, 5.50)[0])  # solved: no model


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"as_of_ns": -1}, "as_of_ns=-1: must be a whole number of nanoseconds"),
        ({"as_of_ns": 1.5e18}, "as_of_ns=1.5e+18: must be a whole number"),
        ({"rate": math.nan}, "rate=nan: must be a finite number"),
        ({"mark_of": {**MARKS, "TSLA": math.nan}.get}, "mark of TSLA=nan: must be a positive finite price or None"),
        ({"mark_of": {**MARKS, PUT.id: -1.0}.get}, f"mark of {PUT.id}=-1.0: must be a positive"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_value(kwargs, message):
    args = {"ledger": ledger(), "fills": FILLS, "as_of_ns": NOW, "mark_of": MARKS.get, "rate": RATE, **kwargs}
    with pytest.raises(InvalidInput) as caught:
        build_book(**args)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_json_is_valid_money_as_exact_strings_and_unknowns_as_null():
    doc = book_json(build_book(ledger(), FILLS, NOW, {**MARKS, CALL.id: None}.get, RATE))
    parsed = json.loads(json.dumps(doc, allow_nan=False))
    a = next(x for x in parsed["accounts"] if x["account"] == "A")
    assert a["premium_collected"] == "700.00" and a["buying_power_used"] == "51000.0"
    assert a["realized_gross"] == "200.00" and a["realized_net"] == "197.05"
    assert a["net_delta"]["TSLA"] > 100
    call = next(x for x in parsed["lines"] if x["instrument_id"] == CALL.id)
    assert call["delta"] is None and call["note"] == NO_QUOTE and call["expiry"] == "2026-12-18"
    assert parsed["notes"] == [NO_QUOTE] and parsed["as_of"].startswith("2026-12-11T")
    assert to_json_value(math.inf) is None
    with pytest.raises(InvalidInput, match="no JSON form for a object"):
        to_json_value(object())


def test_the_book_from_a_journal_has_its_fills_and_no_marks(tmp_path):
    journal = Journal(tmp_path / JOURNAL_FILE)
    journal.record_deposit("A", Decimal("100000"), 1)
    journal.record_deposit("B", Decimal("50000"), 1)
    journal.record_settlement("A", "test fills", tuple(f for f in FILLS if f.account == "A"), NOW)
    journal.record_settlement("B", "test fills", tuple(f for f in FILLS if f.account == "B"), NOW)
    journal.close()
    book = book_from_journal(tmp_path / JOURNAL_FILE)
    assert book.as_of_ns == NOW  # the journal's last event, not the wall clock
    assert [(x.account, x.instrument_id, x.quantity) for x in book.lines] == [
        ("A", "TSLA", 100), ("A", PUT.id, -1), ("B", CALL.id, 1)
    ]  # fmt: skip
    assert all(x.note == NO_QUOTE_OFFLINE and x.mark is None for x in book.lines)
    a = account(book, "A")
    assert a.premium_collected == Decimal("700.00") and a.realized_net == Decimal("197.05")


def test_the_run_summary_carries_the_book_of_a_wheel_run(tmp_path):
    """A day and a half of the wheel in virtual time: it sells puts, so the book holds short puts with a
    positive delta and theta, the accounts' net delta adds them up, and the summary's JSON parses."""
    cfg = load_config(
        overrides={"run": {"start": "2026-11-23T14:30:00+00:00", "seed": 11}, "monitoring": {"enabled": False}}
    )
    clock = TestClock(datetime_to_ns(cfg.run.start_datetime()))
    system = TradingSystem(cfg, clock, tmp_path)
    system.start()
    try:
        clock.advance(36 * 3600 * NS)
        system.stop_trading()
        clock.advance(NS)
        book = build_summary(system, 1.0, system.sim_start_ns).book
        doc = json.loads(json.dumps(summary_json(build_summary(system, 1.0, system.sim_start_ns)), allow_nan=False))
    finally:
        system.close()
    short_puts = [x for x in book.lines if x.right == "P" and x.quantity < 0]
    assert short_puts and all(x.mark is not None and x.delta is not None for x in short_puts)
    assert all(x.delta > 0 and x.theta > 0 for x in short_puts)
    for a in book.accounts:
        mine = [x for x in book.lines if x.account == a.account]
        for underlying, delta in a.net_delta.items():
            assert delta == pytest.approx(sum(x.delta for x in mine if x.underlying == underlying))
        puts = [x for x in mine if x.right == "P" and x.quantity < 0]
        assert a.buying_power_used >= sum(x.strike * 100 * -x.quantity for x in puts)
        assert a.realized_net == a.realized_gross - a.commissions
    assert {"book", "orders_this_run", "quality", "consistent"} <= set(doc)
    assert {x["instrument_id"] for x in doc["book"]["lines"]} == {x.instrument_id for x in book.lines}
    assert all(isinstance(a["equity"], str) for a in doc["book"]["accounts"])


def test_a_mids_float_noise_does_not_reach_the_money():
    noisy = (2.09 + 2.10) / 2  # 2.0949999999999998
    book = build_book(ledger(), FILLS, NOW, {**MARKS, PUT.id: noisy}.get, RATE)
    put = line(book, "A", PUT.id)
    assert put.mark == 2.095 and put.unrealized == Decimal("290.500")  # (5.00 - 2.095) x 100, to the digit
