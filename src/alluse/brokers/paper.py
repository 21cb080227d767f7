"""The paper venue: the default broker, filling orders against the live quotes.

How it models a venue:
- The venue's state changes when it decides (at submit, on a quote, on a cancel, at a
  timer); what it says reaches the order manager after a latency (ack latency for
  accept/reject/cancel answers, fill latency for fills). Each order's events form one
  ordered stream: an event is delivered at max(decision time + its latency, delivery of
  the order's previous event). So ACCEPTED always precedes the order's fills, and a
  cancel that races a fill already decided is confirmed only after that fill.
- Events are stamped (`ts_event`) with the venue's decision time, as a broker stamps
  executions; the latency shows in when they arrive. Events a handler triggers are
  queued until it returns, so handlers are never re-entered.
- Orders take the displayed touch (buy at the ask, sell at the bid) up to the displayed
  size. Displayed size is consumed per quote: several orders matched against one quote
  share its size; the next quote brings fresh size.
- Fills are priced at the touch, also for a resting limit that a later quote crosses (the
  client gets the improvement). Fills of orders that rested are flagged maker ("M").
- DAY orders expire at the session close (`session_close_utc_hour` UTC); options expire at
  `model.expiry_ns` (the one expiry time the chain service and strategies use too): working
  orders in them expire and positions settle (worthless, assigned or exercised against the
  underlying's mid).
- Selling puts that open or grow a short position needs free cash of strike * multiplier
  per contract; positions and working sell-put orders both hold collateral.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from alluse.brokers.base import (
    DUPLICATE_ORDER_REASON,
    AccountSnapshot,
    OrderEventHandler,
    SettlementHandler,
    VenueOrder,
)
from alluse.brokers.commissions import (
    IBKR_FIXED,
    CommissionSchedule,
    commission_increment,
)
from alluse.clock import NS, Clock
from alluse.execution.events import EventKind, OrderEvent, SettlementEvent
from alluse.instruments import InstrumentRegistry
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
    check_order_fields,
    expiry_ns,
    put_collateral,
    to_money,
)

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
EXPIRED_WORTHLESS = "expired worthless"
ASSIGNED = "assigned"
EXERCISED = "exercised"

_DAY_NS = 86_400 * NS
EXPIRY_QUOTE_RETRY_NS = 60 * NS  # no underlying quote at expiry: look again this much later...
EXPIRY_QUOTE_RETRIES = 60  # ...this many times, then settle as worthless with a warning
_HOUR_NS = 3_600 * NS
_ZERO = Decimal(0)


class QuoteSource(Protocol):
    def get(self, instrument_id: str) -> Quote | None: ...


@dataclass(slots=True)
class PaperVenueConfig:
    ack_latency_ns: int = 0
    fill_latency_ns: int = 0
    session_close_utc_hour: int = 20
    commissions: CommissionSchedule = IBKR_FIXED
    # Venue order and fill ids start with this. It must differ between venue sessions that
    # report into one journal (the order manager drops a fill id it has seen): the system
    # uses the journal's session number.
    id_prefix: str = "P1"

    def __post_init__(self) -> None:
        for name in ("ack_latency_ns", "fill_latency_ns"):
            value = getattr(self, name)
            if type(value) is not int or value < 0:
                raise InvalidInput(name, value, "must be a non-negative integer (ns)")
        hour = self.session_close_utc_hour
        if type(hour) is not int or not 0 <= hour <= 23:
            raise InvalidInput("session_close_utc_hour", hour, "must be an integer hour 0-23")
        if not isinstance(self.id_prefix, str) or not self.id_prefix:
            raise InvalidInput("id_prefix", self.id_prefix, "must be a non-empty string")
        if not isinstance(self.commissions, CommissionSchedule):
            raise InvalidInput("commissions", self.commissions, "must be a CommissionSchedule")


@dataclass(slots=True)
class _Entry:
    """The venue's own copy of a working order (never the order manager's object)."""

    client_order_id: str
    venue_order_id: str
    account: str
    instrument: Instrument
    side: Side
    quantity: int
    order_type: OrderType
    limit_price: Decimal | None
    time_in_force: TimeInForce
    ts_accepted: int
    status: OrderStatus = OrderStatus.ACCEPTED
    filled_qty: int = 0
    filled_value: Decimal = _ZERO  # money traded so far, for the per-order commission
    rested: bool = False  # was not fully filled on arrival: later fills are maker fills

    def snapshot(self) -> VenueOrder:
        return VenueOrder(
            self.client_order_id,
            self.venue_order_id,
            self.account,
            self.instrument.id,
            self.side,
            self.quantity,
            self.order_type,
            self.limit_price,
            self.time_in_force,
            self.status,
            self.filled_qty,
            self.ts_accepted,
        )


@dataclass(slots=True)
class _Account:
    cash: Decimal
    positions: dict[str, int]
    working: dict[str, _Entry] = field(default_factory=dict)


@dataclass(slots=True)
class _Touch:
    """One quote's displayed liquidity, and how much of it orders have already taken."""

    key: tuple[object, ...]
    bid: Decimal | None  # None: that side shows nothing usable
    ask: Decimal | None
    bid_left: int
    ask_left: int


