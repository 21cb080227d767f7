"""Trading states: the component itself, and what REDUCING and HALTED let through."""

import pytest
from risk_env import PUT

from alluse.model import InvalidInput, Side, TradingState
from alluse.risk import DenyReason, TradingStates

ACTIVE, REDUCING, HALTED = TradingState.ACTIVE, TradingState.REDUCING, TradingState.HALTED


def test_set_calls_on_change_once_per_real_change():
    calls = []
    states = TradingStates(["A", "B"], on_change=lambda *c: calls.append(c))
    assert states.set("A", HALTED, "too fast", "cli") is True
    assert states.set("A", "HALTED", "again", "cli") is False  # already HALTED: no change, no call
    assert calls == [("A", ACTIVE, HALTED, "too fast", "cli")]
    assert states.get("A") is HALTED and states.reason("A") == "too fast" and states.get("B") is ACTIVE
    assert states.set_all(REDUCING, "wind down", "cli") == ["A", "B"]
    assert len(calls) == 3 and calls[-1] == ("B", ACTIVE, REDUCING, "wind down", "cli")


def test_bad_account_or_state_is_refused_and_changes_nothing():
    calls = []
    states = TradingStates(["A"], on_change=lambda *c: calls.append(c))
    with pytest.raises(InvalidInput, match="account='Typo': unknown account \\(known: A\\)"):
        states.set("Typo", HALTED, "x", "cli")
    with pytest.raises(InvalidInput, match="state='STOP'"):
        states.set("A", "STOP", "x", "cli")
    assert states.get("A") is ACTIVE and calls == []


def test_seeding_restores_states_without_calling_on_change():
    calls = []
    states = TradingStates(["A", "B"], on_change=lambda *c: calls.append(c), initial={"A": HALTED})
    states.seed("B", "REDUCING", "journaled: wind down")
    states.seed("Gone", HALTED)  # an account no longer configured: ignored
    assert states.snapshot() == {"A": HALTED, "B": REDUCING}
    assert states.reason("B") == "journaled: wind down" and calls == []


def test_a_seeded_halt_refuses_orders(make_env):
    env = make_env()
    env.states.seed("A", HALTED, "halted before the restart")
    denial = env.submit(env.order())
    assert denial.reason is DenyReason.HALTED and "halted before the restart" in denial.detail


def test_the_state_changes_even_when_on_change_fails():
    def broken(*_):
        raise OSError("disk full")

    states = TradingStates(["A"], on_change=broken)
    with pytest.raises(OSError):
        states.set("A", HALTED, "x", "cli")
    assert states.get("A") is HALTED  # a halt takes effect even if it could not be journaled


def test_reducing_allows_closing_and_refuses_opening_or_crossing(env):
    env.hold("AAPL", 100)
    env.hold(PUT.id, -2, "3.00")
    env.states.set("A", REDUCING, "wind down", "cli")
    assert env.submit(env.order(qty=1)).reason is DenyReason.REDUCE_ONLY  # grows the long
    assert env.submit(env.order(side=Side.SELL, qty=101)).reason is DenyReason.REDUCE_ONLY  # crosses zero
    assert env.submit(env.order("NOQ", side=Side.SELL, qty=1, price="5.00")).reason is DenyReason.REDUCE_ONLY  # flat
    assert env.submit(env.order(PUT.id, Side.SELL, 1, "3.00")).reason is DenyReason.REDUCE_ONLY  # more short
    assert env.submit(env.order(side=Side.SELL, qty=60)) is None  # closing part
    # with 60 already working to sell, 50 more would cross zero; 40 closes exactly
    assert env.submit(env.order(side=Side.SELL, qty=50)).reason is DenyReason.REDUCE_ONLY
    assert env.submit(env.order(side=Side.SELL, qty=40)) is None
    assert env.submit(env.order(PUT.id, Side.BUY, 2, "3.00")) is None  # buying back the short puts


def test_halted_refuses_everything(env):
    env.hold("AAPL", 100)
    env.hold(PUT.id, -2, "3.00")
    env.states.set("A", HALTED, "kill switch", "cli")
    for order in (
        env.order(qty=1),
        env.order(side=Side.SELL, qty=100),
        env.order(PUT.id, Side.BUY, 2, "3.00"),
        env.order("NOQ", price="5.00"),
    ):
        denial = env.submit(order)
        assert denial.reason is DenyReason.HALTED and denial.values == {"state": "HALTED", "why": "kill switch"}
    assert env.gate.denials[DenyReason.HALTED] == 4 and env.gate.passed == 0
