"""The gateway: an asyncio TCP server on loopback, its sessions, and IB's login-wide rules and faults.

Login-wide state lives here, as it does at IB: the client ids connected (at most 32, each once), the
market-data lines in use (a budget shared by every client), the next order id per client id, and which
session hears about which order (the one whose client id placed it). Faults come from the config (per
order) or from `inject` (a control call for tests and `alluse gateway`), and are counted.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
from collections import Counter

from alluse.brokers.ibkr.gateway import outgoing, rules
from alluse.brokers.ibkr.gateway.config import GatewayConfig
from alluse.brokers.ibkr.gateway.exchange import Exchange, Execution, OrderUpdate, Refused, time_text
from alluse.brokers.ibkr.gateway.incoming import PlaceOrder
from alluse.brokers.ibkr.gateway.outgoing import TickType
from alluse.brokers.ibkr.gateway.rules import Limits, Refusal
from alluse.brokers.ibkr.gateway.session import DELAYED, DELAYED_FROZEN, Session
from alluse.brokers.ibkr.gateway.wire import frame
from alluse.common.clock import Clock
from alluse.common.metrics import Metric, counter, gauge
from alluse.model import Instrument, Option, Quote
from alluse.model.events import EventKind, SettlementEvent

log = logging.getLogger("alluse.gateway")

ACCOUNT_UPDATE_DELAY_S = 0.1
DELAYED_TICKS = {TickType.BID: TickType.DELAYED_BID, TickType.ASK: TickType.DELAYED_ASK,
                 TickType.MODEL_OPTION: TickType.DELAYED_MODEL_OPTION}  # fmt: skip


class GatewayFault(enum.StrEnum):
    CONNECTIVITY_LOST = "connectivity_lost"  # 1100, then 1101 (data lost) or 1102 (data kept)
    FARM_FLAP = "farm_flap"  # 2103/2104, 2105/2106, 2157/2158: broken, then OK
    COMPETING_SESSION = "competing_session"  # 10197: no market data while it lasts
    ORDER_REJECT = "order_reject"  # the next order: 201
    ORDER_CANCEL = "order_cancel"  # the oldest working order cancelled by IB: 202
    WARNING = "warning"  # the next order: 399, and it goes on
    DROP_MID_MESSAGE = "drop_mid_message"  # half a frame, then the socket closes
    NIGHTLY_RESTART = "nightly_restart"  # every client dropped; order ids start lower afterwards
    DISCONNECT = "disconnect"  # every client dropped; the venue trades on


class Gateway:
    def __init__(self, exchange: Exchange, config: GatewayConfig | None = None) -> None:
        config = config if config is not None else GatewayConfig()
        self.exchange = exchange
        self.clock: Clock = exchange.clock
        self.config = config
        self.server_version = config.server_version
        self.limits = Limits(config.messages_per_second, config.market_data_lines, config.max_clients)
        self.sessions: dict[int, Session] = {}  # client id -> its session
        self._lines: dict[tuple[Session, int], str] = {}  # (session, reqId) -> instrument id
        self._by_instrument: dict[str, set[tuple[Session, int]]] = {}
        self._next_ids: dict[int, int] = {}  # client id -> the next order id it may use
        self._used_ids: dict[int, set[int]] = {}  # client id -> order ids used since the last restart
        self._pending: Counter[GatewayFault] = Counter()  # faults armed for the next order(s)
        self._rng = random.Random(config.faults.seed)
        self.faults: Counter[GatewayFault] = Counter()
        self.data_paused = False  # connectivity lost or a competing session: no quotes go out
        self.connected_down = False
        self.pacing_violations = 0
        self._dirty_accounts: set[str] = set()  # accounts whose values changed since they were last sent
        self.lines_refused = 0
        self.max_lines_used = 0
        self.port: int | None = None  # once started
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        exchange.on_order = self._on_order
        exchange.on_quote = self._on_quote
        exchange.on_settlement = self._on_settlement

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> int:
        """Listen, start the market; returns the port (useful when the config says 0)."""
        self._server = await asyncio.start_server(self._accept, self.config.host, self.config.port)
        self.exchange.start()
        port: int = self._server.sockets[0].getsockname()[1]
        self.port = port
        log.info("gateway listening on %s:%d (server version %d)", self.config.host, port, self.server_version)
        return port

    async def stop(self) -> None:
        self.exchange.stop()
        if self._server is not None:
            self._server.close()
        for session in list(self.sessions.values()):
            session.abort()
        if self._tasks:  # each ends at its socket's EOF (cancelling them makes asyncio's stream callback log noise)
            await asyncio.wait(list(self._tasks), timeout=2.0)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = Session(self, reader, writer)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await session.run()
        finally:
            if task is not None:
                self._tasks.discard(task)

    # ------------------------------------------------------------------ clients

    def attach(self, session: Session, client_id: int) -> Refusal | None:
        if client_id in self.sessions:
            return Refusal(rules.DUPLICATE_CLIENT_CODE, rules.DUPLICATE_CLIENT_TEXT)
        if len(self.sessions) >= self.limits.max_clients:
            text = rules.TOO_MANY_CLIENTS_TEXT.format(limit=self.limits.max_clients)
            return Refusal(rules.TOO_MANY_CLIENTS_CODE, text)
        self.sessions[client_id] = session
        log.info("client %d connected (server version %d)", client_id, session.version)
        return None

    def detach(self, session: Session) -> None:
        if session.client_id is not None and self.sessions.get(session.client_id) is session:
            del self.sessions[session.client_id]
            log.info("client %d disconnected", session.client_id)
        for req_id in list(session.tickers):
            self.release_line(session, req_id)
        session.tickers.clear()

    def next_order_id(self, client_id: int) -> int:
        return self._next_ids.get(client_id, 1)

    # ------------------------------------------------------------------ market data

    def take_line(self, session: Session, req_id: int, instrument_id: str) -> bool:
        if len(self._lines) >= self.limits.market_data_lines:
            self.lines_refused += 1
            return False
        self._lines[(session, req_id)] = instrument_id
        self._by_instrument.setdefault(instrument_id, set()).add((session, req_id))
        self.max_lines_used = max(self.max_lines_used, len(self._lines))
        return True

    def release_line(self, session: Session, req_id: int) -> None:
        instrument_id = self._lines.pop((session, req_id), None)
        if instrument_id is not None:
            subscribers = self._by_instrument.get(instrument_id)
            if subscribers is not None:
                subscribers.discard((session, req_id))
                if not subscribers:
                    del self._by_instrument[instrument_id]

    @property
    def lines_in_use(self) -> int:
        return len(self._lines)

    def _on_quote(self, quote: Quote) -> None:
        subscribers = self._by_instrument.get(quote.instrument_id)
        if not subscribers or self.data_paused:
            return
        instrument = self.exchange.registry.resolve(quote.instrument_id)
        for session, req_id in list(subscribers):
            self.send_quote(session, req_id, instrument, quote)

    def send_quote(self, session: Session, req_id: int, instrument: Instrument, quote: Quote) -> None:
        delayed = session.data_type in (DELAYED, DELAYED_FROZEN)

        def tick(t: TickType) -> TickType:
            return DELAYED_TICKS[t] if delayed else t

        session.send(outgoing.tick_price(req_id, tick(TickType.BID), quote.bid, quote.bid_size))
        session.send(outgoing.tick_price(req_id, tick(TickType.ASK), quote.ask, quote.ask_size))
        if isinstance(instrument, Option):
            comp = self.exchange.option_computation(instrument, quote)
            if comp is not None:
                session.send(outgoing.tick_option_computation(
                    req_id, tick(TickType.MODEL_OPTION), comp.iv, comp.delta, comp.price, comp.gamma, comp.vega,
                    comp.theta, comp.underlying))  # fmt: skip

    # ------------------------------------------------------------------ orders

    def place(self, session: Session, request: PlaceOrder) -> None:
        client_id = session.client_id
        assert client_id is not None
        used = self._used_ids.setdefault(client_id, set())
        if request.order_id in used:
            session.error(request.order_id, rules.DUPLICATE_ORDER_CODE, rules.DUPLICATE_ORDER_TEXT)
            return
        if self.connected_down:
            session.error(request.order_id, 1100, "Connectivity between IB and Trader Workstation has been lost.")
            return
        used.add(request.order_id)
        self._next_ids[client_id] = max(self._next_ids.get(client_id, 1), request.order_id + 1)
        if self._draw(GatewayFault.WARNING, self.config.faults.warning_rate):
            session.error(request.order_id, 399, "Order Message:\nWarning: injected by the local gateway")
        try:
            reject = self._draw(GatewayFault.ORDER_REJECT, self.config.faults.reject_rate)
            self.exchange.place(client_id, request, reject="injected by the local gateway" if reject else "")
        except Refused as e:
            session.error(request.order_id, e.code, e.text)

    def cancel(self, session: Session, order_id: int) -> None:
        for order in self.exchange.orders.values():
            if order.client_id == session.client_id and order.order_id == order_id:
                if order.done:
                    session.error(order_id, rules.CANNOT_CANCEL_CODE,
                                  rules.CANNOT_CANCEL_TEXT.format(order_id=order_id, state=order.status))  # fmt: skip
                else:
                    self.exchange.cancel(order)
                return
        session.error(order_id, 10147, f"OrderId {order_id} that needs to be cancelled is not found.")

    def _on_order(self, update: OrderUpdate) -> None:
        order = update.order
        session = self.sessions.get(order.client_id)
        if update.kind is EventKind.FILL and update.fill is not None:
            self._after_fill(order.account, update.fill.instrument_id)
        if session is None:
            return  # the client is away: it finds out through reqOpenOrders/reqCompletedOrders/reqExecutions
        kind = update.kind
        if kind is EventKind.ACCEPTED:
            session.send(outgoing.open_order(order, session.version))
            session.send(outgoing.order_status(order))
        elif kind is EventKind.FILL and update.fill is not None:
            execution = self.exchange.executions[-1]
            self.send_execution(session, -1, execution)
            session.send(outgoing.order_status(order))
        elif kind in (EventKind.CANCELED, EventKind.EXPIRED):
            session.send(outgoing.order_status(order))
            session.error(order.order_id, rules.CANCELLED_CODE, rules.CANCELLED_TEXT.format(reason=update.reason))
        elif kind is EventKind.REJECTED:
            session.error(order.order_id, rules.REJECT_CODE, rules.REJECT_TEXT.format(reason=update.reason))
            session.send(outgoing.order_status(order))
        elif kind is EventKind.CANCEL_REJECTED:
            session.error(order.order_id, rules.CANNOT_CANCEL_CODE,
                          rules.CANNOT_CANCEL_TEXT.format(order_id=order.order_id, state=order.status))  # fmt: skip

    def _on_settlement(self, event: SettlementEvent) -> None:
        """An option expired or was assigned: IB reports no execution to the API for it, only the positions and
        the account that changed (as TWS does after its expiry run)."""
        for fill in event.fills:
            self._after_fill(event.account, fill.instrument_id)

    def send_execution(self, session: Session, req_id: int, ex: Execution) -> None:
        fill = ex.fill
        liquidity = 1 if fill.liquidity == "M" else 2
        session.send(outgoing.execution(req_id, ex.order, fill.fill_id, time_text(fill.ts_event), fill.quantity,
                                        float(fill.price), ex.cum_qty, ex.avg_price, liquidity,
                                        session.version))  # fmt: skip
        session.send(outgoing.commission_report(fill.fill_id, float(fill.commission), None))

    def _after_fill(self, account: str, instrument_id: str) -> None:
        """Position and account subscribers hear about a fill's effect, as TWS streams them: the instrument's new
        position, 0 included (a position closed must be heard as closed)."""
        exchange = self.exchange
        held = {i.id: (qty, cost) for i, qty, cost in exchange.positions(account)}
        quantity, avg_cost = held.get(instrument_id, (0, 0.0))
        contract = exchange.contract(exchange.registry.resolve(instrument_id))
        for session in list(self.sessions.values()):
            if session.positions:
                session.send(outgoing.position(account, contract, quantity, avg_cost))
        # account values go out coalesced, as TWS batches them (it sends them every few minutes; here after
        # ACCOUNT_UPDATE_DELAY_S, so a summary read soon after the last fill finds them current)
        if account not in self._dirty_accounts:
            self._dirty_accounts.add(account)
            asyncio.get_running_loop().call_later(ACCOUNT_UPDATE_DELAY_S, self._publish_dirty)

    def _publish_dirty(self) -> None:
        accounts, self._dirty_accounts = self._dirty_accounts, set()
        for account in sorted(accounts):
            self.publish_account(account)

    def publish_account(self, account: str, *, positions: bool = False) -> None:
        """Every session subscribed to an account's values hears them again (after a fill, or the account opened);
        `positions`: its positions too, to reqPositions subscribers (an account opened with what it holds)."""
        held = self.exchange.positions(account) if positions else []
        for session in list(self.sessions.values()):
            if session.positions:
                for instrument, quantity, avg_cost in held:
                    session.send(outgoing.position(account, self.exchange.contract(instrument), quantity, avg_cost))
            if session.account_updates == account:
                session.send_account(account)
            for req_id, accounts in session.account_multi.items():
                if account in accounts:
                    session.send_account_multi(req_id, account)

    # ------------------------------------------------------------------ faults

    def _draw(self, fault: GatewayFault, rate: float) -> bool:
        armed = self._pending[fault] > 0
        if armed:
            self._pending[fault] -= 1
        if armed or (rate > 0 and self._rng.random() < rate):
            self.faults[fault] += 1
            return True
        return False

    def inject(self, fault: GatewayFault | str, *, duration_s: float = 0.0, data_lost: bool = False) -> None:
        """Inject one fault now (or, for ORDER_REJECT and WARNING, on the next order); `duration_s` is how long a
        connectivity loss or a competing session lasts; `data_lost` picks 1101 over 1102 when connectivity returns."""
        fault = GatewayFault(fault)
        if fault in (GatewayFault.ORDER_REJECT, GatewayFault.WARNING):
            self._pending[fault] += 1
            return
        self.faults[fault] += 1
        loop = asyncio.get_running_loop()
        if fault is GatewayFault.CONNECTIVITY_LOST:
            self.connected_down = self.data_paused = True
            self._broadcast(1100, "Connectivity between IB and Trader Workstation has been lost.")
            loop.call_later(duration_s, self._restore, data_lost)
        elif fault is GatewayFault.FARM_FLAP:
            for broken, ok, farm in ((2103, 2104, "usfarm"), (2105, 2106, "ushmds"), (2157, 2158, "secdefil")):
                kind = {2103: "Market data", 2105: "HMDS data", 2157: "Sec-def data"}[broken]
                self._broadcast(broken, f"{kind} farm connection is broken:{farm}")
                self._broadcast(ok, f"{kind} farm connection is OK:{farm}")
        elif fault is GatewayFault.COMPETING_SESSION:
            self.data_paused = True
            for session in list(self.sessions.values()):
                for req_id in session.tickers:
                    session.error(req_id, 10197, "No market data during competing live session")
            loop.call_later(duration_s, self._resume_data)
        elif fault is GatewayFault.ORDER_CANCEL:
            working = [o for o in self.exchange.orders.values() if not o.done]
            if working:
                self.exchange.cancel(working[0])
        elif fault is GatewayFault.DROP_MID_MESSAGE:
            half = frame(outgoing.error(-1, 2104, "Market data farm connection is OK:usfarm"))
            for session in list(self.sessions.values()):
                session.send_raw(half[: len(half) // 2])
                session.abort()
        elif fault is GatewayFault.NIGHTLY_RESTART:
            for session in list(self.sessions.values()):
                session.abort()
            self._used_ids.clear()
            self._next_ids.clear()  # TWS comes back handing out ids from 1 again
        elif fault is GatewayFault.DISCONNECT:
            for session in list(self.sessions.values()):
                session.abort()

    def _broadcast(self, code: int, text: str) -> None:
        for session in list(self.sessions.values()):
            session.error(-1, code, text)

    def _restore(self, data_lost: bool) -> None:
        self.connected_down = self.data_paused = False
        if data_lost:
            for session in list(self.sessions.values()):
                for req_id in list(session.tickers):
                    self.release_line(session, req_id)
                session.tickers.clear()
            self._broadcast(1101, "Connectivity between IB and TWS has been restored- data lost.")
        else:
            self._broadcast(1102, "Connectivity between IB and TWS has been restored- data maintained.")

    def _resume_data(self) -> None:
        self.data_paused = self.connected_down

    # ------------------------------------------------------------------ reporting

    def fault_counts(self) -> dict[GatewayFault, int]:
        return dict(self.faults)

    def metrics(self) -> list[Metric]:
        return [
            gauge("gateway_clients", "API clients connected to the local gateway", len(self.sessions)),
            gauge("gateway_market_data_lines", "market-data lines in use", self.lines_in_use),
            counter("gateway_lines_refused_total", "reqMktData refused past the line budget", self.lines_refused),
            counter("gateway_pacing_violations_total", "clients disconnected for pacing", self.pacing_violations),
            *(counter("gateway_faults_total", "faults injected by the local gateway", n, kind=k.value)
              for k, n in sorted(self.faults.items())),
        ]  # fmt: skip
