"""The wheel's decisions in a running system (virtual time)."""

import pytest

from alluse.app.config import load_config
from alluse.common.clock import NS, TestClock, datetime_to_ns
from alluse.model import OrderStatus, Right, Side

HOUR = 3600 * NS


class SubmitThrough:
    """The order manager as the strategy sees it, with `submit` going through the test's function first
    (a compiled OrderManager's methods cannot be replaced on the instance)."""

    def __init__(self, oms, submit):
        self._oms = oms
        self.submit = submit

    def __getattr__(self, name):
        return getattr(self._oms, name)


@pytest.fixture
def system(tmp_path):
    from alluse.app.system import TradingSystem

    cfg = load_config(overrides={"run": {"start": "2026-11-23T14:30:00+00:00", "seed": 4}})
    clock = TestClock(datetime_to_ns(cfg.run.start_datetime()))
    s = TradingSystem(cfg, clock, tmp_path)
    s.start()
    yield s, clock
    s.stop_trading()
    s.close()


def test_entries_are_puts_in_the_sleeve_delta_band_priced_between_bid_and_mid(system):
    s, clock = system
    sent = []
    original = s.c.oms.submit

    def spy(order):
        if order.tag == "open":
            inst = s.c.registry.get(order.instrument_id)
            q = s.c.cache.get(order.instrument_id)
            iv_delta = s.c.chains.greeks_for(inst)
            sent.append((order, inst, q.bid, q.ask, iv_delta))
        return original(order)

    s.c.strategy.oms = SubmitThrough(s.c.oms, spy)  # the strategy's only way to the manager
    clock.advance(6 * HOUR)
    assert sent
    for order, inst, bid, ask, (_, delta) in sent:
        assert inst.right is Right.PUT and order.side is Side.SELL
        band = (0.40, 0.50) if order.account == "Gen-Acc" else (0.30, 0.40)
        assert band[0] - 0.02 <= abs(delta) <= band[1] + 0.02  # picked in band; greeks recomputed a moment later
        assert bid - 1e-9 <= float(order.limit_price) <= ask + 1e-9


def test_a_failing_submit_does_not_stop_the_strategy(system):
    s, clock = system
    original = s.c.oms.submit
    calls = {"n": 0}

    def flaky(order):
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError("journal disk full")
        return original(order)

    s.c.strategy.oms = SubmitThrough(s.c.oms, flaky)  # the strategy's only way to the manager
    clock.advance(12 * HOUR)
    st = s.c.strategy.stats
    assert st.errors == 1 and st.entries_sent >= 5
    assert any(o.status is OrderStatus.FILLED for o in s.c.oms.orders.values())


@pytest.mark.parametrize("slices", [1, 4])
def test_evaluation_slices_spread_the_accounts_first_entries_over_the_interval(tmp_path, slices):
    """Forty accounts on one underlying: in one slice every account's first entry goes at the same instant (the
    burst IB's message rate meets); in four, each account goes with its slice, a quarter of the interval apart,
    and every one still within the interval."""
    from alluse.app.system import TradingSystem
    from alluse.strategies.wheel import evaluation_slice

    accounts = [f"DU{i:04d}" for i in range(40)]
    cfg = load_config(overrides={
        "run": {"start": "2026-11-23T14:30:00+00:00", "seed": 4},
        "accounts": {a: {"cash": 1_000_000} for a in accounts},
        "strategy": {"evaluate_every_s": 900, "evaluation_slices": slices, "entry_after_open_min": 0,
                     "sleeves": [{"account": a, "underlyings": ["TSLA"], "delta_min": 0.25, "delta_max": 0.45}
                                 for a in accounts]},
    })  # fmt: skip
    clock = TestClock(datetime_to_ns(cfg.run.start_datetime()))
    s = TradingSystem(cfg, clock, tmp_path)
    first: dict[str, int] = {}
    original = s.c.oms.submit

    def spy(order):
        if order.tag == "open":
            first.setdefault(order.account, clock.now_ns())
        return original(order)

    s.c.strategy.oms = SubmitThrough(s.c.oms, spy)
    s.start()
    try:
        clock.advance(1800 * NS)
    finally:
        s.stop_trading()
        s.close()
    assert sorted(first) == accounts  # every account entered
    instants = sorted(set(first.values()))
    assert len(instants) == slices
    assert all(b - a == 900 * NS // slices for a, b in zip(instants, instants[1:], strict=False))
    for account, at in first.items():  # an account's turn is its slice's (the first tick is slice 0's)
        assert instants.index(at) == evaluation_slice(account, slices)


def test_a_restarted_strategy_adopts_the_orders_still_working_and_sends_no_second_one(system):
    """After a restart (or on the agent that takes the accounts over), an order sent before is still working at
    the venue. The strategy counts it as its own: it sends no second order on that underlying beside it (a second
    buy-back would fill too and leave the account long), and reprices it in time as it would its own."""
    from alluse.model import Order, OrderType, TimeInForce
    from alluse.model.instruments import round_to_tick
    from alluse.strategies.wheel import WheelStrategy

    s, clock = system
    c = s.c
    c.strategy.stop()
    clock.advance(60 * NS)  # the market quotes
    put = min((o for o in c.registry.options_for("NVDA") if o.right is Right.PUT),
              key=lambda o: abs(float(o.strike) - c.cache.get("NVDA").mid))  # fmt: skip
    working = Order(c.oms.next_client_order_id(), "Gen-Acc", put.id, Side.BUY, 1, order_type=OrderType.LIMIT,
                    limit_price=round_to_tick(put, c.cache.get(put.id).mid * 0.8, Side.BUY),
                    time_in_force=TimeInForce.DAY, tag="take-profit")  # a fifth under the mid: it rests  # fmt: skip
    c.oms.submit(working)
    clock.advance(NS)  # the venue's acknowledgement
    assert working.status is OrderStatus.ACCEPTED
    restarted = WheelStrategy(config=s.config.strategy, clock=clock, bus=c.bus, oms=c.oms, ledger=c.ledger,
                              registry=c.registry, chains=c.chains, quote_of=c.cache.get_fresh,
                              spot_of=lambda u: q.mid if (q := c.cache.get(u)) is not None else None,
                              state_of=c.states.get, hours=c.hours)  # fmt: skip
    sent = []
    original = c.oms.submit
    restarted.oms = SubmitThrough(c.oms, lambda o: (sent.append(o), original(o))[1])
    restarted.start()
    clock.advance(int(2 * s.config.strategy.evaluate_every_s * NS))  # into the entry window (15 min after the open)
    assert not [o for o in sent if (o.account, c.registry.get(o.instrument_id).underlying) == ("Gen-Acc", "NVDA")]
    assert [o for o in sent if o.account == "Rev-Acc"]  # it evaluates: the other account's puts go out
    clock.advance(int(s.config.strategy.reprice_every_s * NS))
    assert working.status is OrderStatus.CANCELED  # its own now: repriced (cancelled) in time
    restarted.stop()
