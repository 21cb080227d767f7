"""The ALL-USE wheel, put side: sell cash-secured weekly puts at a target delta per account.

Per account sleeve and underlying, every evaluation:
- no position and no working order: sell the put nearest the sleeve's delta band centre,
  if its delta lies in the band, with a limit at the mid; an entry that does not fill within
  `reprice_every_s` is cancelled and re-sent one tick closer to the bid (never below it);
- a short put whose ask has fallen to (1 - take_profit) of the premium: buy it back;
- near expiry (`roll_dte`): a put safely out of the money is left to expire worthless,
  anything else is bought back (rolled), and the next evaluation sells next week's put.

It talks to the system only through the public interfaces any strategy would use: the
order manager (submit/cancel), the ledger (positions), the chain service and the quote
cache, and order events on the bus.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from alluse.common.bus import TOPIC_ORDER_EVENT, MessageBus
from alluse.common.clock import NS, Clock, TimerHandle
from alluse.marketdata import OptionChainService
from alluse.model import (
    CENT,
    Option,
    Order,
    OrderType,
    Quote,
    Right,
    Side,
    TimeInForce,
    TradingState,
    expiry_ns,
    round_to_tick,
)
from alluse.model.events import EventKind, OrderEvent
from alluse.model.registry import InstrumentRegistry
from alluse.portfolio import Ledger
from alluse.strategies.config import SleeveConfig, StrategyConfig

log = logging.getLogger("alluse.strategy.wheel")
DAY_NS = 86_400 * NS


class OrderEntry(Protocol):
    """What the strategy asks of the order manager: ids, orders in, cancels."""

    def next_client_order_id(self) -> str: ...

    def submit(self, order: Order) -> Order: ...

    def cancel(self, client_order_id: str) -> bool: ...


@dataclass(slots=True)
class WheelStats:
    evaluations: int = 0
    entries_sent: int = 0
    reprices: int = 0
    take_profits: int = 0
    rolls: int = 0
    let_expire: int = 0
    skipped_out_of_band: int = 0
    errors: int = 0


@dataclass(slots=True)
class _Working:
    client_order_id: str
    option_id: str
    purpose: str  # "open", "take-profit", "roll"
    sent_ns: int


Key = tuple[str, str]  # (account, underlying)


class WheelStrategy:
    def __init__(
        self,
        *,
        config: StrategyConfig,
        clock: Clock,
        bus: MessageBus,
        oms: OrderEntry,
        ledger: Ledger,
        registry: InstrumentRegistry,
        chains: OptionChainService,
        quote_of: Callable[[str], Quote | None],
        spot_of: Callable[[str], float | None],
        state_of: Callable[[str], TradingState] = lambda account: TradingState.ACTIVE,
    ) -> None:
        self.config = config
        self.clock = clock
        self.oms = oms
        self.ledger = ledger
        self.registry = registry
        self.chains = chains
        self.quote_of = quote_of  # instrument_id -> fresh Quote | None
        self.spot_of = spot_of  # underlying -> mid | None
        self.state_of = state_of  # account -> its risk trading state
        self.stats = WheelStats()
        self._working: dict[Key, _Working] = {}
        self._reprices: dict[str, int] = {}  # option id -> own reprice cancels of its unfilled entries
        self._left_to_expire: set[str] = set()
        self._timer: TimerHandle | None = None
        self._running = False
        bus.subscribe(TOPIC_ORDER_EVENT, self._on_order_event)

    # ------------------------------------------------------------------ lifecycle

    def start(self, first_delay_ns: int = NS) -> None:
        self._running = True
        self._timer = self.clock.call_later(first_delay_ns, self._tick)

    def stop(self) -> None:
        self._running = False
        if self._timer is not None:
            self._timer.cancel()

    def _tick(self) -> None:
        if not self._running:
            return
        try:
            self.evaluate()
        finally:
            self._timer = self.clock.call_later(int(self.config.evaluate_every_s * NS), self._tick)

    # ------------------------------------------------------------------ decisions

    def evaluate(self) -> None:
        self.stats.evaluations += 1
        for sleeve in self.config.sleeves:
            state = self.state_of(sleeve.account)
            if state is TradingState.HALTED:
                continue  # nothing may be sent; the risk engine has cancelled what was working
            for underlying in sleeve.underlyings:
                try:
                    self._evaluate_one(sleeve, underlying)
                except Exception:  # one underlying's trouble must not stop the others
                    self.stats.errors += 1
                    log.exception("wheel %s %s: evaluation failed", sleeve.account, underlying)

    def _short_puts(self, account: str, underlying: str) -> list[tuple[Option, int, Decimal]]:
        out = []
        for pos in self.ledger.open_positions(account):
            instrument = self.registry.get(pos.instrument_id)
            if (
                isinstance(instrument, Option)
                and instrument.underlying == underlying
                and instrument.right is Right.PUT
                and pos.quantity < 0
            ):
                out.append((instrument, -pos.quantity, pos.avg_cost))
        return out

    def _evaluate_one(self, sleeve: SleeveConfig, underlying: str) -> None:
        key = (sleeve.account, underlying)
        now = self.clock.now_ns()
        working = self._working.get(key)
        if working is not None:
            if now - working.sent_ns >= self.config.reprice_every_s * NS and self.oms.cancel(working.client_order_id):
                # an unfilled entry comes back a tick nearer the bid; a buy-back at the then-current ask
                if working.purpose == "open":
                    self._reprices[working.option_id] = self._reprices.get(working.option_id, 0) + 1
                self.stats.reprices += 1
            return
        shorts = self._short_puts(*key)
        if shorts:
            for option, contracts, premium in shorts:
                self._manage_short(key, option, contracts, premium, now)
        elif self.state_of(sleeve.account) is TradingState.ACTIVE:  # REDUCING: buy-backs only
            self._open_position(sleeve, underlying)

    def _manage_short(self, key: Key, option: Option, contracts: int, premium: Decimal, now: int) -> None:
        quote = self.quote_of(option.id)
        if quote is None:
            return
        dte = (expiry_ns(option) - now) / DAY_NS
        if quote.ask <= float(premium) * (1.0 - self.config.take_profit):
            self._send(key, option, Side.BUY, contracts, round_to_tick(option, quote.ask, Side.SELL), "take-profit")
            self.stats.take_profits += 1
        elif dte < self.config.roll_dte:
            # judged afresh every evaluation: a put left to expire is rolled if the market turns on it
            spot = self.spot_of(option.underlying)
            if spot is not None and spot > float(option.strike) * (1 + self.config.expire_otm_buffer):
                if option.id not in self._left_to_expire:
                    self._left_to_expire.add(option.id)
                    self.stats.let_expire += 1
                    log.info("%s %s: letting %s expire (spot %.2f)", *key, option.id, spot)
            else:
                self._send(key, option, Side.BUY, contracts, round_to_tick(option, quote.ask, Side.SELL), "roll")
                self.stats.rolls += 1

    def _open_position(self, sleeve: SleeveConfig, underlying: str) -> None:
        target = (sleeve.delta_min + sleeve.delta_max) / 2
        pick = self.chains.nearest_delta(underlying, Right.PUT, target, self.config.min_dte, self.config.max_dte)
        if pick is None:
            return
        if not sleeve.delta_min <= abs(pick.delta) <= sleeve.delta_max:
            self.stats.skipped_out_of_band += 1
            return
        option = pick.option
        price = round_to_tick(option, pick.mid, Side.SELL)
        for _ in range(self._reprices.get(option.id, 0)):  # walk toward the bid, one tick per reprice
            price -= option.tick_size(price - CENT)
        price = max(price, round_to_tick(option, pick.bid, Side.SELL))
        self._send((sleeve.account, underlying), option, Side.SELL, sleeve.contracts, price, "open")
        self.stats.entries_sent += 1

    def _send(self, key: Key, option: Option, side: Side, qty: int, price: Decimal, purpose: str) -> None:
        order = Order(
            client_order_id=self.oms.next_client_order_id(),
            account=key[0],
            instrument_id=option.id,
            side=side,
            quantity=qty,
            order_type=OrderType.LIMIT,
            limit_price=price,
            time_in_force=TimeInForce.DAY,
            tag=purpose,
        )
        # registered before submit: with a zero-latency venue the fill arrives inside submit
        self._working[key] = _Working(order.client_order_id, option.id, purpose, self.clock.now_ns())
        try:
            self.oms.submit(order)
        except Exception:
            del self._working[key]
            raise
        if order.status.is_terminal:  # denied by risk (or filled at once): nothing is working
            self._release(order)

    # ------------------------------------------------------------------ events

    def _on_order_event(self, message: tuple[Order, OrderEvent]) -> None:
        order, event = message
        if event.kind is EventKind.FILL and order.tag == "open":
            self._reprices.pop(order.instrument_id, None)
        if order.status.is_terminal:
            self._release(order)

    def _release(self, order: Order) -> None:
        instrument = self.registry.get(order.instrument_id)
        if not isinstance(instrument, Option):
            return
        key = (order.account, instrument.underlying)
        working = self._working.get(key)
        if working is not None and working.client_order_id == order.client_order_id:
            del self._working[key]
