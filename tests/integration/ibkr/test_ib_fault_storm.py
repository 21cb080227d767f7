"""The whole trading core (risk, journal, order manager) through the IBKR adapter and the local gateway while
every fault the gateway injects happens in turn: at the end no order is lost or duplicated, every fill is
booked once, and the market-data lines never exceeded their budget. Counted against the gateway's own
records, as ER-1 counts against the paper venue's."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

from gateway_harness import ACCOUNT, small_market, wait_for

from alluse.app.config import AccountConfig, Config, RunConfig
from alluse.app.kernel import build_kernel
from alluse.brokers.ibkr.config import IbkrConfig
from alluse.brokers.ibkr.gateway.config import GatewayConfig
from alluse.brokers.ibkr.gateway.orders import INACTIVE
from alluse.brokers.ibkr.gateway.server import GatewayFault
from alluse.common.clock import LiveClock
from alluse.execution.config import ExecutionConfig
from alluse.model import Order, Side
from alluse.strategies.config import SleeveConfig, StrategyConfig

LINES = 12
FAULTS = [
    (GatewayFault.FARM_FLAP, {}),
    (GatewayFault.WARNING, {}),
    (GatewayFault.ORDER_REJECT, {}),
    (GatewayFault.ORDER_CANCEL, {}),
    (GatewayFault.CONNECTIVITY_LOST, {"duration_s": 0.3, "data_lost": False}),
    (GatewayFault.CONNECTIVITY_LOST, {"duration_s": 0.3, "data_lost": True}),
    (GatewayFault.COMPETING_SESSION, {"duration_s": 0.3}),
    (GatewayFault.DISCONNECT, {}),
    (GatewayFault.DROP_MID_MESSAGE, {}),
    (GatewayFault.NIGHTLY_RESTART, {}),
]


def storm_config() -> Config:
    sleeve = SleeveConfig(account=ACCOUNT, underlyings=["TSLA", "NVDA"], delta_min=0.3, delta_max=0.4)
    return Config(
        run=RunConfig(broker="ibkr", speed=10.0, seed=3),
        market=small_market(),
        ibkr=IbkrConfig(local_gateway=True, client_ids=[1, 2], health_interval_s=0.5, reconnect_initial_s=0.05,
                        reconnect_max_s=0.2, market_data_lines=LINES),
        gateway=GatewayConfig(market_data_lines=LINES),
        execution=ExecutionConfig(ack_timeout_ms=5000),  # simulated ms: half a wall second at 10x
        accounts={ACCOUNT: AccountConfig(cash=Decimal(10**7))},
        strategy=StrategyConfig(enabled=False, sleeves=[sleeve]),  # no strategy: its bands drive the line manager
    )  # fmt: skip


async def test_through_every_ib_fault_nothing_is_lost_duplicated_or_booked_twice(tmp_path: Path) -> None:
    clock = LiveClock(asyncio.get_running_loop(), speed=10.0)
    kernel = build_kernel(storm_config(), clock, tmp_path)
    gateway = kernel.broker.local_gateway  # type: ignore[attr-defined]
    await kernel.connect()
    kernel.recover()
    oms = kernel.oms
    try:
        await wait_for(lambda: kernel.cache.get("TSLA") is not None, what="a quote")
        for fault, kw in FAULTS:
            for j in range(4):
                quote = kernel.cache.get("TSLA")
                assert quote is not None
                side = Side.BUY if j % 2 == 0 else Side.SELL
                resting = j == 3  # one of four rests far away, to be cancelled (by IB or by us)
                through = quote.ask + 5 if side is Side.BUY else quote.bid - 5
                away = quote.bid - 50 if side is Side.BUY else quote.ask + 50
                price = away if resting else through
                oms.submit(Order(oms.next_client_order_id(), ACCOUNT, "TSLA", side, 1,
                                 limit_price=Decimal(f"{max(price, 0.01):.2f}")))  # fmt: skip
            gateway.inject(fault, **kw)
            await asyncio.sleep(0.4)
        await wait_for(lambda: kernel.broker.connected, timeout_s=10, what="connected at the end")
        await wait_for(lambda: not any(o.status.value == "SUBMITTED" for o in oms.open_orders()), timeout_s=15,
                       what="every order heard of")  # fmt: skip
        oms.cancel_all()
        await wait_for(lambda: not oms.open_orders(), timeout_s=15, what="nothing open")
        await asyncio.sleep(0.3)  # the last position and account messages
    finally:
        kernel.journal.flush()

    ours = oms.book.orders
    at_ib: dict[str, list] = defaultdict(list)
    for order in gateway.exchange.orders.values():
        at_ib[order.order_ref].append(order)
    assert len(ours) == 4 * len(FAULTS)
    assert set(at_ib) <= set(ours), "orders at IB the order manager does not know"
    duplicated = [ref for ref, orders in at_ib.items() if sum(o.status != INACTIVE for o in orders) > 1]
    assert duplicated == []
    booked = defaultdict(list)
    for fill in kernel.journal.load().fills:
        booked[fill.client_order_id].append(fill.fill_id)
    executed = defaultdict(list)
    for ex in gateway.exchange.executions:
        executed[ex.order.order_ref].append(ex.fill.fill_id)
    assert {r: sorted(f) for r, f in booked.items()} == {r: sorted(f) for r, f in executed.items()}
    for coid, order in ours.items():
        reached = [o for o in at_ib.get(coid, []) if o.status != INACTIVE]
        filled_at_ib = sum(o.filled for o in reached)
        assert order.status.is_terminal, (coid, order.status)
        assert order.filled_qty == filled_at_ib, (coid, order.status, order.filled_qty, filled_at_ib)
    assert gateway.max_lines_used <= LINES
    assert set(gateway.fault_counts()) == {f for f, _ in FAULTS}
    assert sum(o.filled_qty for o in ours.values()) > 0  # the storm traded
    await kernel.disconnect()
    kernel.close()
