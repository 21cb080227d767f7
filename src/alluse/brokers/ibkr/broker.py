"""The Interactive Brokers broker: the Broker port (brokers/base.py) over ib_async.

The client order id travels as IB's `orderRef` and is the idempotency key: the order manager's status
queries and reconciliations find an order by it, whatever order id or session it was sent under. IB's
`permId` is the venue order id. Order ids come from a journaled high-water mark (order_ids.py), so a
restart or IB's nightly reset never reuses one. Sends go through ib_async's throttle, set below IB's 50
messages a second, so pacing delays a send instead of failing it. Fills are reported once each, with
their commission (on IB's commission report, which follows the execution).
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import ClassVar

from ib_async import IB, CommissionReport, Trade
from ib_async import Fill as IbFill

from alluse.brokers.base import AccountSnapshot, ConnectionHandler, OrderEventHandler, SettlementHandler, VenueOrder
from alluse.brokers.ibkr import orders
from alluse.brokers.ibkr.config import IbkrConfig
from alluse.brokers.ibkr.connection import ConnectionSupervisor
from alluse.brokers.ibkr.errors import Scope, classify
from alluse.brokers.ibkr.gateway.server import Gateway
from alluse.brokers.ibkr.market_data import IbkrMarketData
from alluse.brokers.ibkr.order_ids import OrderIdSource
from alluse.common.clock import Clock
from alluse.common.metrics import Metric, counter, gauge
from alluse.model import Fill, InvalidInput, Order, Unchecked
from alluse.model.errors import BrokerDisconnected, ErrorClass
from alluse.model.events import EventKind, OrderEvent
from alluse.model.registry import InstrumentRegistry

log = logging.getLogger("alluse.brokers.ibkr")


def _no_event(event: OrderEvent) -> None:
    raise RuntimeError("IBKR broker used before the order manager set its event handler")


class IbkrBroker:
    name: ClassVar[str] = "ibkr"

    def __init__(self, config: IbkrConfig, clock: Clock, registry: InstrumentRegistry, order_ids: OrderIdSource,
                 ib: IB | None = None, local_gateway: Gateway | None = None) -> None:  # fmt: skip
        """`local_gateway`: the project's own gateway, started by `start` and connected to instead of config.port."""
        self.config = config
        self._clock = clock
        self._registry = registry
        self._ids = order_ids
        self.ib = ib if ib is not None else IB()
        # throttled below IB's limit, never refused, and smoothly: a tenth of the rate every tenth of a second. A
        # whole second's budget sent at once (ib_async's default) lands in IB's window next to the following
        # second's as soon as one burst is read late, and past 50 IB disconnects (seen in the fault storm test)
        self.ib.client.MaxRequests = max(1, config.messages_per_second // 10)
        self.ib.client.RequestsInterval = 0.1  # type: ignore[assignment]  # typed int there; read as seconds
        self.supervisor = ConnectionSupervisor(self.ib, config, self._on_reconnected, self._on_down)
        self.local_gateway = local_gateway
        self.market_data: IbkrMarketData | None = None  # attached by the kernel: quotes and chains from IB
        self._on_event: OrderEventHandler = _no_event
        self._on_settlement: SettlementHandler | None = None
        self._on_connection: ConnectionHandler | None = None
        self._trades: dict[str, Trade] = {}  # client order id -> the trade of its latest send
        self._coid_of_order_id: dict[int, str] = {}
        self._acked: set[str] = set()
        self._final: set[str] = set()
        self._fills_reported: set[str] = set()  # IB execution ids
        self._ib_down = False  # 1100: the socket is up, IB behind the gateway is not
        self.errors_by_scope: dict[Scope, int] = {scope: 0 for scope in Scope}
        self.ib.orderStatusEvent += self._on_trade
        self.ib.commissionReportEvent += self._on_commission
        self.ib.errorEvent += self._on_error

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Connect (before recovery reads the book), list the chains and subscribe, and keep the connection."""
        if self.local_gateway is not None:
            self.supervisor.port = await self.local_gateway.start()
        await self.supervisor.connect()
        if self.market_data is not None:
            await self.market_data.start()
        self.supervisor.watch()

    async def stop(self) -> None:
        await self.supervisor.stop()
        if self.local_gateway is not None:
            await self.local_gateway.stop()
            self.local_gateway.exchange.close()

    def close(self) -> None:
        """Drop the socket (the order manager is done); `stop` also ends the supervisor and a local gateway."""
        self.supervisor.halt()
        if self.ib.isConnected():
            self.ib.disconnect()

    # ------------------------------------------------------------------ Broker port

    @property
    def connected(self) -> bool:
        return self.ib.isConnected() and not self._ib_down

    @property
    def session(self) -> str | None:
        """The client id this connection holds: IB refuses a second connection with it (326)."""
        client_id = self.supervisor.client_id
        return None if client_id is None or not self.ib.isConnected() else f"ib client {client_id}"

    async def refresh_orders(self) -> None:
        """Every open and completed order of the login's accounts and the day's executions, whichever client id
        sent them: `order_status` and `executions` then see them too."""
        self._require_connection()
        await self.ib.reqAllOpenOrdersAsync()
        await self.ib.reqCompletedOrdersAsync(apiOnly=True)
        await self.ib.reqExecutionsAsync()

    def set_event_handler(self, on_order_event: OrderEventHandler, on_settlement: SettlementHandler) -> None:
        self._on_event = on_order_event
        self._on_settlement = on_settlement

    def set_connection_handler(self, on_connection: ConnectionHandler) -> None:
        self._on_connection = on_connection

    def submit(self, order: Order) -> None:
        self._require_connection()
        instrument = self._registry.require(order.instrument_id)
        ib_order = orders.ib_order(order)
        client_id = self.supervisor.client_id
        assert client_id is not None
        ib_order.orderId = self._ids.take(client_id, self.ib.client.getReqId())
        self.ib.client.updateReqId(ib_order.orderId + 1)
        try:
            trade = self.ib.placeOrder(orders.ib_contract(instrument), ib_order)
        except ConnectionError as e:
            raise BrokerDisconnected(f"{order.client_order_id} not sent: {e}") from e
        self._trades[order.client_order_id] = trade
        self._coid_of_order_id[ib_order.orderId] = order.client_order_id
        self._final.discard(order.client_order_id)

    def cancel(self, client_order_id: Unchecked) -> None:
        if not isinstance(client_order_id, str):
            raise InvalidInput("client_order_id", client_order_id, "must be a string")
        self._require_connection()
        trade = self._trade_of(client_order_id)
        if trade is None:
            now = self._clock.now_ns()
            self._clock.call_later(0, self._on_event, OrderEvent(EventKind.CANCEL_REJECTED, client_order_id, now,
                                                                  reason="unknown order"))  # fmt: skip
            return
        try:
            self.ib.cancelOrder(trade.order)
        except ConnectionError as e:
            raise BrokerDisconnected(f"cancel of {client_order_id} not sent: {e}") from e

    def open_orders(self) -> list[VenueOrder]:
        self._require_connection()
        return [orders.venue_order(t) for t in self.ib.trades()
                if orders.server_status(t)[0] in orders.PENDING | orders.WORKING]  # fmt: skip

    def order_status(self, client_order_id: Unchecked) -> VenueOrder | None:
        self._require_connection()
        if not isinstance(client_order_id, str):
            raise InvalidInput("client_order_id", client_order_id, "must be a string")
        trade = self._trade_of(client_order_id)
        return None if trade is None else orders.venue_order(trade)

    def executions(self, client_order_id: Unchecked = None) -> list[Fill]:
        self._require_connection()
        result = []
        for fill in sorted(self.ib.fills(), key=lambda f: f.execution.time):
            coid = _coid_of_fill(fill)
            if client_order_id is None or coid == client_order_id:
                result.append(orders.our_fill(fill, coid))
        return result

    def account_snapshot(self, account: Unchecked) -> AccountSnapshot:
        self._require_connection()
        if not isinstance(account, str) or account not in self.ib.managedAccounts():
            raise InvalidInput("account", account, "not an account of this IB login")
        values = {v.tag: v.value for v in self.ib.accountValues(account) if v.currency in ("USD", "BASE", "")}
        positions = {}
        for p in self.ib.positions(account):
            if p.position:
                positions[orders.instrument_of_contract(p.contract).id] = int(p.position)
        return AccountSnapshot(account, Decimal(values.get("TotalCashValue", "0")), positions,
                               Decimal(values.get("InitMarginReq", "0")))  # fmt: skip

    # ------------------------------------------------------------------ what IB says

    def _on_trade(self, trade: Trade) -> None:
        coid = orders.client_order_id(trade.order)
        known = self._trades.get(coid)
        if known is not None and known is not trade and trade.order.orderId < known.order.orderId:
            return  # an earlier send of the same order (refused, then sent again under a new id)
        self._trades[coid] = trade
        if trade.order.orderId:
            self._coid_of_order_id[trade.order.orderId] = coid
        status, code = orders.server_status(trade)
        perm_id = str(trade.order.permId or trade.orderStatus.permId or "") or None
        now = self._clock.now_ns()
        if status in orders.WORKING and coid not in self._acked:
            self._acked.add(coid)
            self._on_event(OrderEvent(EventKind.ACCEPTED, coid, now, perm_id))
        elif status in orders.CANCELLED and coid not in self._final:
            self._final.add(coid)
            self._on_event(OrderEvent(EventKind.CANCELED, coid, now, perm_id, reason=_last_message(trade)))
        elif status == "Inactive" and coid not in self._final:
            error = orders.reject_class(code)
            if error is not ErrorClass.TRANSIENT:
                self._final.add(coid)
            reason = f"IB {code}: {_last_message(trade)}" if code else _last_message(trade)
            self._on_event(OrderEvent(EventKind.REJECTED, coid, now, perm_id, reason=reason, error=error))

    def _on_commission(self, trade: Trade, fill: IbFill, report: CommissionReport) -> None:
        exec_id = fill.execution.execId
        if exec_id in self._fills_reported:
            return
        self._fills_reported.add(exec_id)
        coid = _coid_of_fill(fill)
        ours = orders.our_fill(fill, coid)
        perm_id = str(fill.execution.permId or "") or None
        self._on_event(OrderEvent(EventKind.FILL, coid, ours.ts_event, perm_id, fill=ours))

    def _on_error(self, req_id: int, code: int, text: str, contract: object) -> None:
        info = classify(code)
        self.errors_by_scope[info.scope] += 1
        if info.scope is Scope.CANCEL_REFUSED:
            coid = self._coid_of_order_id.get(req_id)
            if coid is not None:
                self._on_event(OrderEvent(EventKind.CANCEL_REJECTED, coid, self._clock.now_ns(),
                                          reason=f"IB {code}: {text}"))  # fmt: skip
        elif code == 1100 and req_id == -1:  # with an order id, 1100 refuses that order (its log says so)
            self._ib_down = True
            self._on_down(f"IB {code}: {text}")
        elif code in (1101, 1102) and req_id == -1:
            self._ib_down = False
            if code == 1101 and self.market_data is not None:
                self.market_data.reset()
            self._on_up()
        elif info.scope is Scope.UNCLASSIFIED:
            log.error("IB error %d (not in the table), reqId %d: %s", code, req_id, text)
        else:
            log.info("IB %d (%s), reqId %d: %s", code, info.scope.value, req_id, text)

    def _on_reconnected(self) -> None:
        """A new session: the old one's subscriptions went with its socket."""
        self._ib_down = False
        if self.market_data is not None:
            self.market_data.reset()
        self._on_up()

    def _on_up(self) -> None:
        if self._on_connection is not None and self.connected:
            self._on_connection(True)

    def _on_down(self, why: str) -> None:
        log.warning("IB connection down: %s", why)
        if self._on_connection is not None:
            self._on_connection(False)

    def fault_counts(self) -> dict[str, int]:
        """The faults the local gateway injected (none at a real IB: there the faults are not ours to count)."""
        if self.local_gateway is None:
            return {}
        return {str(kind): n for kind, n in self.local_gateway.fault_counts().items()}

    def health(self) -> dict[str, object]:
        """The connection as /health shows it."""
        md = self.market_data
        return {"client_id": self.supervisor.client_id, "host": self.config.host, "port": self.supervisor.port,
                "socket": self.ib.isConnected(), "ib_connectivity": not self._ib_down,
                "market_data_lines": None if md is None else md.lines.in_use,
                "market_data_line_budget": self.config.market_data_lines}  # fmt: skip

    # ------------------------------------------------------------------ helpers

    def _require_connection(self) -> None:
        if not self.connected:
            why = "IB is not connected" if not self.ib.isConnected() else "IB connectivity lost (1100)"
            raise BrokerDisconnected(why)

    def _trade_of(self, client_order_id: str) -> Trade | None:
        """The trade this session knows for a client order id (sent in it, or synced from IB's open and completed
        orders at its start): working first, then filled, else the latest send. None: IB does not have it (a
        send lost with a previous session's socket is not IB's, whatever that session's trade said)."""
        candidates = [t for t in self.ib.trades() if orders.client_order_id(t.order) == client_order_id]
        if not candidates:
            return None

        def rank(t: Trade) -> tuple[int, int]:
            status = orders.server_status(t)[0]
            return (2 if status in orders.PENDING | orders.WORKING else 1 if status == "Filled" else 0,
                    t.order.orderId)  # fmt: skip
        return max(candidates, key=rank)

    def metrics(self) -> list[Metric]:
        return [gauge("alluse_broker_info", "The broker this process trades through", 1, broker=self.name),
                gauge("alluse_broker_connected", "1 while the session is up and IB behind it (no 1100)",
                      1 if self.connected else 0),
                *self.supervisor.metrics(), *(self.market_data.metrics() if self.market_data is not None else ()),
                *(counter("alluse_ibkr_errors_total", "IB error messages by what they concern", n, scope=s.value)
                  for s, n in self.errors_by_scope.items())]  # fmt: skip


def _coid_of_fill(fill: IbFill) -> str:
    ex = fill.execution
    return ex.orderRef or f"{orders.EXTERNAL_PREFIX}{ex.permId}"


def _last_message(trade: Trade) -> str:
    return next((e.message for e in reversed(trade.log) if e.message), trade.orderStatus.status)

