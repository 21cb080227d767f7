"""Daily loss and drawdown limits switch an account to HALTED, once per breach."""

from decimal import Decimal

from alluse.model import TradingState
from alluse.risk import DenyReason
from alluse.risk.config import AccountRiskConfig, RiskConfig
from alluse.risk.limits import DAY_NS

HALTED, ACTIVE = TradingState.HALTED, TradingState.ACTIVE


def test_daily_loss_limit_halts_once(make_env):
    env = make_env(RiskConfig(daily_loss_limit=Decimal(1000)))
    assert env.gate.evaluate(env.clock.now_ns()) == []  # the day starts at 100,000
    env.equity["A"] = Decimal("99000.01")
    assert env.gate.evaluate(env.clock.now_ns()) == []  # 999.99 down: inside the limit
    env.equity["A"] = Decimal(99_000)
    assert env.gate.evaluate(env.clock.now_ns()) == ["A"]
    env.equity["A"] = Decimal(98_000)
    assert env.gate.evaluate(env.clock.now_ns()) == []
    assert len(env.changes) == 1
    account, old, new, reason, source = env.changes[0]
    assert (account, old, new, source) == ("A", ACTIVE, HALTED, "risk")
    assert reason.startswith("daily loss limit") and "1,000.00 below the day's start 100,000.00" in reason
    assert env.submit(env.order()).reason is DenyReason.HALTED


def test_the_day_restarts_at_the_first_evaluation_of_each_utc_day(make_env):
    env = make_env(RiskConfig(daily_loss_limit=Decimal(1000)))
    env.gate.evaluate(env.clock.now_ns())
    env.equity["A"] = Decimal(99_500)
    env.gate.evaluate(env.clock.now_ns())
    env.clock.advance(DAY_NS)
    assert env.gate.evaluate(env.clock.now_ns()) == []  # the next UTC day's first evaluation: starts at 99,500
    env.equity["A"] = Decimal(98_600)
    assert env.gate.evaluate(env.clock.now_ns()) == []  # 1,400 below yesterday's start, 900 today
    env.equity["A"] = Decimal(98_500)
    assert env.gate.evaluate(env.clock.now_ns()) == ["A"]
    assert "day's start 99,500.00" in env.changes[0][3]


def test_drawdown_from_the_peak_halts_once(make_env):
    env = make_env(RiskConfig(max_drawdown=Decimal(2000)))
    for equity in (100_000, 103_000, 101_500):
        env.equity["A"] = Decimal(equity)
        env.clock.advance(DAY_NS)  # the peak survives day changes
        assert env.gate.evaluate(env.clock.now_ns()) == []
    env.equity["A"] = Decimal("101000.01")
    assert env.gate.evaluate(env.clock.now_ns()) == []
    env.equity["A"] = Decimal(101_000)
    assert env.gate.evaluate(env.clock.now_ns()) == ["A"]
    assert env.gate.evaluate(env.clock.now_ns()) == []
    assert len(env.changes) == 1
    reason = env.changes[0][3]
    assert reason.startswith("drawdown limit") and "2,000.00 below the peak 103,000.00 (limit 2,000.00)" in reason


def test_after_an_operator_resumes_the_limit_rearms_from_that_equity(make_env):
    env = make_env(RiskConfig(daily_loss_limit=Decimal(1000)))
    env.gate.evaluate(env.clock.now_ns())
    env.equity["A"] = Decimal(98_800)
    env.gate.evaluate(env.clock.now_ns())
    env.states.set("A", ACTIVE, "operator resumes", "cli")
    assert env.gate.evaluate(env.clock.now_ns()) == []  # not halted again at once
    env.equity["A"] = Decimal(97_800)  # one more full limit lost
    assert env.gate.evaluate(env.clock.now_ns()) == ["A"]
    assert [c[2] for c in env.changes] == [HALTED, ACTIVE, HALTED]


def test_limits_are_per_account_and_can_be_off(make_env):
    config = RiskConfig(daily_loss_limit=Decimal(1000), accounts={"B": AccountRiskConfig(daily_loss_limit="off")})
    env = make_env(config, accounts=("A", "B"))
    env.gate.evaluate(env.clock.now_ns())
    env.equity.update(A=Decimal(98_000), B=Decimal(50_000))
    assert env.gate.evaluate(env.clock.now_ns()) == ["A"]
    assert env.states.get("B") is ACTIVE


def test_bad_equity_is_skipped_and_counted(make_env):
    env = make_env(RiskConfig(daily_loss_limit=Decimal(1000)), accounts=("A", "B"))
    env.gate.evaluate(env.clock.now_ns())
    env.equity.update(A=Decimal("NaN"), B=Decimal(98_000))
    assert env.gate.evaluate(env.clock.now_ns()) == ["B"]  # A's bad figure does not stop B's check
    assert env.states.get("A") is ACTIVE and env.gate.loss.errors == 1
    assert env.gate.loss.watches["A"].equity == Decimal(100_000)  # nothing half-applied


def test_no_limits_no_equity_reads(make_env):
    env = make_env()
    env.ctx.equity_of = None
    env.gate.loss.equity_of = lambda account: 1 / 0
    assert env.gate.evaluate(env.clock.now_ns()) == [] and env.gate.loss.errors == 0


def test_a_failing_on_change_still_halts_and_the_other_accounts_are_evaluated(make_env):
    env = make_env(RiskConfig(daily_loss_limit=Decimal(1000)), accounts=("A", "B"))

    def journal_down(account, *_):
        if account == "A":
            raise OSError("disk full")

    env.states.on_change = journal_down
    env.gate.evaluate(env.clock.now_ns())
    env.equity.update(A=Decimal(98_000), B=Decimal(98_000))
    assert env.gate.evaluate(env.clock.now_ns()) == ["B"]
    assert env.states.get("A") is HALTED and env.gate.loss.errors == 1
    assert env.gate.evaluate(env.clock.now_ns()) == []  # reported once, not retried every evaluation
