"""The IBKR broker (the Broker port over ib_async) against the local gateway: what the order manager hears for
each thing IB does, and the guarantees that hold through IB's faults."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
from gateway_harness import ACCOUNT, trade_through, wait_for

from alluse.brokers.ibkr.broker import IbkrBroker
from alluse.brokers.ibkr.config import IbkrConfig
from alluse.brokers.ibkr.gateway.server import Gateway, GatewayFault
from alluse.brokers.ibkr.order_ids import ORDER_IDS_FILE, OrderIds
from alluse.model import Order, OrderStatus, Side
from alluse.model.errors import BrokerDisconnected, ErrorClass
from alluse.model.events import EventKind, OrderEvent, SettlementEvent
from alluse.model.registry import InstrumentRegistry


@dataclass
class Heard:
    events: list[OrderEvent] = field(default_factory=list)
    connection: list[bool] = field(default_factory=list)

    def kinds(self, coid: str) -> list[EventKind]:
        return [e.kind for e in self.events if e.client_order_id == coid]

    def fills(self, coid: str) -> list[OrderEvent]:
        return [e for e in self.events if e.client_order_id == coid and e.kind is EventKind.FILL]


def make_broker(gw: Gateway, heard: Heard, ids: OrderIds | None = None, client_ids: list[int] | None = None,
                ) -> IbkrBroker:  # fmt: skip
    assert gw.port is not None
    config = IbkrConfig(port=gw.port, client_ids=client_ids or [1, 2], health_interval_s=0.5,
                        reconnect_initial_s=0.05, reconnect_max_s=0.2)  # fmt: skip
    registry = InstrumentRegistry(gw.exchange.registry)  # the same listed instruments the gateway has
    broker = IbkrBroker(config, gw.clock, registry, ids or OrderIds(None))

    def on_settlement(event: SettlementEvent) -> None:
        raise AssertionError(f"unexpected settlement {event}")

    broker.set_event_handler(heard.events.append, on_settlement)
    broker.set_connection_handler(heard.connection.append)
    return broker


@pytest.fixture
async def broker(gw: Gateway) -> AsyncIterator[tuple[IbkrBroker, Heard]]:
    heard = Heard()
    b = make_broker(gw, heard)
    await b.start()
    yield b, heard
    await b.stop()


def order(coid: str, side: Side, qty: int, price: float | str, instrument: str = "TSLA") -> Order:
    return Order(coid, ACCOUNT, instrument, side, qty, limit_price=Decimal(str(price)))


def touch(gw: Gateway, instrument: str = "TSLA") -> tuple[float, float]:
    quote = gw.exchange.cache.get(instrument)
    assert quote is not None
    return quote.bid, quote.ask


async def test_an_order_is_accepted_filled_and_found_by_its_client_order_id(gw: Gateway, broker) -> None:
    b, heard = broker
    await wait_for(lambda: gw.exchange.cache.get("TSLA") is not None, what="a quote")
    _, ask = touch(gw)
    b.submit(order("o-1", Side.BUY, 300, round(ask + 1, 2)))
    await wait_for(lambda: sum(e.fill.quantity for e in heard.fills("o-1") if e.fill) == 300, what="the fills")
    assert heard.kinds("o-1")[0] is EventKind.ACCEPTED
    perm_id = heard.events[0].venue_order_id
    assert perm_id and all(e.venue_order_id == perm_id for e in heard.fills("o-1"))
    fills = [e.fill for e in heard.fills("o-1") if e.fill]
    assert len({f.fill_id for f in fills}) == len(fills) and all(f.commission > 0 for f in fills)
    status = b.order_status("o-1")
    assert status is not None and status.status is OrderStatus.FILLED and status.filled_qty == 300
    assert [f.fill_id for f in b.executions("o-1")] == [f.fill_id for f in fills]
    assert b.order_status("never-sent") is None
    assert b.account_snapshot(ACCOUNT).positions == {"TSLA": 300}
    health = b.health()
    assert health["socket"] and health["ib_connectivity"] and health["client_id"] == 1


async def test_a_cancel_is_heard_and_a_refused_cancel_too(gw: Gateway, broker) -> None:
    b, heard = broker
    await wait_for(lambda: gw.exchange.cache.get("TSLA") is not None, what="a quote")
    b.submit(order("o-2", Side.BUY, 1, "1.00"))
    await wait_for(lambda: EventKind.ACCEPTED in heard.kinds("o-2"), what="ack")
    assert [v.client_order_id for v in b.open_orders()] == ["o-2"]
    b.cancel("o-2")
    await wait_for(lambda: EventKind.CANCELED in heard.kinds("o-2"), what="cancel")
    b.cancel("o-2")  # the order is done: IB refuses, the manager hears it
    await wait_for(lambda: EventKind.CANCEL_REJECTED in heard.kinds("o-2"), what="refused cancel")
    assert heard.kinds("o-2").count(EventKind.CANCELED) == 1
    assert b.open_orders() == []


async def test_an_ib_reject_is_permanent_and_says_why(gw: Gateway, broker) -> None:
    b, heard = broker
    gw.inject(GatewayFault.ORDER_REJECT)
    b.submit(order("o-3", Side.BUY, 1, "1.00"))
    await wait_for(lambda: EventKind.REJECTED in heard.kinds("o-3"), what="reject")
    [reject] = [e for e in heard.events if e.kind is EventKind.REJECTED]
    assert reject.error is ErrorClass.PERMANENT and reject.reason.startswith("IB 201")


async def test_connectivity_loss_parks_the_broker_and_its_return_reopens_it(gw: Gateway, broker) -> None:
    b, heard = broker
    gw.inject(GatewayFault.CONNECTIVITY_LOST, duration_s=0.3, data_lost=False)
    await wait_for(lambda: heard.connection == [False], what="down")
    assert not b.connected
    with pytest.raises(BrokerDisconnected):
        b.submit(order("o-4", Side.BUY, 1, "1.00"))
    await wait_for(lambda: heard.connection == [False, True], what="up again")
    assert b.connected and gw.exchange.orders == {}  # nothing was sent while IB was away


async def test_fills_made_while_the_socket_was_down_are_heard_once_after_the_reconnect(gw: Gateway, broker) -> None:
    b, heard = broker
    await wait_for(lambda: gw.exchange.cache.get("TSLA") is not None, what="a quote")
    bid, _ = touch(gw)
    b.submit(order("o-5", Side.BUY, 1, round(bid - 5, 2)))
    await wait_for(lambda: EventKind.ACCEPTED in heard.kinds("o-5"), what="ack")
    gw.inject(GatewayFault.DISCONNECT)
    await wait_for(lambda: False in heard.connection, what="the drop")
    [at_gateway] = gw.exchange.orders.values()
    trade_through(gw, "TSLA", at_gateway.limit_price)
    await wait_for(lambda: at_gateway.done, what="the fill while away")
    await wait_for(lambda: heard.connection[-1] is True, what="the reconnect")
    await wait_for(lambda: len(heard.fills("o-5")) == 1, what="the fill heard")
    status = b.order_status("o-5")
    assert status is not None and status.status is OrderStatus.FILLED
    assert len(b.executions("o-5")) == 1 and len(heard.fills("o-5")) == 1


async def test_order_ids_are_never_reused_after_the_nightly_restart_or_in_a_new_process(
    gw: Gateway, tmp_path: Path
) -> None:
    heard = Heard()
    ids_file = tmp_path / ORDER_IDS_FILE
    b = make_broker(gw, heard, OrderIds(ids_file))
    await b.start()
    for i in range(3):
        b.submit(order(f"n-{i}", Side.BUY, 1, "1.00"))
    await wait_for(lambda: len(gw.exchange.orders) == 3, what="three orders at IB")
    used = {o.order_id for o in gw.exchange.orders.values()}
    gw.inject(GatewayFault.NIGHTLY_RESTART)  # IB hands out order ids from 1 again
    await wait_for(lambda: heard.connection[-1:] == [True] and False in heard.connection, what="back after the restart")
    b.submit(order("n-3", Side.BUY, 1, "1.00"))
    await b.stop()
    second = make_broker(gw, Heard(), OrderIds(ids_file))  # a new process on the same data directory
    await second.start()
    second.submit(order("n-4", Side.BUY, 1, "1.00"))
    await wait_for(lambda: len(gw.exchange.orders) == 5, what="five orders at IB")
    ids = [o.order_id for o in sorted(gw.exchange.orders.values(), key=lambda o: o.perm_id)]
    assert len(set(ids)) == 5 and min(ids[3:]) > max(used)
    await second.stop()


async def test_a_client_id_in_use_makes_the_broker_take_the_next_one(gw: Gateway) -> None:
    first = make_broker(gw, Heard(), client_ids=[7, 8])
    second = make_broker(gw, Heard(), client_ids=[7, 8])
    await first.start()
    await second.start()
    assert (first.supervisor.client_id, second.supervisor.client_id) == (7, 8)
    await first.stop()
    await second.stop()


async def test_market_data_lists_the_chain_keeps_the_line_budget_and_lists_it_again_when_old(gw: Gateway) -> None:
    from alluse.brokers.ibkr.market_data import Band, IbkrMarketData
    from alluse.marketdata import DataEngine, QuoteCache

    heard = Heard()
    b = make_broker(gw, heard)
    registry = InstrumentRegistry(gw.exchange.registry)
    cache = QuoteCache(gw.clock, 10**15, 10_000, registry.is_option)
    engine = DataEngine(registry, cache, gw.clock)
    config = IbkrConfig(port=gw.port or 0, market_data_lines=6, chain_ttl_s=2.0)  # two simulated seconds
    b.market_data = IbkrMarketData(b.ib, config, gw.clock, registry, engine.on_quotes,
                                   [Band("TSLA", 0.3, 0.4, 0, 30)], 2, lambda u: 0.55)  # fmt: skip
    await b.start()
    try:
        md = b.market_data
        await wait_for(lambda: cache.get("TSLA") is not None, what="the underlying's quote")
        await wait_for(lambda: md.lines.in_use == 6 and gw.lines_in_use == 6, what="the puts prefetched")
        assert gw.max_lines_used <= 6  # never past the budget, at IB's end either
        puts = [i for i in md.lines.ids() if i != "TSLA"]
        await wait_for(lambda: all(cache.get(i) is not None for i in puts), what="quotes for the puts")
        await wait_for(lambda: md.chains_reloaded >= 1, what="the chain listed again")
        assert b.health()["market_data_lines"] == 6
    finally:
        await b.stop()
