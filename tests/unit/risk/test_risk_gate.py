"""One test per denial reason, each with the boundary that still passes."""

from decimal import Decimal

from risk_env import CALL, FAR_PUT, NEAR_PUT, PUT

from alluse.model import Side, TradingState, expiry_ns
from alluse.risk import DenyReason
from alluse.risk.config import AccountRiskConfig, RiskConfig
from alluse.risk.limits import DAY_NS


def assert_denied(env, order, reason):
    before = env.gate.denials[reason]
    denial = env.submit(order)
    assert denial is not None, f"expected {reason.value}, order passed"
    assert denial.reason is reason, str(denial)
    assert str(denial).startswith(f"{reason.value}: ")
    assert env.gate.denials[reason] == before + 1
    return denial


def test_every_reason_has_its_test():
    missing = [r.value for r in DenyReason if f"test_{r.value.lower()}" not in globals()]
    assert missing == []


def test_halted(env):
    env.hold("AAPL", 100)
    env.states.set("A", TradingState.HALTED, "operator says stop", "cli")
    denial = assert_denied(env, env.order(side=Side.SELL, qty=10), DenyReason.HALTED)
    assert "operator says stop" in denial.detail
    env.states.set("A", TradingState.ACTIVE, "operator says go", "cli")
    assert env.submit(env.order(side=Side.SELL, qty=10)) is None


def test_reduce_only(env):
    env.hold("AAPL", 100)
    env.states.set("A", TradingState.REDUCING, "wind down", "cli")
    denial = assert_denied(env, env.order(qty=1), DenyReason.REDUCE_ONLY)
    assert denial.values == {"position": 100, "working_same_side": 0, "quantity": 1}
    assert env.submit(env.order(side=Side.SELL, qty=100)) is None  # closes exactly to flat


def test_max_quantity(make_env):
    env = make_env(RiskConfig(max_order_shares=100, max_order_contracts=5))
    assert env.submit(env.order(qty=100)) is None
    denial = assert_denied(env, env.order(qty=101), DenyReason.MAX_QUANTITY)
    assert denial.values == {"quantity": 101, "max": 100}
    assert env.submit(env.order(CALL.id, qty=5, price="0.20")) is None
    denial = assert_denied(env, env.order(CALL.id, qty=6, price="0.20"), DenyReason.MAX_QUANTITY)
    assert "contracts" in denial.detail


def test_no_quote(env):
    denial = assert_denied(env, env.order("NOQ", price=None), DenyReason.NO_QUOTE)
    assert "missing or stale" in denial.detail and "market order refused" in denial.detail
    assert env.submit(env.order("AAPL", price=None)) is None  # a market order with a quote
    assert env.submit(env.order("NOQ", price="5.00")) is None  # a resting limit without one


def test_max_notional(make_env):
    env = make_env(RiskConfig(max_order_notional=Decimal(10_000)))
    assert env.submit(env.order(qty=50, price="200.00")) is None  # exactly 10,000
    denial = assert_denied(env, env.order(qty=51, price="200.00"), DenyReason.MAX_NOTIONAL)
    assert denial.values == {"notional": Decimal("10200.00"), "max": Decimal(10_000)}
    assert_denied(env, env.order(qty=51, price=None), DenyReason.MAX_NOTIONAL)  # a market order: at the mid


def test_price_band(env):
    assert env.submit(env.order(price="250.00")) is None  # mid 200, band 25% = 50
    denial = assert_denied(env, env.order(price="250.01"), DenyReason.PRICE_BAND)
    assert denial.values["band"] == 50.0 and denial.values["mid"] == 200.0
    assert_denied(env, env.order(side=Side.SELL, price="149.99"), DenyReason.PRICE_BAND)
    assert env.submit(env.order(CALL.id, price="0.30")) is None  # cheap option: 10-cent minimum band
    assert_denied(env, env.order(CALL.id, price="0.31"), DenyReason.PRICE_BAND)


def test_max_open_orders(make_env):
    env = make_env(RiskConfig(max_open_orders=3))
    working = [env.order(price=p) for p in ("199.00", "199.01", "199.02")]
    assert [env.submit(o) for o in working] == [None, None, None]
    denial = assert_denied(env, env.order(price="199.03"), DenyReason.MAX_OPEN_ORDERS)
    assert denial.values == {"open_orders": 3, "max": 3}
    env.cancel(working[0])
    assert env.submit(env.order(price="199.03")) is None


