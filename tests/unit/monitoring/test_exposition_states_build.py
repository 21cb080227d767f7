"""/metrics says what an operator asks first: each account's trading state, and which build is running."""

from alluse import build
from alluse.common.clock import TestClock
from alluse.model import TradingState
from alluse.model.registry import InstrumentRegistry
from alluse.monitoring.collector import Collector
from alluse.portfolio import Ledger
from alluse.risk import RiskContext, RiskGate, TradingStates


def test_each_account_s_trading_state_is_a_one_hot_gauge():
    states = TradingStates(["A", "B"])
    ctx = RiskContext(TestClock(0), InstrumentRegistry(), Ledger(lambda iid: 1), lambda iid: None)
    gate = RiskGate(ctx, states=states)
    states.set("B", TradingState.HALTED, "operator says stop", "cli")
    gauges = [m for m in gate.metrics() if m.name == "alluse_trading_state"]
    shown = {(dict(m.labels)["account"], dict(m.labels)["state"]): m.value for m in gauges}
    assert shown[("A", "active")] == 1 and shown[("A", "halted")] == 0
    assert shown[("B", "halted")] == 1 and shown[("B", "active")] == 0
    assert sum(shown.values()) == 2  # one state each


def test_the_build_is_exported_with_its_version():
    (info,) = [m for m in Collector([]).metrics() if m.name == "alluse_build_info"]
    labels = dict(info.labels)
    assert info.value == 1 and labels["build"] == build.describe() and labels["version"]
