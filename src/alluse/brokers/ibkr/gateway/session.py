"""One API client's connection: the handshake, its requests, and what the gateway tells it.

A session answers in the server version it agreed at the handshake (layouts differ between 176 and
178), counts the client's messages against IB's pacing limit (past it: error 100 and a disconnect, as
TWS does), and answers a request whose field does not parse with error 321 naming the field.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from alluse.brokers.ibkr.gateway import incoming, outgoing, rules
from alluse.brokers.ibkr.gateway.exchange import Exchange, Execution, Refused, epoch_seconds, time_text
from alluse.brokers.ibkr.gateway.incoming import BadField, In, PlaceOrder
from alluse.brokers.ibkr.gateway.outgoing import Fields
from alluse.brokers.ibkr.gateway.wire import FrameReader, ProtocolError, frame
from alluse.common.clock import Clock
from alluse.model import Instrument, Option, Quote

log = logging.getLogger("alluse.gateway.session")

FARMS_OK = (
    (2104, "Market data farm connection is OK:usfarm"),
    (2104, "Market data farm connection is OK:usopt"),
    (2106, "HMDS data farm connection is OK:ushmds"),
    (2158, "Sec-def data farm connection is OK:secdefil"),
)
LIVE, FROZEN, DELAYED, DELAYED_FROZEN = 1, 2, 3, 4


class Login(Protocol):
    """What a session needs of the gateway: the state IB keeps per login, shared by every client (server.py)."""

    exchange: Exchange
    clock: Clock
    limits: rules.Limits
    server_version: int
    pacing_violations: int

    def attach(self, session: Session, client_id: int) -> rules.Refusal | None: ...
    def detach(self, session: Session) -> None: ...
    def next_order_id(self, client_id: int) -> int: ...
    def take_line(self, session: Session, req_id: int, instrument_id: str) -> bool: ...
    def release_line(self, session: Session, req_id: int) -> None: ...
    def send_quote(self, session: Session, req_id: int, instrument: Instrument, quote: Quote) -> None: ...
    def send_execution(self, session: Session, req_id: int, ex: Execution) -> None: ...
    def place(self, session: Session, request: PlaceOrder) -> None: ...
    def cancel(self, session: Session, order_id: int) -> None: ...


class Session:
    def __init__(self, gateway: Login, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.gateway = gateway
        self._reader = reader
        self._writer = writer
        self._frames = FrameReader()
        self._pacer = rules.MessagePacer(gateway.limits.messages_per_second)
        self.version = 0
        self.client_id: int | None = None
        self.tickers: dict[int, str] = {}  # reqId -> instrument id, streaming
        self.data_type = LIVE
        self.account_updates: str | None = None  # the account reqAccountUpdates subscribed
        self.positions = False  # reqPositions subscribed
        self.account_multi: dict[int, list[str]] = {}  # reqAccountUpdatesMulti: reqId -> its accounts
        self.closed = False
        self.messages_in = 0
        self._handlers: dict[int, Callable[[list[str]], None]] = {
            In.START_API: self._start_api, In.REQ_IDS: self._req_ids, In.REQ_MKT_DATA: self._req_mkt_data,
            In.CANCEL_MKT_DATA: self._cancel_mkt_data, In.PLACE_ORDER: self._place_order,
            In.CANCEL_ORDER: self._cancel_order, In.REQ_OPEN_ORDERS: self._req_open_orders,
            In.REQ_ALL_OPEN_ORDERS: self._req_all_open_orders, In.REQ_AUTO_OPEN_ORDERS: _ignore,
            In.REQ_COMPLETED_ORDERS: self._req_completed_orders, In.REQ_EXECUTIONS: self._req_executions,
            In.REQ_POSITIONS: self._req_positions, In.CANCEL_POSITIONS: self._cancel_positions,
            In.REQ_ACCOUNT_UPDATES: self._req_account_updates, In.REQ_ACCOUNT_UPDATES_MULTI: self._req_account_multi,
            In.CANCEL_ACCOUNT_UPDATES_MULTI: self._cancel_account_multi,
            In.REQ_ACCOUNT_SUMMARY: self._req_account_summary, In.CANCEL_ACCOUNT_SUMMARY: _ignore,
            In.REQ_CONTRACT_DATA: self._req_contract_data,
            In.REQ_SEC_DEF_OPT_PARAMS: self._req_sec_def_opt_params, In.REQ_MARKET_DATA_TYPE: self._req_data_type,
            In.REQ_CURRENT_TIME: self._req_current_time, In.REQ_MANAGED_ACCTS: self._req_managed_accounts,
            In.REQ_GLOBAL_CANCEL: self._req_global_cancel,
        }  # fmt: skip

    # ------------------------------------------------------------------ connection

    async def run(self) -> None:
        try:
            await self._handshake()
            while not self.closed:
                data = await self._reader.read(65536)
                if not data:
                    break
                for fields in self._frames.feed(data):
                    self._handle(fields)
                    if self.closed:
                        break
        except ProtocolError as e:
            log.warning("client %s: %s; closing", self.client_id, e)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.close()

    async def _handshake(self) -> None:
        while True:
            data = await self._reader.read(4096)
            if not data:
                raise ConnectionError("closed during the handshake")
            versions, rest = self._frames.read_handshake(data)
            if versions is not None:
                break
        low, high = versions
        version = self.gateway.server_version
        if not low <= version <= high:
            raise ProtocolError(f"client accepts versions {low}..{high}, this gateway speaks {version}")
        self.version = version
        self.send([version, time_text(self.gateway.clock.now_ns()).replace(" UTC", " GMT")])
        for fields in rest:
            self._handle(fields)

    def send(self, fields: Fields) -> None:
        if not self.closed:
            self._writer.write(frame(fields))

    def send_raw(self, data: bytes) -> None:
        if not self.closed:
            self._writer.write(data)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.gateway.detach(self)
        self._writer.close()

    def abort(self) -> None:
        """Drop the socket at once (a fault, or a pacing violation): nothing queued is flushed."""
        transport = self._writer.transport
        self.close()
        transport.abort()

    # ------------------------------------------------------------------ dispatch

    def _handle(self, fields: list[str]) -> None:
        self.messages_in += 1
        count = self._pacer.admit(asyncio.get_running_loop().time())
        if count is not None:
            log.warning("client %s: %d messages in a second (limit %d); disconnecting", self.client_id, count,
                        self.gateway.limits.messages_per_second)  # fmt: skip
            self.gateway.pacing_violations += 1
            self.send(outgoing.error(-1, rules.PACING_CODE, rules.PACING_TEXT.format(
                limit=self.gateway.limits.messages_per_second, count=count)))  # fmt: skip
            self.abort()
            return
        try:
            msg_id = int(fields[0]) if fields else -1
        except ValueError:
            raise ProtocolError(f"message id {fields[0]!r} is not a number") from None
        if self.client_id is None and msg_id != In.START_API:
            return  # TWS ignores requests before startApi
        handler = self._handlers.get(msg_id)
        if handler is None:
            self.invalid(-1, "msgId", f"{msg_id} is not supported by this gateway")
            return
        try:
            handler(fields)
        except BadField as e:
            self.invalid(_req_id_of(msg_id, fields), e.name, f"{e.value!r} {e.why}")

    def error(self, req_id: int, code: int, text: str) -> None:
        self.send(outgoing.error(req_id, code, text))

    def invalid(self, req_id: int, field: str, why: str) -> None:
        """IB's 321: a request TWS could not validate, naming the field."""
        self.error(req_id, rules.VALIDATION_CODE, rules.VALIDATION_TEXT.format(field=field, why=why))

    # ------------------------------------------------------------------ start-up

    def _start_api(self, fields: list[str]) -> None:
        if self.client_id is not None:
            return
        client_id = incoming.integer(fields, 2, "clientId")
        refusal = self.gateway.attach(self, client_id)
        if refusal is not None:
            self.error(-1, refusal.code, refusal.text)
            self.abort()
            return
        self.client_id = client_id
        self.send(outgoing.next_valid_id(self.gateway.next_order_id(client_id)))
        self.send(outgoing.managed_accounts(self.gateway.exchange.accounts))
        for code, text in FARMS_OK:
            self.error(-1, code, text)

    def _req_ids(self, fields: list[str]) -> None:
        assert self.client_id is not None
        self.send(outgoing.next_valid_id(self.gateway.next_order_id(self.client_id)))

    def _req_managed_accounts(self, fields: list[str]) -> None:
        self.send(outgoing.managed_accounts(self.gateway.exchange.accounts))

    def _req_current_time(self, fields: list[str]) -> None:
        self.send(outgoing.current_time(epoch_seconds(self.gateway.clock.now_ns())))

    # ------------------------------------------------------------------ market data

    def _req_data_type(self, fields: list[str]) -> None:
        data_type = incoming.integer(fields, 2, "marketDataType")
        if data_type not in (LIVE, FROZEN, DELAYED, DELAYED_FROZEN):
            raise BadField("marketDataType", data_type, "must be 1, 2, 3 or 4")
        self.data_type = data_type

    def _req_mkt_data(self, fields: list[str]) -> None:
        request = incoming.market_data(fields)
        try:
            instrument = self.gateway.exchange.resolve(request.contract)
        except Refused as e:
            self.error(request.req_id, e.code, e.text)
            return
        if request.req_id in self.tickers:
            self.error(request.req_id, rules.DUPLICATE_TICKER_CODE, rules.DUPLICATE_TICKER_TEXT)
            return
        if not request.snapshot and not self.gateway.take_line(self, request.req_id, instrument.id):
            self.error(request.req_id, rules.LINES_CODE, rules.LINES_TEXT)
            return
        self.send(outgoing.market_data_type(request.req_id, self.data_type))
        self.send(outgoing.tick_req_params(request.req_id, 0.01))
        if not request.snapshot:
            self.tickers[request.req_id] = instrument.id
        quote = self.gateway.exchange.cache.get(instrument.id)
        if quote is not None:
            self.gateway.send_quote(self, request.req_id, instrument, quote)
        if request.snapshot:
            self.send(outgoing.tick_snapshot_end(request.req_id))

    def _cancel_mkt_data(self, fields: list[str]) -> None:
        req_id = incoming.integer(fields, 2, "reqId")
        if self.tickers.pop(req_id, None) is not None:
            self.gateway.release_line(self, req_id)

    def _req_contract_data(self, fields: list[str]) -> None:
        req_id = incoming.integer(fields, 2, "reqId")
        contract = incoming.contract_at(fields, 3)
        exchange = self.gateway.exchange
        matches = exchange.matching(contract)
        if not matches:
            self.error(req_id, rules.NO_SECURITY_CODE, rules.NO_SECURITY_TEXT)
            return
        for instrument in matches:
            c = exchange.contract(instrument)
            if isinstance(instrument, Option):
                under = exchange.registry.resolve(instrument.underlying)
                long_name, under_id, under_symbol = instrument.underlying, exchange.con_id(under), under.id
            else:
                long_name, under_id, under_symbol = instrument.id, 0, ""
            self.send(outgoing.contract_details(req_id, c, long_name, 0.01, under_id, under_symbol))
        self.send(outgoing.contract_details_end(req_id))

    def _req_sec_def_opt_params(self, fields: list[str]) -> None:
        req_id = incoming.integer(fields, 1, "reqId")
        symbol = incoming.text(fields, 2, "underlyingSymbol")
        exchange = self.gateway.exchange
        expirations, strikes = exchange.chain(symbol)
        if expirations:
            under_id = exchange.con_id(exchange.registry.resolve(symbol))
            self.send(outgoing.sec_def_opt_parameter(req_id, "SMART", under_id, symbol, "100", expirations, strikes))
        self.send(outgoing.sec_def_opt_parameter_end(req_id))

    # ------------------------------------------------------------------ orders

    def _place_order(self, fields: list[str]) -> None:
        assert self.client_id is not None
        request = incoming.place_order(fields)
        self.gateway.place(self, request)

    def _cancel_order(self, fields: list[str]) -> None:
        assert self.client_id is not None
        order_id = incoming.integer(fields, 2, "orderId")
        self.gateway.cancel(self, order_id)

    def _req_global_cancel(self, fields: list[str]) -> None:
        for order in list(self.gateway.exchange.orders.values()):
            if not order.done:
                self.gateway.exchange.cancel(order)

    def _req_open_orders(self, fields: list[str]) -> None:
        self._send_open_orders(everyone=self.client_id == 0)

    def _req_all_open_orders(self, fields: list[str]) -> None:
        self._send_open_orders(everyone=True)

    def _send_open_orders(self, everyone: bool) -> None:
        for order in self.gateway.exchange.orders.values():
            if not order.done and (everyone or order.client_id == self.client_id):
                self.send(outgoing.open_order(order, self.version))
                self.send(outgoing.order_status(order))
        self.send(outgoing.open_order_end())

    def _req_completed_orders(self, fields: list[str]) -> None:
        for order in self.gateway.exchange.orders.values():
            if order.done:
                self.send(outgoing.completed_order(order, self.version))
        self.send(outgoing.completed_orders_end())

    def _req_executions(self, fields: list[str]) -> None:
        # [7, 3, reqId, clientId, acctCode, time, symbol, secType, exchange, side]
        req_id = incoming.integer(fields, 2, "reqId")
        client_id = incoming.integer(fields, 3, "clientId")
        account = incoming.text(fields, 4, "acctCode")
        symbol = incoming.text(fields, 6, "symbol")
        sec_type = incoming.text(fields, 7, "secType")
        side = incoming.text(fields, 9, "side")
        for ex in self.gateway.exchange.executions:
            o = ex.order
            if ((client_id and o.client_id != client_id) or (account and o.account != account)
                    or (symbol and o.contract.symbol != symbol) or (sec_type and o.contract.sec_type != sec_type)
                    or (side and o.action != side)):  # fmt: skip
                continue
            self.gateway.send_execution(self, req_id, ex)
        self.send(outgoing.execution_end(req_id))

    # ------------------------------------------------------------------ accounts

    def _req_positions(self, fields: list[str]) -> None:
        self.positions = True
        exchange = self.gateway.exchange
        for account in exchange.accounts:
            for instrument, quantity, avg_cost in exchange.positions(account):
                self.send(outgoing.position(account, exchange.contract(instrument), quantity, avg_cost))
        self.send(outgoing.position_end())

    def _cancel_positions(self, fields: list[str]) -> None:
        self.positions = False

    def _req_account_updates(self, fields: list[str]) -> None:
        subscribe = incoming.text(fields, 2, "subscribe") == "1"
        account = incoming.text(fields, 3, "acctCode") or self.gateway.exchange.accounts[0]
        if account not in self.gateway.exchange.accounts:
            raise BadField("acctCode", account, "is not managed by this login")
        self.account_updates = account if subscribe else None
        if subscribe:
            self.send_account(account)
            self.send(outgoing.account_download_end(account))

    def send_account(self, account: str) -> None:
        """Account values and the portfolio, as reqAccountUpdates streams them."""
        exchange = self.gateway.exchange
        for key, value in exchange.account_values(account).items():
            self.send(outgoing.account_value(key, f"{value:.2f}", "USD", account))
        for instrument, quantity, avg_cost in exchange.positions(account):
            mid = exchange.cache.fresh_mid(instrument.id) or 0.0
            value = quantity * mid * instrument.multiplier
            self.send(outgoing.portfolio_value(exchange.contract(instrument), quantity, mid, value, avg_cost,
                                               value - quantity * avg_cost, 0.0, account))  # fmt: skip
        self.send(outgoing.account_update_time(time_text(self.gateway.clock.now_ns())[9:14]))

    def _req_account_multi(self, fields: list[str]) -> None:
        req_id = incoming.integer(fields, 2, "reqId")
        account = incoming.text(fields, 3, "account")
        exchange = self.gateway.exchange
        names = [account] if account and account != "All" else list(exchange.accounts)
        for name in names:
            if name not in exchange.accounts:
                raise BadField("account", name, "is not managed by this login")
        self.account_multi[req_id] = names
        for name in names:
            self.send_account_multi(req_id, name)
        self.send(outgoing.account_update_multi_end(req_id))

    def send_account_multi(self, req_id: int, account: str) -> None:
        for key, value in self.gateway.exchange.account_values(account).items():
            self.send(outgoing.account_update_multi(req_id, account, key, f"{value:.2f}", "USD"))

    def _cancel_account_multi(self, fields: list[str]) -> None:
        self.account_multi.pop(incoming.integer(fields, 2, "reqId"), None)

    def _req_account_summary(self, fields: list[str]) -> None:
        req_id = incoming.integer(fields, 2, "reqId")
        tags = {t for t in incoming.text(fields, 4, "tags").split(",") if t}
        exchange = self.gateway.exchange
        for account in exchange.accounts:
            for key, value in exchange.account_values(account).items():
                if not tags or key in tags:
                    self.send(outgoing.account_summary(req_id, account, key, f"{value:.2f}", "USD"))
        self.send(outgoing.account_summary_end(req_id))


def _ignore(fields: list[str]) -> None:
    """A request that needs no answer here (the gateway already does what it asks)."""


# where a request carries the orderId or reqId an error about it refers to
_ID_FIELD: dict[int, int] = {In.PLACE_ORDER: 1, In.CANCEL_ORDER: 2, In.REQ_MKT_DATA: 2, In.REQ_CONTRACT_DATA: 2,
                             In.REQ_EXECUTIONS: 2, In.REQ_SEC_DEF_OPT_PARAMS: 1}  # fmt: skip


def _req_id_of(msg_id: int, fields: list[str]) -> int:
    """The id an error about a request refers to: its orderId or reqId where it has one, else -1."""
    position = _ID_FIELD.get(msg_id)
    if position is None or position >= len(fields):
        return -1
    try:
        return int(fields[position])
    except ValueError:
        return -1