def test_duplicate_order(env):
    assert env.submit(env.order(qty=7, price="199.50")) is None
    denial = assert_denied(env, env.order(qty=7, price="199.50"), DenyReason.DUPLICATE_ORDER)
    assert denial.values == {"age_s": 0.0, "window_s": 2.0}
    assert env.submit(env.order(qty=7, price="199.51")) is None  # another price is another order


def test_throttled(make_env):
    env = make_env(RiskConfig(orders_per_second=1, order_burst=1))
    assert env.submit(env.order(qty=1)) is None
    denial = assert_denied(env, env.order(qty=2), DenyReason.THROTTLED)
    assert denial.values == {"rate_per_s": 1.0, "burst": 1, "retry_after_s": 1.0}


def test_max_position(make_env):
    """Projected = held + working on the same side + this order."""
    env = make_env(RiskConfig(max_position_shares=100))
    env.hold("AAPL", 60)
    assert env.submit(env.order(qty=30)) is None  # working: 90 projected
    assert env.submit(env.order(qty=10)) is None  # exactly 100
    denial = assert_denied(env, env.order(qty=1), DenyReason.MAX_POSITION)
    assert denial.values == {"projected": 101, "position": 60, "working_same_side": 40, "max": 100}
    assert env.submit(env.order(side=Side.SELL, qty=160)) is None  # to -100: at the limit short
    assert_denied(env, env.order(side=Side.SELL, qty=1), DenyReason.MAX_POSITION)


def test_max_position_over_the_limit_may_still_reduce(make_env):
    env = make_env(RiskConfig(max_position_shares=100))
    env.hold("AAPL", 150)  # held before the limit was lowered
    assert env.submit(env.order(side=Side.SELL, qty=10)) is None
    assert_denied(env, env.order(qty=1), DenyReason.MAX_POSITION)


def test_expiry_window(env):
    denial = assert_denied(env, env.order(NEAR_PUT.id, Side.SELL, 1, "0.50"), DenyReason.EXPIRY_WINDOW)
    assert denial.values["dte"] < 0.5 and denial.values["min_dte"] == 0.5
    assert_denied(env, env.order(FAR_PUT.id, Side.SELL, 1, "6.00"), DenyReason.EXPIRY_WINDOW)
    env.hold(NEAR_PUT.id, -1)
    assert env.submit(env.order(NEAR_PUT.id, Side.BUY, 1, "0.50")) is None  # closing is always allowed


