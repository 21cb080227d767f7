"""The paper venue: the default broker, filling orders against the live quotes.

How it models a venue:
- The venue's state changes when it decides (at submit, on a quote, on a cancel, at a
  timer). Each decision is written to the venue's own store in one transaction (see
  store.py) before any event about it is sent, so a restarted venue knows everything it
  ever told its client, and more. Events scheduled but not delivered when the process dies
  are lost, as on a real wire: the client asks `order_status`/`executions`.
- What it says goes through the client link (link.py): after a latency (ack latency for
  accept/reject/cancel answers, fill latency for fills), one ordered stream per order, so
  ACCEPTED precedes the order's fills and a cancel that races a fill already decided is
  confirmed only after that fill (unless an injected delay takes an event out of its stream:
  see faults.py). Events are stamped (`ts_event`) with the venue's decision time, as a broker
  stamps executions; the latency shows in when they arrive.
- The connection can drop (`disconnect`, or an injected fault): while it is down, submit,
  cancel and the queries raise BrokerDisconnected and events that come due are lost, but the
  venue keeps trading (resting orders fill, DAY orders expire), as a broker does while its
  client is away.
- Orders take the displayed touch up to the displayed size (matching.py); fills of orders
  that rested are flagged maker ("M").
- The market's hours hold: an order sent while the market is closed is accepted and waits for the
  open; DAY orders expire at the session close, options at their expiry, where positions settle
  (settlement.py). Both timers are re-armed on restart; a close or an expiry that passed while
  the venue was down is carried out at once.
- Selling puts needs free cash as collateral (accounts.py).
- A client order id is used once: a resend of an id the venue has (working or final) is
  refused with DUPLICATE_ORDER_REASON, except after a pacing reject, which does not use it up.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import ClassVar, Protocol

from alluse.brokers.base import (
    DUPLICATE_ORDER_REASON,
    AccountSnapshot,
    ConnectionHandler,
    OrderEventHandler,
    SettlementHandler,
    VenueOrder,
)
from alluse.brokers.paper.accounts import VenueAccount
from alluse.brokers.paper.commissions import commission_increment
from alluse.brokers.paper.config import FaultConfig, PaperVenueConfig
from alluse.brokers.paper.faults import (
    PACING_REASON,
    VENUE_REJECT_REASON,
    FaultInjector,
    FaultKind,
    InjectedFault,
)
from alluse.brokers.paper.link import ClientLink, Event
from alluse.brokers.paper.matching import Touch, take, touch_of
from alluse.brokers.paper.settlement import settlement_fills
from alluse.brokers.paper.store import (
    RECEIPT_ACCEPTED,
    RECEIPT_DUPLICATE,
    RECEIPT_PACING,
    RECEIPT_REJECTED,
    Batch,
    MemoryVenueStore,
    OrderRecord,
    Receipt,
    SqliteVenueStore,
    StoredState,
    VenueStore,
    VenueStoreError,
    VenueWriteFailed,
)
from alluse.common.clock import NS, Clock
from alluse.common.market_hours import AlwaysOpen, Sessions
from alluse.common.metrics import Metric, counter, gauge
from alluse.common.sqlite_files import SYNCHRONOUS_MODES
from alluse.model import (
    Fill,
    Instrument,
    InvalidInput,
    Option,
    Order,
    OrderStatus,
    OrderType,
    Quote,
    Right,
    Side,
    TimeInForce,
    Unchecked,
    check_order_fields,
    expiry_ns,
    parse_symbol,
)
from alluse.model.errors import BrokerDisconnected, ErrorClass
from alluse.model.events import EventKind, OrderEvent, SettlementEvent
from alluse.model.registry import InstrumentRegistry

log = logging.getLogger("alluse.brokers.paper")

REJECT_UNKNOWN_INSTRUMENT = "unknown instrument"
REJECT_UNKNOWN_ACCOUNT = "unknown account"
REJECT_INSUFFICIENT_CASH = "insufficient cash to secure put"
OPTION_EXPIRED = "option expired"
CANCEL_REQUESTED = "cancel requested"
IOC_REMAINDER = "IOC remainder"
SESSION_CLOSE = "session close"
UNKNOWN_ORDER = "unknown order"
ALREADY_FILLED = "already filled"
EXPIRY_QUOTE_RETRY_NS = 60 * NS  # no underlying quote at expiry: look again this much later...
EXPIRY_QUOTE_RETRIES = 60  # ...this many times, then settle as worthless with a warning


class QuoteSource(Protocol):
    def get(self, instrument_id: str) -> Quote | None: ...


class PaperVenue:
    name: ClassVar[str] = "paper"

    def __init__(
        self,
        clock: Clock,
        registry: InstrumentRegistry,
        quote_source: QuoteSource,
        config: PaperVenueConfig | None = None,
        store_path: str | Path | None = None,
        *,
        id_prefix: Unchecked = "P1",
        store_synchronous: Unchecked = "NORMAL",
        hours: Sessions | None = None,
    ) -> None:
        """`id_prefix` starts the venue's order and fill ids. Their sequence numbers continue across
        restarts from the store; a prefix per session (the kernel uses the journal's session number)
        also keeps them apart when the store is in memory. `store_synchronous` is the store's SQLite mode.
        `hours`: the market's sessions (nothing fills while closed, DAY orders expire at the close); by
        default always open, with a close every day at `config.session_close_utc_hour`."""
        if not isinstance(id_prefix, str) or not id_prefix:
            raise InvalidInput("id_prefix", id_prefix, "must be a non-empty string")
        if store_synchronous not in SYNCHRONOUS_MODES:
            raise InvalidInput("store_synchronous", store_synchronous, "must be OFF, NORMAL or FULL")
        config = config if config is not None else PaperVenueConfig()
        self._clock = clock
        self._registry = registry
        self._quotes = quote_source
        self._id_prefix: str = id_prefix
        self._ack_ns = config.ack_latency_ns
        self._fill_ns = config.fill_latency_ns
        self._hours: Sessions = hours if hours is not None else AlwaysOpen(config.session_close_utc_hour)
        self._commissions = config.commissions
        self._store: VenueStore = (
            MemoryVenueStore() if store_path is None else SqliteVenueStore(store_path, synchronous=store_synchronous)
        )
        self._faults = FaultInjector(config.faults) if config.faults.enabled else None
        self._link = ClientLink(clock, self._faults)
        self._accounts: dict[str, VenueAccount] = {}
        self._orders: dict[str, OrderRecord] = {}  # every client order id the venue took or refused
        self._working: dict[str, OrderRecord] = {}
        self._book: dict[str, dict[str, OrderRecord]] = {}  # instrument id -> working orders, time priority
        self._fills: list[Fill] = []
        self._fills_of: dict[str, list[Fill]] = {}  # client order id (or settlement id) -> its fills
        self._touches: dict[str, Touch] = {}
        self._expiry_watch: set[str] = set()
        self._closes_armed: set[int] = set()
        self._batch = Batch()  # the decision being made
        self._outbox: list[tuple[int, Event]] = []  # its events, sent once the batch is stored
        self._venue_seq = 0
        self._fill_seq = 0
        self.orders_received = 0  # submits that reached the venue (receipts)
        self.fills_emitted = 0  # fills made by this process (settlements excluded)
        self.rejects = 0
        self.cancels = 0
        try:
            self._restore(self._store.load(self._instrument_of))
        except BaseException:
            self._store.close()
            raise

    # ------------------------------------------------------------------ Broker interface

    @property
    def connected(self) -> bool:
        return self._link.connected

    def set_event_handler(self, on_order_event: OrderEventHandler, on_settlement: SettlementHandler) -> None:
        self._link.set_event_handler(on_order_event, on_settlement)

    def set_connection_handler(self, on_connection: ConnectionHandler) -> None:
        self._link.set_connection_handler(on_connection)

    def submit(self, order: Unchecked) -> None:  # an Order, its fields checked here (model.Unchecked)
        self._link.require_handler()
        self._link.require_connection()
        now = self._clock.now_ns()
        cid = order.client_order_id
        key = cid if isinstance(cid, str) else repr(cid)
        faults = self._faults
        if faults is not None:
            rates = faults.config
            if faults.draw(FaultKind.DISCONNECT, rates.disconnect_rate, key, now):
                self.disconnect(rates.disconnect_ns)
                raise BrokerDisconnected(f"connection dropped while sending {key}")
            if faults.draw(FaultKind.LOST_SUBMIT, rates.lose_submit_rate, key, now):
                return
        self.orders_received += 1
        self._receive(order, key, now)
        self._commit()

    def cancel(self, client_order_id: Unchecked) -> None:
        self._link.require_handler()
        self._link.require_connection()
        if type(client_order_id) is not str:
            raise InvalidInput("client_order_id", client_order_id, "must be a string")
        now = self._clock.now_ns()
        entry = self._working.get(client_order_id)
        if entry is None:
            record = self._orders.get(client_order_id)
            if record is None:
                reason = UNKNOWN_ORDER
            elif record.status is OrderStatus.FILLED:
                reason = ALREADY_FILLED
            else:
                reason = f"already {record.status.value.lower()}"
            event = OrderEvent(EventKind.CANCEL_REJECTED, client_order_id, now, reason=reason)
            self._outbox.append((self._ack_ns, event))
        else:
            self._cancel_entry(entry, CANCEL_REQUESTED)
        self._commit()

    def open_orders(self) -> list[VenueOrder]:
        self._link.require_connection()
        return [entry.snapshot() for entry in self._working.values()]

    def order_status(self, client_order_id: Unchecked) -> VenueOrder | None:
        """The venue's record in any state (a pacing-rejected id was never taken: None).

        Asking also ends a lost-response fault on that order: its later events arrive again.
        """
        self._link.require_connection()
        if not isinstance(client_order_id, str):
            raise InvalidInput("client_order_id", client_order_id, "must be a string")
        self._link.unmute(client_order_id)
        record = self._orders.get(client_order_id)
        return None if record is None else record.snapshot()

    def executions(self, client_order_id: Unchecked = None) -> list[Fill]:
        self._link.require_connection()
        if client_order_id is None:
            return list(self._fills)
        if not isinstance(client_order_id, str):
            raise InvalidInput("client_order_id", client_order_id, "must be a string or None")
        return list(self._fills_of.get(client_order_id, ()))

    def account_snapshot(self, account: Unchecked) -> AccountSnapshot:
        self._link.require_connection()
        acct = self._accounts.get(account)
        if acct is None:
            raise InvalidInput("account", account, REJECT_UNKNOWN_ACCOUNT)
        return AccountSnapshot(account, acct.cash, dict(acct.positions), acct.reserved(self._instrument_of))

    # ------------------------------------------------------------------ connection

    def disconnect(self, duration_ns: Unchecked) -> None:
        """Drop the client connection for `duration_ns` (tests, fault injection); the venue trades on."""
        self._link.disconnect(duration_ns)

    @property
    def disconnects(self) -> int:
        return self._link.disconnects

    @property
    def events_lost(self) -> int:
        """Events that came due while the connection was down."""
        return self._link.events_lost

    @property
    def events_muted(self) -> int:
        """Events dropped by a lost-response fault."""
        return self._link.events_muted

    def metrics(self) -> Iterator[Metric]:
        """Reconnects are not counted separately: connection states alternate, so every disconnect
        but a current one has ended in a reconnect."""
        up = self._link.connected
        b = self.name
        yield gauge("alluse_broker_info", "The broker this process trades through", 1, broker=b)
        yield gauge("alluse_broker_connected", "1 while the client connection is up", 1 if up else 0)
        yield counter("alluse_broker_disconnects_total", "Connection drops", self.disconnects, broker=b)
        reconnects = self.disconnects - (0 if up else 1)
        yield counter("alluse_broker_reconnects_total", "Connections restored", reconnects, broker=b)
        yield counter(
            "alluse_broker_orders_received_total", "Submits that reached the venue", self.orders_received, broker=b
        )
        yield counter("alluse_broker_fills_total", "Fills made by the venue", self.fills_emitted, broker=b)
        yield counter("alluse_broker_rejects_total", "Orders the venue refused", self.rejects, broker=b)
        yield counter("alluse_broker_events_lost_total", "Events due while disconnected", self.events_lost, broker=b)
        yield gauge("alluse_broker_working_orders", "Orders working at the venue", len(self._working), broker=b)

    # ------------------------------------------------------------------ accounts

    def has_account(self, account: str) -> bool:
        return account in self._accounts

    def open_account(self, account: Unchecked, cash: Unchecked) -> None:
        name = _check_account(account)
        if name in self._accounts:
            raise InvalidInput("account", account, "already open")
        amount = _check_cash(cash)
        if amount < 0:
            raise InvalidInput("cash", amount, "must not be negative")
        self._create_account(name, amount, {})

    def load_account(self, account: Unchecked, cash: Unchecked, positions: Unchecked) -> bool:
        """Seed an account the venue does not have (e.g. from the recovered journal); validates everything first.

        The venue's own records are its truth: an account it already has is left as it is and
        False is returned.
        """
        name = _check_account(account)
        cash = _check_cash(cash)
        if not isinstance(positions, dict):
            raise InvalidInput("positions", positions, "must be a dict of instrument id -> quantity")
        seeded: dict[str, int] = {}
        for instrument_id, qty in positions.items():
            if type(instrument_id) is not str or instrument_id not in self._registry:
                raise InvalidInput("positions", instrument_id, REJECT_UNKNOWN_INSTRUMENT)
            if type(qty) is not int:
                raise InvalidInput(f"positions[{instrument_id}]", qty, "must be an integer")
            if qty:
                seeded[instrument_id] = qty
        if name in self._accounts:
            log.info("account %s already at the venue: its records stand, seed ignored", name)
            return False
        self._create_account(name, cash, seeded)
        return True

    def _create_account(self, name: str, cash: Decimal, positions: dict[str, int]) -> None:
        self._accounts[name] = VenueAccount(name, cash, dict(positions))
        self._batch.accounts[name] = (cash, positions)
        self._commit()
        for instrument_id in positions:
            instrument = self._registry.get(instrument_id)
            if isinstance(instrument, Option):
                self._watch_expiry(instrument)

    # ------------------------------------------------------------------ introspection (tests, benchmarks)

    def receipts(self) -> list[Receipt]:
        """Every submit that reached the venue, oldest first (also across restarts with a store)."""
        return self._store.receipts()

    @property
    def faults(self) -> list[InjectedFault]:
        """Every fault injected, in order, with the error class a correct client assigns."""
        return [] if self._faults is None else list(self._faults.records)

    def fault_counts(self) -> dict[FaultKind, int]:
        return {} if self._faults is None else dict(self._faults.counts)

    def set_faults(self, config: FaultConfig) -> None:
        """Change the faults injected from now on (a test, a control call). What was injected stays recorded
        and the seeded stream goes on (the new config's seed is not used once faults were drawn)."""
        if self._faults is None:
            self._faults = FaultInjector(config)
        else:
            self._faults.config = config
        self._link.set_faults(self._faults)

    def close(self) -> None:
        self._store.close()

    # ------------------------------------------------------------------ market data

    def on_quote(self, quote: Quote) -> None:
        book = self._book.get(quote.instrument_id)
        if not book or not self._hours.is_open(self._clock.now_ns()):
            return
        touch = touch_of(quote, self._touches)
        if touch is None:
            return
        for entry in tuple(book.values()):
            if entry.status.is_open:
                self._match(entry, touch)
        if self._batch:
            self._commit()

    # ------------------------------------------------------------------ receiving orders

    def _receive(self, order: Unchecked, key: str, now: int) -> None:
        """Decide what to do with a submit that reached the venue (the caller commits)."""
        cid = order.client_order_id
        faults = self._faults
        if isinstance(cid, str) and cid in self._orders:
            event = OrderEvent(EventKind.REJECTED, cid, now, reason=DUPLICATE_ORDER_REASON, error=ErrorClass.PERMANENT)
            self._refuse(key, now, RECEIPT_DUPLICATE, event)  # the original is untouched
            return
        if faults is not None:
            rates = faults.config
            if faults.draw(FaultKind.PACING_REJECT, rates.pacing_reject_rate, key, now):
                event = OrderEvent(EventKind.REJECTED, cid, now, reason=PACING_REASON, error=ErrorClass.THROTTLED)
                self._refuse(key, now, RECEIPT_PACING, event)  # the id is not used up: a resend is welcome
                return
            if faults.draw(FaultKind.LOST_RESPONSE, rates.lose_response_rate, key, now):
                self._link.mute(key)
        checked = self._validate(order, now)
        if isinstance(checked, Instrument) and faults is not None:
            if faults.draw(FaultKind.PERMANENT_REJECT, faults.config.permanent_reject_rate, key, now):
                checked = VENUE_REJECT_REASON
        if isinstance(checked, str):
            log.info("rejected %r: %s", cid, checked)
            if isinstance(cid, str) and cid:
                self._orders[cid] = self._batch.orders[cid] = _refused_record(order, now, checked)
            event = OrderEvent(EventKind.REJECTED, cid, now, reason=checked, error=ErrorClass.PERMANENT)
            self._refuse(key, now, RECEIPT_REJECTED, event)
            return
        self._accept(order, checked, now)

    def _refuse(self, key: str, now: int, outcome: str, event: OrderEvent) -> None:
        self.rejects += 1
        self._batch.receipts.append(Receipt(key, now, outcome))
        self._outbox.append((self._ack_ns, event))

    def _accept(self, order: Order, instrument: Instrument, now: int) -> None:
        cid = order.client_order_id
        self._venue_seq += 1
        entry = OrderRecord(  # positional: this is the hot path
            cid,
            f"{self._id_prefix}-{self._venue_seq:06d}",
            self._venue_seq,
            order.account,
            instrument.id,
            instrument,
            order.side,
            order.quantity,
            order.order_type,
            order.limit_price if order.order_type is OrderType.LIMIT else None,
            order.time_in_force,
            now,
        )
        self._batch.receipts.append(Receipt(cid, now, RECEIPT_ACCEPTED))
        self._add(entry)
        faults = self._faults
        if (
            faults is None
            or self._link.is_muted(cid)
            or not faults.draw(FaultKind.DROPPED_ACK, faults.config.drop_ack_rate, cid, now)
        ):
            event = OrderEvent(EventKind.ACCEPTED, cid, now, entry.venue_order_id)
            self._outbox.append((self._ack_ns, event))
        quote = self._quotes.get(instrument.id) if self._hours.is_open(now) else None  # closed: it waits
        if quote is not None:
            touch = touch_of(quote, self._touches)
            if touch is not None:
                self._match(entry, touch)
        if not entry.status.is_open:
            return
        if entry.time_in_force is TimeInForce.IOC:
            self._cancel_entry(entry, IOC_REMAINDER)
        else:
            entry.rested = True

    def _validate(self, order: Unchecked, now: int) -> Instrument | str:
        """The instrument, or the reason the venue refuses the order."""
        cid = order.client_order_id
        if not isinstance(cid, str) or not cid:
            return f"client_order_id={cid!r}: must be a non-empty string"
        iid = order.instrument_id
        instrument = self._registry.get(iid) if isinstance(iid, str) else None
        if instrument is None:
            return REJECT_UNKNOWN_INSTRUMENT
        acct = self._accounts.get(order.account) if isinstance(order.account, str) else None
        if acct is None:
            return REJECT_UNKNOWN_ACCOUNT
        try:
            check_order_fields(order, instrument)
        except InvalidInput as exc:
            return str(exc)
        qty = order.quantity
        if isinstance(instrument, Option):
            if now >= expiry_ns(instrument):
                return OPTION_EXPIRED
            if instrument.right is Right.PUT and order.side is Side.SELL:
                extra = acct.put_collateral(instrument, qty) - acct.put_collateral(instrument, 0)
                if extra > 0 and acct.cash - acct.reserved(self._instrument_of) < extra:
                    return REJECT_INSUFFICIENT_CASH
        return instrument

    # ------------------------------------------------------------------ matching

    def _match(self, entry: OrderRecord, touch: Touch) -> None:
        taken = take(entry, touch)
        if taken is not None:
            self._execute(entry, taken[0], taken[1])

    def _execute(self, entry: OrderRecord, qty: int, price: Decimal) -> None:
        now = self._clock.now_ns()
        instrument: Instrument = entry.instrument  # type: ignore[assignment]  # working orders have one
        fee = commission_increment(instrument, entry.filled_qty, entry.filled_value, qty, price, self._commissions)
        entry.filled_qty += qty
        entry.filled_value += price * qty * instrument.multiplier
        liquidity = "M" if entry.rested and entry.order_type is OrderType.LIMIT else "T"
        fill = Fill(
            entry.client_order_id,
            entry.account,
            instrument.id,
            entry.side,  # type: ignore[arg-type]
            qty,
            price,
            fee,
            now,
            self._next_fill_id(),
            liquidity,
        )
        self._book_fill(self._accounts[entry.account], fill, instrument.multiplier)
        self.fills_emitted += 1
        if entry.filled_qty == entry.quantity:
            self._retire(entry, OrderStatus.FILLED)
        else:
            entry.status = OrderStatus.PARTIALLY_FILLED
            self._batch.orders[entry.client_order_id] = entry
        event = OrderEvent(EventKind.FILL, entry.client_order_id, now, entry.venue_order_id, fill=fill)
        self._outbox.append((self._fill_ns, event))

    def _book_fill(self, acct: VenueAccount, fill: Fill, multiplier: int) -> None:
        """Apply a fill to the account and the venue's execution record."""
        self._apply_fill(acct, fill, multiplier)
        self._fills.append(fill)
        self._fills_of.setdefault(fill.client_order_id, []).append(fill)
        self._batch.fills.append(fill)

    def _apply_fill(self, acct: VenueAccount, fill: Fill, multiplier: int) -> None:
        if acct.book(fill, multiplier):
            instrument = self._instrument_of(fill.instrument_id)
            if isinstance(instrument, Option):
                self._watch_expiry(instrument)

    def _next_fill_id(self) -> str:
        self._fill_seq += 1
        return f"{self._id_prefix}-F{self._fill_seq:08d}"

    # ------------------------------------------------------------------ order lifecycle

    def _add(self, entry: OrderRecord) -> None:
        """Put a working order in the book and arm its timers (on acceptance and on restart)."""
        cid = entry.client_order_id
        self._orders[cid] = entry
        self._working[cid] = entry
        self._book.setdefault(entry.instrument_id, {})[cid] = entry
        self._accounts[entry.account].working[cid] = entry
        self._batch.orders[cid] = entry
        if isinstance(entry.instrument, Option):
            self._watch_expiry(entry.instrument)
        if entry.time_in_force is TimeInForce.DAY:
            close = self._hours.next_close(entry.ts_accepted)
            if close is not None and close not in self._closes_armed:
                self._closes_armed.add(close)
                self._clock.call_at(close, self._on_session_close, close)

    def _retire(self, entry: OrderRecord, status: OrderStatus, reason: str = "") -> None:
        entry.status = status
        entry.reason = reason
        cid = entry.client_order_id
        del self._working[cid]
        book = self._book[entry.instrument_id]
        del book[cid]
        if not book:
            del self._book[entry.instrument_id]
        del self._accounts[entry.account].working[cid]
        self._batch.orders[cid] = entry

    def _cancel_entry(self, entry: OrderRecord, reason: str) -> None:
        self._retire(entry, OrderStatus.CANCELED, reason)
        self.cancels += 1
        now = self._clock.now_ns()
        event = OrderEvent(EventKind.CANCELED, entry.client_order_id, now, entry.venue_order_id, reason=reason)
        self._outbox.append((self._ack_ns, event))

    def _expire(self, entry: OrderRecord, reason: str) -> None:
        self._retire(entry, OrderStatus.EXPIRED, reason)
        now = self._clock.now_ns()
        self._outbox.append(
            (0, OrderEvent(EventKind.EXPIRED, entry.client_order_id, now, entry.venue_order_id, reason=reason))
        )

    def _on_session_close(self, close: int) -> None:
        """Expire the DAY orders accepted before this close (a close missed while down fires late)."""
        self._closes_armed.discard(close)
        for entry in [e for e in self._working.values() if e.time_in_force is TimeInForce.DAY]:
            if entry.ts_accepted < close:
                self._expire(entry, SESSION_CLOSE)
        self._commit()

    # ------------------------------------------------------------------ options

    def _watch_expiry(self, option: Option) -> None:
        if option.id not in self._expiry_watch:
            self._expiry_watch.add(option.id)
            self._clock.call_at(expiry_ns(option), self._on_option_expiry, option)

    def _on_option_expiry(self, option: Option, attempt: int = 0) -> None:
        for entry in tuple(self._book.get(option.id, {}).values()):
            self._expire(entry, OPTION_EXPIRED)
        if attempt < EXPIRY_QUOTE_RETRIES and not self._usable_mid(option.underlying):
            # e.g. just after a restart, before the first quote: wait for one rather than guess
            self._commit()
            self._clock.call_later(EXPIRY_QUOTE_RETRY_NS, self._on_option_expiry, option, attempt + 1)
            return
        self._expiry_watch.discard(option.id)
        now = self._clock.now_ns()
        for acct in tuple(self._accounts.values()):
            position = acct.positions.get(option.id)
            if position:
                reason, fills = settlement_fills(
                    acct.name, option, position, self._usable_mid(option.underlying), self._next_fill_id, now
                )
                for fill in fills:
                    self._book_fill(acct, fill, option.multiplier if fill.instrument_id == option.id else 1)
                self._outbox.append((0, SettlementEvent(acct.name, reason, tuple(fills), now)))
        self._commit()

    def _usable_mid(self, instrument_id: str) -> float | None:
        quote = self._quotes.get(instrument_id)
        mid = quote.mid if quote is not None else math.nan
        return mid if math.isfinite(mid) and mid > 0 else None

    # ------------------------------------------------------------------ store

    def _commit(self) -> None:
        """End of a decision: store it (one transaction), then send its events."""
        batch = self._batch
        if batch:
            try:
                self._store.write(batch)
            except Exception as exc:
                self._outbox.clear()
                raise VenueWriteFailed(f"venue store write failed, decision not sent: {exc}") from exc
            finally:
                batch.clear()
        if self._outbox:
            outbox, self._outbox = self._outbox, []
            send = self._link.send
            for delay, event in outbox:
                send(delay, event)

    def _restore(self, state: StoredState) -> None:
        """Load what the store holds: accounts (seed plus fills), every order (working ones back in the book), ids."""
        for name, (cash, positions) in state.accounts.items():
            self._accounts[name] = VenueAccount(name, cash, dict(positions))
            for instrument_id in positions:
                instrument = self._instrument_of(instrument_id)
                if isinstance(instrument, Option):
                    self._watch_expiry(instrument)
        for fill in state.fills:
            acct = self._accounts.get(fill.account)
            instrument = self._instrument_of(fill.instrument_id)
            if acct is None or instrument is None:
                raise VenueStoreError(f"fill {fill.fill_id}: unknown account or instrument")
            self._apply_fill(acct, fill, instrument.multiplier)
            self._fills.append(fill)
            self._fills_of.setdefault(fill.client_order_id, []).append(fill)
        for record in state.orders:
            if not record.status.is_open:
                self._orders[record.client_order_id] = record
            elif record.account not in self._accounts:
                raise VenueStoreError(f"working order {record.client_order_id}: unknown account {record.account!r}")
            else:
                self._add(record)
        self._venue_seq = state.venue_seq
        self._fill_seq = state.fill_seq
        self._batch.clear()  # nothing new was decided
        if state.accounts or state.orders:
            log.info(
                "venue restored: %d accounts, %d orders (%d working), %d fills",
                len(self._accounts),
                len(self._orders),
                len(self._working),
                len(self._fills),
            )

    def _instrument_of(self, instrument_id: str) -> Instrument | None:
        """Instruments named by the store (an old expiry, say) resolve even if the registry has not seen them."""
        instrument = self._registry.get(instrument_id)
        if instrument is None:
            try:
                instrument = parse_symbol(instrument_id)
            except InvalidInput:
                return None
        return instrument


def _refused_record(order: Unchecked, now: int, reason: str) -> OrderRecord:
    """What the venue keeps of a refused request: its fields where usable, the reason naming the bad one."""
    price = order.limit_price
    return OrderRecord(
        client_order_id=order.client_order_id,
        venue_order_id="",
        venue_seq=0,
        account=order.account if isinstance(order.account, str) else repr(order.account),
        instrument_id=order.instrument_id if isinstance(order.instrument_id, str) else repr(order.instrument_id),
        instrument=None,
        side=order.side if isinstance(order.side, Side) else None,
        quantity=order.quantity if type(order.quantity) is int else 0,
        order_type=order.order_type if isinstance(order.order_type, OrderType) else None,
        limit_price=price if isinstance(price, Decimal) and price.is_finite() else None,
        time_in_force=order.time_in_force if isinstance(order.time_in_force, TimeInForce) else None,
        ts_accepted=now,
        status=OrderStatus.REJECTED,
        reason=reason,
    )


def _check_account(account: Unchecked) -> str:
    if not isinstance(account, str) or not account:
        raise InvalidInput("account", account, "must be a non-empty string")
    return account


def _check_cash(cash: Unchecked) -> Decimal:
    if type(cash) is int:
        return Decimal(cash)
    if not isinstance(cash, Decimal) or not cash.is_finite():
        raise InvalidInput("cash", cash, "must be a finite Decimal (money is exact: no floats)")
    return cash
