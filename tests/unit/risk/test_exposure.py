"""Working orders and positions as the gate counts them: kept by events, checked by a rebuild."""

import random
from decimal import Decimal

import risk_env
from risk_env import CALL, PUT

from alluse.model import Fill, OrderStatus, Side
from alluse.portfolio import Ledger
from alluse.risk import DenyReason, RiskGate
from alluse.risk.config import RiskConfig


def figures(env, account="A"):
    return env.gate.exposure.account(account)


def test_fills_and_cancels_release_what_was_working(env):
    buy = env.order(qty=100, price="200.00")
    sell_put = env.order(PUT.id, Side.SELL, 2, "3.00")
    assert env.submit(buy) is None and env.submit(sell_put) is None
    acct = figures(env)
    assert (acct.open_orders, acct.working_buy_notional, acct.reserved) == (2, Decimal(20_000), Decimal(40_000))
    env.fill(buy, 40)
    assert (acct.open_orders, acct.working_buy_notional) == (2, Decimal(12_000))
    env.fill(sell_put, 1)  # one put now held short: still 40,000 reserved, 20,000 of it for the position
    assert acct.reserved == Decimal(40_000) and acct.contracts == {"AAPL": 2}
    env.cancel(sell_put)
    assert (acct.open_orders, acct.reserved, acct.contracts) == (1, Decimal(20_000), {"AAPL": 1})
    env.fill(buy, 60)
    assert (acct.open_orders, acct.working_buy_notional) == (0, Decimal(0))
    assert env.rebuild() == []


def test_incremental_totals_match_a_rebuild_after_random_activity():
    from risk_env import Env

    rng = random.Random(11)
    env = Env(RiskConfig(duplicate_window_s=0, orders_per_second=1e6, order_burst=10**6))
    ids = ["AAPL", PUT.id, CALL.id]
    prices = {"AAPL": "200.00", PUT.id: "3.00", CALL.id: "0.20"}
    for _ in range(400):
        if env.open and rng.random() < 0.5:
            order = rng.choice(list(env.open.values()))
            if rng.random() < 0.3:
                env.cancel(order)
            else:
                env.fill(order, rng.randint(1, order.remaining))
        else:
            iid = rng.choice(ids)
            env.submit(env.order(iid, rng.choice((Side.BUY, Side.SELL)), rng.randint(1, 5), prices[iid]))
    assert env.gate.passed > 100 and env.rebuild() == []


def test_rebuild_counts_recovered_orders_and_positions(make_env):
    """After a restart the gate has seen no events: rebuild reads the ledger and the working orders."""
    env = make_env()
    working = env.order(PUT.id, Side.SELL, 3, "3.00")
    assert env.submit(working) is None
    env.hold(PUT.id, -1, "3.00")
    fresh = RiskGate(env.ctx, RiskConfig(), env.states)
    assert fresh.check(env.order(PUT.id, Side.SELL, 2, "3.05")) is None  # blind: sees nothing reserved
    fresh.rebuild(env.open.values())
    assert fresh.exposure.accounts["A"].reserved == Decimal(80_000)
    assert fresh.check(env.order(PUT.id, Side.SELL, 2, "3.10")).reason is DenyReason.CASH_SECURED


def test_a_missed_event_is_found_and_corrected_by_rebuild(env):
    order = env.order(qty=10)
    assert env.submit(order) is None
    order.status = OrderStatus.CANCELED  # changed without an event reaching the gate
    env.open.pop(order.client_order_id)
    assert env.rebuild() == ["A"] and env.gate.rebuild_corrections == 1
    assert figures(env).open_orders == 0 and figures(env).working_buy_notional == 0


class ScanRefusingLedger(Ledger):  # a subclass: a compiled ledger's methods cannot be patched
    refuse_scans = False

    def open_positions(self, account=None):
        if self.refuse_scans:
            raise AssertionError("scanned on the order path")
        return super().open_positions(account)


def test_checks_never_scan_positions_or_orders(make_env, monkeypatch):
    """The per-order path uses dict lookups only: scanning would make each order cost more as the book grows."""
    monkeypatch.setattr(risk_env, "Ledger", ScanRefusingLedger)  # the ledger the env builds
    env = make_env()
    env.hold("AAPL", 10)
    env.hold(PUT.id, -1, "3.00")

    env.ledger.refuse_scans = True  # (the working orders reach the gate only through rebuild's argument)
    for order in (env.order(qty=5), env.order(PUT.id, Side.SELL, 1, "3.00"), env.order(CALL.id, Side.BUY, 1, "0.20")):
        assert env.submit(order) is None
    env.fill(env.open[order.client_order_id], 1)


def test_the_first_count_at_recovery_is_not_a_correction(make_env, caplog):
    env = make_env()
    env.hold(PUT.id, -1, "3.00")
    fresh = RiskGate(env.ctx, RiskConfig(), env.states)  # a restart: positions in the ledger, nothing counted
    assert fresh.rebuild(env.open.values()) == ["A"]
    assert fresh.rebuild_corrections == 0 and "differed" not in caplog.text
    env.ledger.apply_fill(Fill("X", "A", PUT.id, Side.BUY, 1, Decimal("3.00"), Decimal(0), 0, "gone"))  # no event
    assert fresh.rebuild(env.open.values()) == ["A"] and fresh.rebuild_corrections == 1 and "differed" in caplog.text