def test_expiry_window_boundary(env):
    env.clock.advance_to(expiry_ns(PUT) - DAY_NS // 2)  # exactly min_dte = 0.5 days left
    assert env.submit(env.order(PUT.id, Side.SELL, 1, "3.00")) is None
    env.clock.advance(1)
    assert_denied(env, env.order(PUT.id, Side.SELL, 2, "3.00"), DenyReason.EXPIRY_WINDOW)


def test_max_underlying_contracts(make_env):
    env = make_env(RiskConfig(max_contracts_per_underlying=5))
    env.hold(PUT.id, -3)
    assert env.submit(env.order(PUT.id, Side.SELL, 2, "3.00")) is None  # 3 held + 2 working = 5
    denial = assert_denied(env, env.order(PUT.id, Side.SELL, 1, "3.05"), DenyReason.MAX_UNDERLYING_CONTRACTS)
    assert denial.values == {"projected": 6, "current": 5, "max": 5}
    assert_denied(env, env.order(CALL.id, Side.BUY, 1, "0.20"), DenyReason.MAX_UNDERLYING_CONTRACTS)
    assert env.submit(env.order(PUT.id, Side.BUY, 1, "3.00")) is None  # buying back reduces


def test_no_greeks(make_env):
    env = make_env(accounts=("Gen-Acc",))
    del env.deltas[PUT.id]
    denial = assert_denied(env, env.order(PUT.id, Side.SELL, 1, "3.00", "Gen-Acc"), DenyReason.NO_GREEKS)
    assert "quote missing or stale" in denial.detail and "0.40-0.50" in denial.detail
    env.hold(PUT.id, 2, account="Gen-Acc")
    assert env.submit(env.order(PUT.id, Side.SELL, 2, "3.00", "Gen-Acc")) is None  # closes longs: no delta rule
    no_source = make_env(accounts=("Gen-Acc",), greeks=False)
    denial = assert_denied(no_source, no_source.order(PUT.id, Side.SELL, 1, "3.00", "Gen-Acc"), DenyReason.NO_GREEKS)
    assert "no greeks source" in denial.detail


def test_greeks_failure_is_a_denial_not_an_exception(make_env):
    env = make_env(accounts=("Gen-Acc",))
    env.ctx.greeks_of = lambda option: 1 / 0
    denial = assert_denied(env, env.order(PUT.id, Side.SELL, 1, "3.00", "Gen-Acc"), DenyReason.NO_GREEKS)
    assert "division by zero" in denial.detail


def test_delta_range(make_env):
    env = make_env(accounts=("Gen-Acc", "Rev-Acc"))
    for qty, delta in enumerate((-0.40, -0.45, -0.50), start=1):  # Gen-Acc band 0.40-0.50, both ends in
        env.deltas[PUT.id] = delta
        assert env.submit(env.order(PUT.id, Side.SELL, 1, f"{2.95 + qty / 100:.2f}", "Gen-Acc")) is None
    for delta in (-0.39, -0.51):
        env.deltas[PUT.id] = delta
        denial = assert_denied(env, env.order(PUT.id, Side.SELL, 1, "3.00", "Gen-Acc"), DenyReason.DELTA_RANGE)
        assert denial.values == {"delta": abs(delta), "delta_min": 0.40, "delta_max": 0.50}
    env.deltas[PUT.id] = -0.45
    assert_denied(env, env.order(PUT.id, Side.SELL, 1, "3.00", "Rev-Acc"), DenyReason.DELTA_RANGE)
    env.deltas[PUT.id] = -0.35
    assert env.submit(env.order(PUT.id, Side.SELL, 1, "3.00", "Rev-Acc")) is None


def test_delta_range_only_where_configured(make_env):
    env = make_env(RiskConfig(accounts={"A": AccountRiskConfig(put_delta_min=0.2, put_delta_max=0.3)}))
    assert_denied(env, env.order(PUT.id, Side.SELL, 1, "3.00"), DenyReason.DELTA_RANGE)
    plain = make_env()  # no band for account A by default: no greeks needed
    plain.deltas.clear()
    assert plain.submit(plain.order(PUT.id, Side.SELL, 1, "3.00")) is None


def test_cash_secured(env):
    assert env.submit(env.order(PUT.id, Side.SELL, 5, "3.00")) is None  # 100,000 of 100,000
    denial = assert_denied(env, env.order(PUT.id, Side.SELL, 1, "3.00"), DenyReason.CASH_SECURED)
    assert denial.values == {"needed": Decimal(20_000), "free": Decimal(0), "reserved": Decimal(100_000)}


def test_cash_secured_counts_short_puts_held(env):
    env.hold(PUT.id, -4, "3.00")  # 80,000 reserved; premium 1,200 received
    assert env.submit(env.order(PUT.id, Side.SELL, 1, "3.00")) is None  # 20,000 of 21,200
    assert_denied(env, env.order(PUT.id, Side.SELL, 1, "3.05"), DenyReason.CASH_SECURED)


def test_selling_puts_held_long_needs_no_cash(env):
    env.hold(PUT.id, 5, "3.00")  # long puts cost 1,500
    env.hold("AAPL", 490, "200.00")  # and the rest of the cash is in stock: 1,500 left
    assert env.submit(env.order(PUT.id, Side.SELL, 5, "3.00")) is None


def test_long_puts_offset_working_put_sales_like_the_venue(make_env):
    """Two held long, one working sale: that sale needs no cash; three more leave two short (40,000)."""
    env = make_env()
    env.hold(PUT.id, 2, "3.00")
    env.hold("AAPL", 290, "200.00")  # cash left: 100,000 - 600 - 58,000 = 41,400
    assert env.submit(env.order(PUT.id, Side.SELL, 1, "3.00")) is None
    assert env.submit(env.order(PUT.id, Side.SELL, 3, "3.00")) is None  # 40,000 of 41,400
    assert_denied(env, env.order(PUT.id, Side.SELL, 1, "3.05"), DenyReason.CASH_SECURED)


def test_buying_power(env):
    """A buy needs cash less put collateral less the working buys."""
    assert env.submit(env.order(qty=300, price="200.00")) is None  # 60,000 working
    env.hold(PUT.id, -1, "3.00")  # 20,000 reserved, 300 received
    assert env.submit(env.order(qty=101, price="200.00")) is None  # 20,200 of 20,300
    denial = assert_denied(env, env.order(qty=1, price="200.00"), DenyReason.BUYING_POWER)
    assert denial.values == {
        "needed": Decimal("200.00"),
        "free": Decimal("100.00"),
        "reserved": Decimal(20_000),
        "working_buy_notional": Decimal("80200.00"),
    }
    assert env.submit(env.order("NOQ", qty=1, price="100.00")) is None  # exactly the 100 left


def test_buying_back_a_short_put_is_not_blocked_by_cash(env):
    env.hold(PUT.id, -5, "3.00")  # all cash reserved (100,000 of 101,500)
    env.hold("AAPL", 7, "200.00")  # 1,400 of the premium spent: 100 free
    assert_denied(env, env.order(CALL.id, Side.BUY, 6, "0.20"), DenyReason.BUYING_POWER)  # 120 > 100
    assert env.submit(env.order(PUT.id, Side.BUY, 5, "3.00")) is None  # costs 1,500, frees 100,000


def test_buy_backs_do_not_count_the_same_freed_collateral_twice(env):
    """Five puts short: buying back five frees their collateral once; a further buy frees nothing."""
    env.hold(PUT.id, -5, "3.00")  # all cash reserved (100,000 of 101,500)
    env.hold("AAPL", 7, "200.00")  # 100 free
    assert env.submit(env.order(PUT.id, Side.BUY, 5, "3.00")) is None  # working: frees 100,000 when it fills
    denial = assert_denied(env, env.order(PUT.id, Side.BUY, 50, "3.00"), DenyReason.BUYING_POWER)
    assert denial.values["needed"] == Decimal("15000.00")  # nothing left to free: the full cost


def test_an_order_that_flips_a_position_is_held_to_the_limit_beyond_zero(make_env):
    env = make_env(RiskConfig(max_position_shares=10))
    env.hold("AAPL", -30)  # held before the limit was lowered
    assert_denied(env, env.order(qty=50), DenyReason.MAX_POSITION)  # -30 -> +20: smaller, but past zero and the limit
    assert env.submit(env.order(qty=40)) is None  # -30 -> +10: at the limit


def test_closing_a_near_expiry_short_may_not_open_a_long_beyond_zero(make_env):
    env = make_env(RiskConfig())
    env.hold(NEAR_PUT.id, -5)
    assert env.submit(env.order(NEAR_PUT.id, Side.BUY, 5, "0.50")) is None  # closing is always allowed
    assert_denied(env, env.order(NEAR_PUT.id, Side.BUY, 1, "0.50"), DenyReason.EXPIRY_WINDOW)  # this one opens


def test_uncovered_call(env):
    """A call sale needs shares to cover it, and calls already written or working claim theirs."""
    sell_call = lambda qty: env.order(CALL.id, Side.SELL, qty, "0.20")  # noqa: E731
    denial = env.submit(sell_call(1))
    assert denial.reason is DenyReason.UNCOVERED_CALL and denial.values == {"needed": 100, "shares": 0, "claimed": 0}
    env.hold("AAPL", 250, "200.00")
    assert env.submit(sell_call(2)) is None  # 200 of the 250 shares now cover the working sale
    denial = env.submit(sell_call(1))  # 50 shares left: not a round lot
    assert denial.reason is DenyReason.UNCOVERED_CALL and denial.values["claimed"] == 200
    assert "needing 100 shares" in denial.detail and "250 held" in denial.detail


def test_buying_back_a_short_call_and_selling_a_long_one_need_no_shares(env):
    env.hold(CALL.id, -1, "0.50")
    env.hold("AAPL", 100, "200.00")
    assert env.submit(env.order(CALL.id, Side.BUY, 1, "0.25")) is None  # closing: never blocked
    env.hold(CALL.id, 2, "0.10")  # now long 1: selling it closes, whatever the shares
    assert env.submit(env.order(CALL.id, Side.SELL, 1, "0.20")) is None
