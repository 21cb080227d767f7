"""Order-rate throttle (token bucket in clock time) and the duplicate-order window."""

from alluse.common.clock import NS
from alluse.model import OrderStatus, Side
from alluse.risk import DenyReason
from alluse.risk.config import AccountRiskConfig, RiskConfig


def flood(env, n, account="A"):
    """n orders, all distinct, at the current instant; returns how many passed."""
    results = []
    for _ in range(n):
        k = env._seq
        side = Side.BUY if k % 2 else Side.SELL
        results.append(
            env.submit(env.order(side=side, qty=1 + k % 5, price=f"{190 + k // 10 / 100:.2f}", account=account))
        )
    denied = [d.reason for d in results if d is not None]
    assert set(denied) <= {DenyReason.THROTTLED}
    return n - len(denied)


def test_flood_past_the_throttle_passes_exactly_the_burst(make_env):
    env = make_env(RiskConfig(orders_per_second=20, order_burst=40, max_open_orders=1000))
    assert flood(env, 100) == 40
    assert env.gate.denials[DenyReason.THROTTLED] == 60
    env.clock.advance(NS)  # one second of clock time refills 20 tokens
    assert flood(env, 100) == 20
    env.clock.advance(60 * NS)  # a long pause refills no more than the burst
    assert flood(env, 100) == 40


def test_a_token_returns_at_the_exact_ns(make_env):
    env = make_env(RiskConfig(orders_per_second=2, order_burst=5))
    assert flood(env, 6) == 5
    env.clock.advance(NS // 2 - 1)
    assert flood(env, 1) == 0
    env.clock.advance(1)
    assert flood(env, 2) == 1


def test_the_throttle_is_per_account(make_env):
    env = make_env(
        RiskConfig(orders_per_second=1, order_burst=2, accounts={"B": AccountRiskConfig(order_burst=3)}),
        accounts=("A", "B"),
    )
    assert flood(env, 5, "A") == 2
    assert flood(env, 5, "B") == 3


def test_denied_orders_take_no_token(make_env):
    env = make_env(RiskConfig(orders_per_second=1, order_burst=2, max_position_shares=5))
    for _ in range(5):  # denied after the throttle check: by the position limit
        assert env.submit(env.order(qty=6)).reason is DenyReason.MAX_POSITION
    assert env.submit(env.order(qty=1)) is None
    assert env.submit(env.order(qty=2)) is None
    assert env.submit(env.order(qty=3)).reason is DenyReason.THROTTLED


def test_duplicate_window_in_clock_time(env):
    assert env.submit(env.order(qty=7, price="199.50")) is None
    env.clock.advance(2 * NS - 1)
    denied = env.submit(env.order(qty=7, price="199.50"))
    assert denied.reason is DenyReason.DUPLICATE_ORDER and denied.values["age_s"] == (2 * NS - 1) / NS
    env.clock.advance(1)  # the window is 2 s from the pass; the denial did not restart it
    assert env.submit(env.order(qty=7, price="199.50")) is None


def test_duplicate_needs_every_field_equal(make_env):
    env = make_env(accounts=("A", "B"))
    assert env.submit(env.order(qty=7, price="199.50")) is None
    for other in (
        env.order(qty=8, price="199.50"),
        env.order(qty=7, price="199.49"),
        env.order(qty=7, price="199.50", side=Side.SELL),
        env.order(qty=7, price="199.50", account="B"),
        env.order("NOQ", qty=7, price="199.50"),
    ):
        assert env.submit(other) is None


def test_a_throttled_order_does_not_open_a_duplicate_window(make_env):
    env = make_env(RiskConfig(orders_per_second=1, order_burst=1))
    assert env.submit(env.order(qty=1)) is None
    assert env.submit(env.order(qty=2)).reason is DenyReason.THROTTLED
    env.clock.advance(NS)
    assert env.submit(env.order(qty=2)) is None


def test_zero_window_turns_the_guard_off(make_env):
    env = make_env(RiskConfig(duplicate_window_s=0))
    assert env.submit(env.order()) is None
    assert env.submit(env.order()) is None


def test_old_entries_are_forgotten(env):
    for i in range(100):
        assert env.submit(env.order(qty=1 + i % 5, price=f"{199 + i // 5 / 100:.2f}")) is None
        env.clock.advance(NS // 10)
        env.cancel(list(env.open.values())[0])
    env.clock.advance(3 * NS)
    env.submit(env.order())
    assert len(env.gate.duplicates) == 1


def test_an_order_that_passed_but_was_never_sent_gives_everything_back(make_env):
    """The journal write failed after the check: the order manager releases it, and it is not working."""
    env = make_env(RiskConfig(orders_per_second=1, order_burst=1))
    lost = env.order(qty=5)
    assert env.gate.check(lost) is None and lost.status is OrderStatus.INITIALIZED
    assert env.gate.exposure.accounts["A"].open_orders == 1
    env.gate.release(lost)
    assert env.gate.exposure.accounts["A"].open_orders == 0 and env.gate.passed == 0
    retry = env.gate.check(lost)  # the same order again: not a duplicate, not throttled
    assert retry is None
    assert env.gate.exposure.accounts["A"].open_orders == 1 and env.gate.passed == 1
