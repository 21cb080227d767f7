"""Trading states in a running system: operator halt/resume through the journal, loss limits, restarts."""

from alluse.app.config import load_config
from alluse.app.system import TradingSystem
from alluse.common.clock import NS, TestClock, datetime_to_ns
from alluse.execution.journal import Journal
from alluse.model import OrderStatus, TradingState

HOUR = 3600 * NS
START = "2026-11-23T14:30:00+00:00"


def build(tmp_path, **overrides):
    cfg = load_config(overrides={"run": {"start": START, "seed": 3}, **overrides})
    clock = TestClock(datetime_to_ns(cfg.run.start_datetime()))
    system = TradingSystem(cfg, clock, tmp_path)
    system.start()
    return system, clock


def gen_orders_after(system, ts):
    return [o for o in system.c.oms.orders.values() if o.account == "Gen-Acc" and o.ts_created > ts]


def test_operator_halt_from_another_process_stops_the_account_and_survives_a_restart(tmp_path):
    system, clock = build(tmp_path)
    clock.advance(6 * HOUR)
    # what `alluse halt --account Gen-Acc` does, from its own connection
    other = Journal(tmp_path / "journal.db", intent_log=False)  # as `alluse halt` opens it
    other.record_trading_state("Gen-Acc", "HALTED", "operator: test", "cli", clock.now_ns())
    other.close()
    assert system.follow_operator() == 1
    assert system.c.risk.states.get("Gen-Acc") is TradingState.HALTED
    assert not system.c.oms.open_orders("Gen-Acc")  # working orders were cancelled
    halted_at = clock.now_ns()
    clock.advance(24 * HOUR)
    assert gen_orders_after(system, halted_at) == []  # the wheel sends nothing for a halted account
    assert any(o.account == "Rev-Acc" and o.ts_created > halted_at for o in system.c.oms.orders.values())
    system.stop_trading()
    system.close()

    again, clock2 = build(tmp_path)
    assert again.c.risk.states.get("Gen-Acc") is TradingState.HALTED  # journaled, so it survives
    other = Journal(tmp_path / "journal.db", intent_log=False)  # as `alluse halt` opens it
    other.record_trading_state("Gen-Acc", "ACTIVE", "operator: resume", "cli", clock2.now_ns())
    other.close()
    again.follow_operator()
    resumed_at = clock2.now_ns()
    clock2.advance(12 * HOUR)
    assert gen_orders_after(again, resumed_at)
    again.stop_trading()
    again.close()


def test_a_daily_loss_limit_halts_the_account_and_is_journaled(tmp_path):
    system, clock = build(tmp_path, risk={"accounts": {"Gen-Acc": {"daily_loss_limit": 1}}})
    clock.advance(3 * 24 * HOUR)
    assert system.c.risk.states.get("Gen-Acc") is TradingState.HALTED
    state, reason, source = system.c.journal.trading_states()["Gen-Acc"]
    assert state == "HALTED" and source != "cli" and "loss" in reason.lower()
    assert all(o.status.is_terminal for o in system.c.oms.orders.values() if o.account == "Gen-Acc")
    system.stop_trading()
    system.close()


def test_reducing_allows_buy_backs_only(tmp_path):
    system, clock = build(tmp_path)
    clock.advance(6 * HOUR)
    system.c.risk.states.set("Rev-Acc", "REDUCING", "test", "test")
    since = clock.now_ns()
    clock.advance(48 * HOUR)
    new = [o for o in system.c.oms.orders.values() if o.account == "Rev-Acc" and o.ts_created > since]
    assert all(o.tag in ("take-profit", "roll") for o in new)
    denied = [o for o in new if o.status is OrderStatus.DENIED]
    assert not denied  # the strategy respects the state rather than being refused by it
    system.stop_trading()
    system.close()


def test_an_operator_halt_written_just_before_a_risk_halt_is_not_skipped(tmp_path):
    system, clock = build(tmp_path)
    clock.advance(HOUR)
    other = Journal(tmp_path / "journal.db", intent_log=False)  # as `alluse halt` opens it
    other.record_trading_state("Gen-Acc", "HALTED", "operator: stop", "cli", clock.now_ns())
    other.close()
    system.c.risk.states.set("Rev-Acc", "REDUCING", "a limit", "risk")  # journaled after the operator's row
    system.follow_operator()
    assert system.c.risk.states.get("Gen-Acc") is TradingState.HALTED
    system.stop_trading()
    system.close()


def test_restart_with_an_open_order_in_an_option_the_new_market_does_not_list(tmp_path):
    """Recovery must not depend on today's strike list: the journal's instruments are registered on sight."""
    system, clock = build(tmp_path)
    step = NS
    while not any(o.status.is_open for o in system.c.oms.orders.values()) and step < 6 * HOUR:
        clock.advance(step)  # until an entry is resting at the venue
        step *= 2
    assert any(o.status.is_open for o in system.c.oms.orders.values())
    system.c.journal.close()  # a crash: open orders stay open in the journal and at the venue
    system.c.broker.close()
    spots = {"TSLA": 400.0, "NVDA": 60.0, "AAPL": 120.0, "AMZN": 90.0, "MSFT": 700.0}
    moved = {k: {"spot": v, "vol": 0.4} for k, v in spots.items()}
    again, _ = build(tmp_path, market={"underlyings": moved})  # different strikes around different spots
    assert again.recovery.orders == len(system.c.oms.orders)
    again.stop_trading()
    again.close()


def test_loss_watermarks_survive_a_restart(tmp_path):
    """A crash mid-day must not hand out a fresh daily allowance or forget the peak."""
    limits = {"accounts": {"Gen-Acc": {"daily_loss_limit": 1_000_000, "max_drawdown": 1_000_000}}}
    system, clock = build(tmp_path, risk=limits)
    clock.advance(6 * HOUR)
    watch = system.c.risk.loss.watches["Gen-Acc"]
    marks = (watch.day, watch.day_start, watch.peak)
    system.c.journal.close()  # crash
    system.c.broker.close()
    again, _ = build(tmp_path, risk=limits)
    recovered = again.c.risk.loss.watches["Gen-Acc"]
    assert (recovered.day, recovered.day_start, recovered.peak) == marks
    again.stop_trading()
    again.close()