def _quote_key(q: Quote) -> tuple[object, ...]:
    return (q.ts_event, q.ts_recv, q.bid, q.ask, q.bid_size, q.ask_size)


def _side_price(price: float, size: int) -> Decimal | None:
    if type(size) is not int or size <= 0 or not (math.isfinite(price) and price > 0):
        return None
    return to_money(price)


class PaperVenue:
    name = "paper"

    def __init__(
        self,
        clock: Clock,
        registry: InstrumentRegistry,
        quote_source: QuoteSource,
        config: PaperVenueConfig | None = None,
    ) -> None:
        self._clock = clock
        self._registry = registry
        self._quotes = quote_source
        self._config = config if config is not None else PaperVenueConfig()
        self.connected = True
        self._on_order_event: OrderEventHandler | None = None
        self._on_settlement: SettlementHandler | None = None
        self._accounts: dict[str, _Account] = {}
        self._working: dict[str, _Entry] = {}
        self._done: dict[str, OrderStatus] = {}  # every client order id ever seen and finished
        self._book: dict[str, dict[str, _Entry]] = {}  # instrument id -> working orders, time priority
        self._touches: dict[str, _Touch] = {}
        self._expiry_watch: set[str] = set()
        self._session_close_pending = False
        # stream key (client order id, or settle:<account>) -> events in flight as (seq, due, event)
        self._in_flight: dict[str, deque[tuple[int, int, OrderEvent | SettlementEvent]]] = {}
        self._ready: deque[OrderEvent | SettlementEvent] = deque()
        self._event_seq = 0
        self._delivering = False
        self._venue_seq = 0
        self._fill_seq = 0
        self.orders_received = 0
        self.fills_emitted = 0
        self.rejects = 0
        self.cancels = 0

    # ------------------------------------------------------------------ Broker interface

    def set_event_handler(self, on_order_event: OrderEventHandler, on_settlement: SettlementHandler) -> None:
        self._on_order_event = on_order_event
        self._on_settlement = on_settlement

    def submit(self, order: Order) -> None:
        self._require_handler()
        self.orders_received += 1
        now = self._clock.now_ns()
        cid = order.client_order_id
        checked = self._validate(order, now)
        if isinstance(checked, str):
            reason = checked
            self.rejects += 1
            if reason != DUPLICATE_ORDER_REASON and isinstance(cid, str) and cid:
                self._done[cid] = OrderStatus.REJECTED
            log.info("rejected %r: %s", cid, reason)
            self._emit(self._config.ack_latency_ns, OrderEvent(EventKind.REJECTED, cid, now, reason=reason))
            return
        instrument = checked
        self._venue_seq += 1
        entry = _Entry(
            cid,
            f"{self._config.id_prefix}-{self._venue_seq:06d}",
            order.account,
            instrument,
            order.side,
            order.quantity,
            order.order_type,
            order.limit_price if order.order_type is OrderType.LIMIT else None,
            order.time_in_force,
            now,
        )
        self._add(entry)
        self._emit(self._config.ack_latency_ns, OrderEvent(EventKind.ACCEPTED, cid, now, entry.venue_order_id))
        quote = self._quotes.get(instrument.id)
        if quote is not None and entry.status.is_open:
            touch = self._touch(quote)
            if touch is not None:
                self._match(entry, touch)
        if not entry.status.is_open:
            return
        if entry.time_in_force is TimeInForce.IOC:
            self._cancel_entry(entry, IOC_REMAINDER)
        else:
            entry.rested = True

    def cancel(self, client_order_id: str) -> None:
        self._require_handler()
        now = self._clock.now_ns()
        entry = self._working.get(client_order_id)
        if entry is None:
            status = self._done.get(client_order_id)
            if status is None:
                reason = UNKNOWN_ORDER
            elif status is OrderStatus.FILLED:
                reason = ALREADY_FILLED
            else:
                reason = f"already {status.value.lower()}"
            self._emit(
                self._config.ack_latency_ns,
                OrderEvent(EventKind.CANCEL_REJECTED, client_order_id, now, reason=reason),
            )
            return
        self._cancel_entry(entry, CANCEL_REQUESTED)

    def open_orders(self) -> list[VenueOrder]:
        return [entry.snapshot() for entry in self._working.values()]

    def account_snapshot(self, account: str) -> AccountSnapshot:
        acct = self._accounts.get(account)
        if acct is None:
            raise InvalidInput("account", account, REJECT_UNKNOWN_ACCOUNT)
        return AccountSnapshot(account, acct.cash, dict(acct.positions), self._reserved(acct))

    # ------------------------------------------------------------------ accounts

    def open_account(self, account: str, cash: Decimal) -> None:
        name = _check_account(account)
        if name in self._accounts:
            raise InvalidInput("account", account, "already open")
        cash = _check_cash(cash)
        if cash < 0:
            raise InvalidInput("cash", cash, "must not be negative")
        self._accounts[name] = _Account(cash, {})

    def load_account(self, account: str, cash: Decimal, positions: dict[str, int]) -> None:
        """Seed (or replace) an account from the recovered journal; validates everything first."""
        name = _check_account(account)
        cash = _check_cash(cash)
        if not isinstance(positions, dict):
            raise InvalidInput("positions", positions, "must be a dict of instrument id -> quantity")
        seeded: dict[str, int] = {}
        for instrument_id, qty in positions.items():
            if instrument_id not in self._registry:
                raise InvalidInput("positions", instrument_id, REJECT_UNKNOWN_INSTRUMENT)
            if type(qty) is not int:
                raise InvalidInput(f"positions[{instrument_id}]", qty, "must be an integer")
            if qty:
                seeded[instrument_id] = qty
        known = self._accounts.get(name)
        if known is not None and known.working:
            raise InvalidInput("account", account, "has working orders; load accounts before trading")
        self._accounts[name] = _Account(cash, seeded)
        for instrument_id in seeded:
            instrument = self._registry.get(instrument_id)
            if isinstance(instrument, Option):
                self._watch_expiry(instrument)

    # ------------------------------------------------------------------ market data

    def on_quote(self, quote: Quote) -> None:
        book = self._book.get(quote.instrument_id)
        if not book:
            return
        touch = self._touch(quote)
        if touch is None:
            return
        for entry in tuple(book.values()):
            if entry.status.is_open:
                self._match(entry, touch)

    # ------------------------------------------------------------------ matching

    def _validate(self, order: Order, now: int) -> Instrument | str:
        """The instrument, or the reason the venue refuses the order."""
        cid = order.client_order_id
        if not isinstance(cid, str) or not cid:
            return f"client_order_id={cid!r}: must be a non-empty string"
        if cid in self._working or cid in self._done:
            return DUPLICATE_ORDER_REASON
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
                extra = self._put_collateral(acct, instrument, qty) - self._put_collateral(acct, instrument, 0)
                if extra > 0 and acct.cash - self._reserved(acct) < extra:
                    return REJECT_INSUFFICIENT_CASH
        return instrument

    def _touch(self, quote: Quote) -> _Touch | None:
        """The quote's liquidity left to take, or None for a crossed quote (bad data never fills)."""
        key = _quote_key(quote)
        touch = self._touches.get(quote.instrument_id)
        if touch is not None and touch.key == key:
            return touch
        bid = _side_price(quote.bid, quote.bid_size)
        ask = _side_price(quote.ask, quote.ask_size)
        if bid is not None and ask is not None and bid > ask:
            log.warning("ignoring crossed quote %r", quote)
            return None
        bid_size = quote.bid_size if bid is not None else 0
        touch = _Touch(key, bid, ask, bid_size, quote.ask_size if ask is not None else 0)
        self._touches[quote.instrument_id] = touch
        return touch

    def _match(self, entry: _Entry, touch: _Touch) -> None:
        if entry.side is Side.BUY:
            price, available = touch.ask, touch.ask_left
            if price is None or available <= 0 or (entry.limit_price is not None and price > entry.limit_price):
                return
            qty = min(available, entry.quantity - entry.filled_qty)
            touch.ask_left -= qty
        else:
            price, available = touch.bid, touch.bid_left
            if price is None or available <= 0 or (entry.limit_price is not None and price < entry.limit_price):
                return
            qty = min(available, entry.quantity - entry.filled_qty)
            touch.bid_left -= qty
        self._execute(entry, qty, price)

    def _execute(self, entry: _Entry, qty: int, price: Decimal) -> None:
        now = self._clock.now_ns()
        instrument = entry.instrument
        fee = commission_increment(
            instrument, entry.filled_qty, entry.filled_value, qty, price, self._config.commissions
        )
        entry.filled_qty += qty
        entry.filled_value += price * qty * instrument.multiplier
        liquidity = "M" if entry.rested and entry.order_type is OrderType.LIMIT else "T"
        fill = Fill(
            entry.client_order_id,
            entry.account,
            instrument.id,
            entry.side,
            qty,
            price,
            fee,
            now,
            self._next_fill_id(),
            liquidity,
        )
        self._apply_fill(self._accounts[entry.account], fill, instrument.multiplier)
        self.fills_emitted += 1
        if entry.filled_qty == entry.quantity:
            self._retire(entry, OrderStatus.FILLED)
        else:
            entry.status = OrderStatus.PARTIALLY_FILLED
        self._emit(
            self._config.fill_latency_ns,
            OrderEvent(EventKind.FILL, entry.client_order_id, now, entry.venue_order_id, fill=fill),
        )

    def _apply_fill(self, acct: _Account, fill: Fill, multiplier: int) -> None:
        sign = fill.side.sign
        acct.cash -= sign * fill.quantity * fill.price * multiplier + fill.commission
        position = acct.positions.get(fill.instrument_id, 0) + sign * fill.quantity
        if position:
            acct.positions[fill.instrument_id] = position
            instrument = self._registry.get(fill.instrument_id)
            if isinstance(instrument, Option):
                self._watch_expiry(instrument)
        else:
            acct.positions.pop(fill.instrument_id, None)

    def _next_fill_id(self) -> str:
        self._fill_seq += 1
        return f"{self._config.id_prefix}-F{self._fill_seq:08d}"

    # ------------------------------------------------------------------ order lifecycle

    def _add(self, entry: _Entry) -> None:
        self._working[entry.client_order_id] = entry
        self._book.setdefault(entry.instrument.id, {})[entry.client_order_id] = entry
        self._accounts[entry.account].working[entry.client_order_id] = entry
        if isinstance(entry.instrument, Option):
            self._watch_expiry(entry.instrument)
        if entry.time_in_force is TimeInForce.DAY and not self._session_close_pending:
            self._session_close_pending = True
            self._clock.call_at(self._next_session_close(self._clock.now_ns()), self._on_session_close)

    def _retire(self, entry: _Entry, status: OrderStatus) -> None:
        entry.status = status
        cid = entry.client_order_id
        del self._working[cid]
        book = self._book[entry.instrument.id]
        del book[cid]
        if not book:
            del self._book[entry.instrument.id]
        del self._accounts[entry.account].working[cid]
        self._done[cid] = status

    def _cancel_entry(self, entry: _Entry, reason: str) -> None:
        self._retire(entry, OrderStatus.CANCELED)
        self.cancels += 1
        now = self._clock.now_ns()
        self._emit(
            self._config.ack_latency_ns,
            OrderEvent(EventKind.CANCELED, entry.client_order_id, now, entry.venue_order_id, reason=reason),
        )

    def _expire(self, entry: _Entry, reason: str) -> None:
        self._retire(entry, OrderStatus.EXPIRED)
        now = self._clock.now_ns()
        self._emit(0, OrderEvent(EventKind.EXPIRED, entry.client_order_id, now, entry.venue_order_id, reason=reason))

    def _next_session_close(self, now: int) -> int:
        close = now - now % _DAY_NS + self._config.session_close_utc_hour * _HOUR_NS
        return close if close > now else close + _DAY_NS

    def _on_session_close(self) -> None:
        self._session_close_pending = False
        for entry in [e for e in self._working.values() if e.time_in_force is TimeInForce.DAY]:
            self._expire(entry, SESSION_CLOSE)

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
            self._clock.call_later(EXPIRY_QUOTE_RETRY_NS, self._on_option_expiry, option, attempt + 1)
            return
        self._expiry_watch.discard(option.id)
        for name, acct in tuple(self._accounts.items()):
            position = acct.positions.get(option.id)
            if position:
                self._settle(name, acct, option, position)

    def _usable_mid(self, instrument_id: str) -> float | None:
        quote = self._quotes.get(instrument_id)
        mid = quote.mid if quote is not None else math.nan
        return mid if math.isfinite(mid) and mid > 0 else None

    def _settle(self, name: str, acct: _Account, option: Option, position: int) -> None:
        """Close an expiring position at 0; if in the money, deliver the stock at the strike.

        Without a usable underlying quote the option cannot be judged in the money: it is
        treated as worthless and a warning says so.
        """
        now = self._clock.now_ns()
        settlement_id = f"settle:{name}:{option.id}"
        contracts = abs(position)
        close = Fill(
            client_order_id=settlement_id,
            account=name,
            instrument_id=option.id,
            side=Side.BUY if position < 0 else Side.SELL,
            quantity=contracts,
            price=_ZERO,
            commission=_ZERO,
            ts_event=now,
            fill_id=self._next_fill_id(),
            liquidity="X",
        )
        self._apply_fill(acct, close, option.multiplier)
        fills = [close]
        mid = self._usable_mid(option.underlying)
        if mid is None:
            log.warning("no usable quote for %s at expiry of %s: settling as worthless", option.underlying, option.id)
            in_the_money = False
        else:
            underlying = Decimal(repr(mid))
            in_the_money = underlying < option.strike if option.right is Right.PUT else underlying > option.strike
        reason = EXPIRED_WORTHLESS
        if in_the_money:
            reason = ASSIGNED if position < 0 else EXERCISED
            # short put / long call take the stock; long put / short call deliver it
            buys_stock = (option.right is Right.PUT) == (position < 0)
            delivery = Fill(
                client_order_id=settlement_id,
                account=name,
                instrument_id=option.underlying,
                side=Side.BUY if buys_stock else Side.SELL,
                quantity=contracts * option.multiplier,
                price=option.strike,
                commission=_ZERO,
                ts_event=now,
                fill_id=self._next_fill_id(),
                liquidity="X",
            )
            self._apply_fill(acct, delivery, 1)  # shares
            fills.append(delivery)
        self._emit(0, SettlementEvent(name, reason, tuple(fills), now))

    def _put_collateral(self, acct: _Account, option: Option, extra_sell: int) -> Decimal:
        selling = extra_sell + sum(
            e.quantity - e.filled_qty
            for e in acct.working.values()
            if e.instrument.id == option.id and e.side is Side.SELL
        )
        return put_collateral(option, acct.positions.get(option.id, 0), selling)

    def _reserved(self, acct: _Account) -> Decimal:
        puts = {
            inst.id: inst
            for inst in (self._registry.get(i) for i in acct.positions)
            if isinstance(inst, Option) and inst.right is Right.PUT
        }
        for e in acct.working.values():
            if isinstance(e.instrument, Option) and e.instrument.right is Right.PUT and e.side is Side.SELL:
                puts[e.instrument.id] = e.instrument
        return sum((self._put_collateral(acct, put, 0) for put in puts.values()), _ZERO)

    # ------------------------------------------------------------------ event delivery

    def _emit(self, delay_ns: int, event: OrderEvent | SettlementEvent) -> None:
        """Deliver `event` now (delay 0) or after `delay_ns`, never overtaking an earlier event of its order.

        Each order (and each account's settlements) is one ordered stream; streams do not
        wait for each other, so every event arrives at its own latency unless its order
        still has an earlier event in flight.
        """
        key = event.client_order_id if isinstance(event, OrderEvent) else f"settle:{event.account}"
        now = self._clock.now_ns()
        stream = self._in_flight.get(key)
        due = now + delay_ns
        if stream:
            due = max(due, stream[-1][1])
        elif due <= now:
            self._deliver(event)
            return
        elif stream is None:
            stream = self._in_flight[key] = deque()
        self._event_seq += 1
        stream.append((self._event_seq, due, event))
        self._clock.call_at(due, self._release, key, self._event_seq)

    def _release(self, key: str, through_seq: int) -> None:
        """Deliver a stream's events up to `through_seq` in order (timers may fire out of order on ties)."""
        stream = self._in_flight.get(key)
        while stream and stream[0][0] <= through_seq:
            self._deliver(stream.popleft()[2])
        if stream is not None and not stream:
            del self._in_flight[key]

    def _deliver(self, event: OrderEvent | SettlementEvent) -> None:
        """Hand an event to the order manager; events raised by its handler wait for it to return."""
        self._ready.append(event)
        if self._delivering:
            return
        self._delivering = True
        try:
            while self._ready:
                ready = self._ready.popleft()
                if isinstance(ready, OrderEvent):
                    self._on_order_event(ready)  # type: ignore[misc]
                else:
                    self._on_settlement(ready)  # type: ignore[misc]
        finally:
            self._delivering = False

    def _require_handler(self) -> None:
        if self._on_order_event is None:
            raise RuntimeError("PaperVenue: set_event_handler() before submitting or canceling")


def _check_account(account: str) -> str:
    if not isinstance(account, str) or not account:
        raise InvalidInput("account", account, "must be a non-empty string")
    return account


def _check_cash(cash: Decimal) -> Decimal:
    if type(cash) is int:
        return Decimal(cash)
    if not isinstance(cash, Decimal) or not cash.is_finite():
        raise InvalidInput("cash", cash, "must be a finite Decimal (money is exact: no floats)")
    return cash
