"""IB-1 and MD-3: the IBKR adapter through the socket, side by side with bare ib_async on the same gateway.

Both sides talk to the same local TWS-protocol gateway (brokers/ibkr/gateway), in this process and on this
event loop, so the gateway's own cost is in both figures alike; what differs is the adapter. The gateway's
venue answers with no configured latency, its market stands still (one quote, deep enough for every
order) and its pacing limit is lifted (at IB's 50 messages a second both sides would measure the rule), so a
round trip is the socket, ib_async, the gateway and, on our side, the adapter.

- IB-1: an order's round trip, `IbkrBroker.submit` until the order manager's FILL event (with its
  commission) against `IB.placeOrder` until ib_async's commission report, one order at a time (p50, p99),
  then a burst of orders until the last fill (orders/s).
- MD-3: quotes through the socket into the quote cache (IbkrMarketData -> DataEngine -> QuoteCache)
  against bare ib_async's ticker updates, on the same stream: the gateway streams a fixed series of quotes
  for a set of stocks, and each side's rate is quotes over the time until the last one is in. (Stocks: for
  an option quote the gateway also solves the model greeks, a cost of the stand-in for IB that would
  swamp both sides' figures.)

The sides alternate inside a run (ours, bare, then bare, ours), as the other workloads' rounds do.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from decimal import Decimal

import numpy as np
from ib_async import IB, CommissionReport, LimitOrder, Stock, Ticker, Trade
from ib_async import Fill as IbFill

from alluse.bench.figures import BARE_IB_ASYNC, OPTIMISED, Figure
from alluse.brokers.ibkr.broker import IbkrBroker
from alluse.brokers.ibkr.config import IbkrConfig
from alluse.brokers.ibkr.gateway.config import GatewayConfig
from alluse.brokers.ibkr.gateway.exchange import Exchange
from alluse.brokers.ibkr.gateway.server import Gateway
from alluse.brokers.ibkr.market_data import Band, IbkrMarketData
from alluse.brokers.ibkr.order_ids import OrderIds
from alluse.brokers.paper import PaperVenueConfig
from alluse.common.clock import LiveClock
from alluse.marketdata import DataEngine, QuoteCache
from alluse.marketdata.config import MarketConfig, Underlying
from alluse.model import Order, Quote, Side
from alluse.model.events import EventKind, OrderEvent
from alluse.model.registry import InstrumentRegistry

BARE = BARE_IB_ASYNC  # the reference variant: the same work through ib_async alone
ACCOUNT = "DU0001"
STOCK = "TSLA"
PRICE = 100.0
IB1_QUICK, IB1_FULL = 100, 500  # orders one at a time; the burst is the same count
MD3_QUICK, MD3_FULL = 20_000, 100_000  # quotes streamed
MD3_INSTRUMENTS = 50


async def _gateway(stocks: int = 1) -> Gateway:
    """A gateway on `stocks` underlyings (TSLA, then S01, S02, ...), each with a few options listed."""
    loop = asyncio.get_running_loop()
    tickers = [STOCK] + [f"S{k:02d}" for k in range(1, stocks)]
    market = MarketConfig(underlyings={t: Underlying(spot=PRICE, vol=0.3) for t in tickers}, weekly_expiries=1,
                          strikes_each_side=2)  # fmt: skip
    exchange = Exchange(LiveClock(loop), market, PaperVenueConfig(ack_latency_ms=0, fill_latency_ms=0),
                        {ACCOUNT: Decimal(10**10)}, seed=1)  # fmt: skip
    gateway = Gateway(exchange, GatewayConfig(messages_per_second=10**6))  # IB's 50/s would measure the rule
    await gateway.start()
    exchange.stop()  # the market stands still: the quotes are the workload's
    now = exchange.clock.now_ns()
    exchange.engine.on_quote(Quote(STOCK, PRICE - 0.01, PRICE, 10**8, 10**8, now, now))
    return gateway


def _port(gateway: Gateway) -> int:
    assert gateway.port is not None, "the gateway is started"
    return gateway.port


def _config(gateway: Gateway, client_id: int) -> IbkrConfig:
    return IbkrConfig(port=_port(gateway), client_ids=[client_id], health_interval_s=3600)


# ---------------------------------------------------------------------------- IB-1


class _OurSide:
    def __init__(self, gateway: Gateway) -> None:
        registry = InstrumentRegistry(gateway.exchange.registry)
        self.broker = IbkrBroker(_config(gateway, 1), gateway.clock, registry, OrderIds(None))
        self.broker.ib.client.MaxRequests = 0  # neither side throttles: the burst measures the path, not a limit
        self.waiting: dict[str, asyncio.Future[None]] = {}
        self.broker.set_event_handler(self._on_event, lambda e: None)
        self.n = 0

    def _on_event(self, event: OrderEvent) -> None:
        if event.kind is EventKind.FILL:
            future = self.waiting.pop(event.client_order_id, None)
            if future is not None:
                future.set_result(None)

    def send(self) -> asyncio.Future[None]:
        self.n += 1
        coid = f"ib1-{self.n}"
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting[coid] = future
        self.broker.submit(Order(coid, ACCOUNT, STOCK, Side.BUY, 1, limit_price=Decimal("100.00")))
        return future


class _BareSide:
    def __init__(self, gateway: Gateway) -> None:
        self.ib = IB()
        self.ib.client.MaxRequests = 0
        self.port = _port(gateway)
        self.contract = Stock(STOCK, "SMART", "USD")
        self.waiting: dict[int, asyncio.Future[None]] = {}
        self.ib.commissionReportEvent += self._on_commission

    def _on_commission(self, trade: Trade, fill: IbFill, report: CommissionReport) -> None:
        future = self.waiting.pop(trade.order.orderId, None)
        if future is not None:
            future.set_result(None)

    def send(self) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        trade = self.ib.placeOrder(self.contract, LimitOrder("BUY", 1, PRICE, account=ACCOUNT))
        self.waiting[trade.order.orderId] = future
        return future


async def _round_trips(side: _OurSide | _BareSide, n: int) -> tuple[np.ndarray, float]:
    """n orders one at a time (latency each), then n at once (orders/s until the last fill)."""
    lat = np.empty(n, dtype=np.int64)
    for k in range(n):
        t0 = time.perf_counter_ns()
        await side.send()
        lat[k] = time.perf_counter_ns() - t0
    t0 = time.perf_counter_ns()
    await asyncio.gather(*[side.send() for _ in range(n)])
    return lat, n / ((time.perf_counter_ns() - t0) / 1e9)


async def _ib1(quick: bool, n: int | None) -> list[Figure]:
    n = n or (IB1_QUICK if quick else IB1_FULL)
    gateway = await _gateway()
    ours, bare = _OurSide(gateway), _BareSide(gateway)
    try:
        await ours.broker.start()
        await bare.ib.connectAsync("127.0.0.1", bare.port, clientId=2, timeout=10)
        await bare.ib.qualifyContractsAsync(bare.contract)
        await _round_trips(ours, 20)  # warm both paths: first-order costs are not the path's
        await _round_trips(bare, 20)
        results: dict[str, tuple[np.ndarray, list[float]]] = {}
        for variant, side in ((OPTIMISED, ours), (BARE, bare), (BARE, bare), (OPTIMISED, ours)):
            lat, rate = await _round_trips(side, n // 2)
            prev = results.get(variant)
            results[variant] = (lat, [rate]) if prev is None else (np.concatenate([prev[0], lat]), prev[1] + [rate])
    finally:
        await ours.broker.stop()
        bare.ib.disconnect()
        await gateway.stop()
        gateway.exchange.close()
    figures = []
    for variant, (lat, rates) in results.items():
        figures += [
            Figure("IB-1", "latency p50", float(np.percentile(lat, 50)) / 1e3, "us", variant),
            Figure("IB-1", "latency p99", float(np.percentile(lat, 99)) / 1e3, "us", variant),
            Figure("IB-1", "throughput", float(np.mean(rates)), "orders/s", variant, higher_is_better=True),
        ]
    return figures


def ib1_figures(quick: bool, *, n: int | None = None) -> list[Figure]:
    return asyncio.run(_ib1(quick, n))


# ---------------------------------------------------------------------------- MD-3


async def _stream(gateway: Gateway, ids: list[str], n: int, done: asyncio.Event) -> float:
    """Stream `n` quotes over `ids` (the last of each at a marker bid), wait until the consumer has them all."""
    exchange = gateway.exchange
    per = n // len(ids)
    t0 = time.perf_counter_ns()
    for k in range(per):
        now = exchange.clock.now_ns()
        last = k == per - 1
        bid = 9.0 if last else 1.0 + (k % 50) / 100
        exchange.engine.on_quotes([Quote(i, bid, bid + 0.05, 10, 10, now, now) for i in ids])
        if k % 20 == 19:
            await asyncio.sleep(0)  # the gateway's writes go out while it produces, as a feed's would
    await asyncio.wait_for(done.wait(), timeout=120)
    return per * len(ids) / ((time.perf_counter_ns() - t0) / 1e9)


async def _md3_ours(gateway: Gateway, ids: list[str], n: int) -> float:
    registry = InstrumentRegistry(gateway.exchange.registry)
    cache = QuoteCache(gateway.clock, 10**15, 10_000, registry.is_option)
    engine = DataEngine(registry, cache, gateway.clock)
    ib = IB()
    band = Band(STOCK, 0.2, 0.3, 1000, 1000)  # no option in its window: no prefetch, the lines are the stream's
    md = IbkrMarketData(ib, _config(gateway, 3), gateway.clock, registry, engine.on_quotes, [band], 1, lambda u: 0.3)
    done = asyncio.Event()
    last = ids[-1]

    def on_quote(quote: Quote) -> None:
        if quote.instrument_id == last and quote.bid == 9.0:
            done.set()

    engine.subscribe(last, on_quote)
    await ib.connectAsync("127.0.0.1", _port(gateway), clientId=3, timeout=10)
    try:
        await md.start()  # TSLA's chain (contract details) and line
        md.lines.pin(ids)
        await _settle(lambda: gateway.lines_in_use == len(ids) + 1)
        return await _stream(gateway, ids, n, done)
    finally:
        ib.disconnect()


async def _md3_bare(gateway: Gateway, ids: list[str], n: int) -> float:
    ib = IB()
    await ib.connectAsync("127.0.0.1", _port(gateway), clientId=4, timeout=10)
    done = asyncio.Event()
    try:
        from alluse.brokers.ibkr.orders import ib_contract

        contracts = [ib_contract(gateway.exchange.registry.resolve(i)) for i in ids]
        await ib.qualifyContractsAsync(*contracts)
        tickers = [ib.reqMktData(c, "", False, False) for c in contracts]
        last = tickers[-1]
        updates = 0

        def on_pending(pending: set[Ticker]) -> None:
            nonlocal updates
            updates += len(pending)
            if last in pending and last.bid == 9.0:
                done.set()

        ib.pendingTickersEvent += on_pending
        await _settle(lambda: gateway.lines_in_use == len(ids))
        return await _stream(gateway, ids, n, done)
    finally:
        ib.disconnect()


async def _settle(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError("MD-3: the subscriptions did not settle")
        await asyncio.sleep(0.01)


async def _md3(quick: bool, n: int | None) -> list[Figure]:
    n = n or (MD3_QUICK if quick else MD3_FULL)
    gateway = await _gateway(stocks=MD3_INSTRUMENTS + 1)
    try:
        ids = sorted(e.id for e in gateway.exchange.registry.equities() if e.id != STOCK)
        rates: dict[str, list[float]] = {OPTIMISED: [], BARE: []}
        for variant in (OPTIMISED, BARE, BARE, OPTIMISED):
            run = _md3_ours if variant == OPTIMISED else _md3_bare
            rates[variant].append(await run(gateway, ids, n // 2))
            await _settle(lambda: gateway.lines_in_use == 0)
    finally:
        await gateway.stop()
        gateway.exchange.close()
    return [Figure("MD-3", "throughput", float(np.mean(r)), "quotes/s", v, higher_is_better=True)
            for v, r in rates.items()]  # fmt: skip


def md3_figures(quick: bool, *, n: int | None = None) -> list[Figure]:
    return asyncio.run(_md3(quick, n))
