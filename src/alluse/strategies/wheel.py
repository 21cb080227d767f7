"""The ALL-USE wheel: cash-secured puts, assignment, covered calls, called away, puts again.

Per account sleeve and underlying the wheel is in one of three phases, read from the ledger (so a
restart continues it): PUTS (no shares), SHARES (at least 100 shares not yet covered) or CALLS
(short calls on the shares). Every evaluation, in session only:
- PUTS, nothing held or working: sell the put nearest the sleeve's put delta band centre, if its delta
  lies in the band, sized from the account's capital (`allocation` of its equity per underlying, all
  deployed capital at most `max_deployed` of equity); SHARES: sell covered calls on the uncovered
  round lots at the call band (strike at or above the shares' cost, `calls_above_cost`). An entry is a
  limit at the mid; one that does not fill within `reprice_every_s` is cancelled and re-sent one tick
  closer to the bid (never below it);
- a short option whose ask has fallen to (1 - take_profit) of the premium: buy it back;
- near expiry (`roll_dte`): an option safely out of the money is left to expire worthless; a threatened
  one is bought back (rolled) if `roll_threatened`, else kept to be assigned (puts) or called away
  (calls), which is how the wheel turns. New entries wait `entry_after_open_min` after the open and stop
  `entry_before_close_min` before the close. Phase changes are reported to `on_phase` (the journal).

It talks to the system only through the public interfaces any strategy would use: the
order manager (submit/cancel), the ledger (positions), the chain service and the quote
cache, and order events on the bus.
"""

from __future__ import annotations

import logging
import math
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from alluse.common.bus import TOPIC_ORDER_EVENT, MessageBus
from alluse.common.clock import NS, Clock, TimerHandle
from alluse.common.market_hours import AlwaysOpen, Sessions
from alluse.marketdata import OptionChainService
from alluse.model import (
    CENT,
    Equity,
    Instrument,
    Option,
    Order,
    OrderType,
    Position,
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
MINUTE_NS = 60 * NS


class OrderEntry(Protocol):
    """What the strategy asks of the order manager: ids, orders in, cancels, and the orders still working."""

    def next_client_order_id(self) -> str: ...

    def open_orders(self, account: str | None = None) -> list[Order]: ...

    def submit(self, order: Order) -> Order: ...

    def cancel(self, client_order_id: str) -> bool: ...


class Phase(StrEnum):
    PUTS = "puts"
    SHARES = "shares"
    CALLS = "calls"


@dataclass(slots=True)
class WheelStats:
    evaluations: int = 0
    entries_sent: int = 0
    calls_sent: int = 0
    reprices: int = 0
    take_profits: int = 0
    rolls: int = 0
    let_expire: int = 0
    kept_for_assignment: int = 0
    skipped_out_of_band: int = 0
    skipped_no_capital: int = 0
    errors: int = 0


@dataclass(slots=True)
class _Working:
    client_order_id: str
    option_id: str
    purpose: str  # "open", "call", "take-profit", "roll"
    sent_ns: int


@dataclass(slots=True, frozen=True)
class Holding:
    """What one account holds of one underlying, as the wheel reads it."""

    shares: int
    share_cost: Decimal
    short_puts: list[tuple[Option, int, Decimal]]  # (option, contracts, premium per share)
    short_calls: list[tuple[Option, int, Decimal]]

    @property
    def phase(self) -> Phase:
        if self.short_calls:
            return Phase.CALLS
        if self.shares >= 100:
            return Phase.SHARES
        return Phase.PUTS


def holding_of(
    positions: Iterable[Position], underlying: str, instrument_of: Callable[[str], Instrument | None]
) -> Holding:
    """What `positions` (one account's) hold of `underlying`: the wheel's phase is read from this, never kept
    apart from the book (a restart, or `alluse positions` on a data dir, reads the same)."""
    shares, cost = 0, Decimal(0)
    puts: list[tuple[Option, int, Decimal]] = []
    calls: list[tuple[Option, int, Decimal]] = []
    for pos in positions:
        instrument = instrument_of(pos.instrument_id)
        if isinstance(instrument, Equity) and instrument.id == underlying:
            shares, cost = pos.quantity, pos.avg_cost
        elif isinstance(instrument, Option) and instrument.underlying == underlying and pos.quantity < 0:
            (puts if instrument.right is Right.PUT else calls).append((instrument, -pos.quantity, pos.avg_cost))
    return Holding(shares, cost, puts, calls)


Key = tuple[str, str]  # (account, underlying)
PhaseListener = Callable[[str, str, Phase, str], None]  # (account, underlying, phase, why)


def evaluation_slice(account: str, slices: int) -> int:
    """The group an account is evaluated in: stable across processes and restarts (not Python's salted hash), so
    an account keeps its turn when it moves to another agent."""
    return zlib.crc32(account.encode()) % slices


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
        hours: Sessions | None = None,
        on_phase: PhaseListener | None = None,
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
        self.hours: Sessions = hours if hours is not None else AlwaysOpen()
        self.on_phase = on_phase
        self.stats = WheelStats()
        self.phases: dict[Key, Phase] = {}
        self._working: dict[Key, _Working] = {}
        self._also_working: dict[Key, set[str]] = {}  # adopted beside the one tracked (see _adopt_working)
        self._reprices: dict[str, int] = {}  # option id -> own reprice cancels of its unfilled entries
        self._left_to_expire: set[str] = set()
        self._kept: set[str] = set()
        self._timer: TimerHandle | None = None
        self._running = False
        n = config.evaluation_slices
        self.slices = [[s for s in config.sleeves if evaluation_slice(s.account, n) == k] for k in range(n)]
        self._next_slice = 0
        bus.subscribe(TOPIC_ORDER_EVENT, self._on_order_event)

    # ------------------------------------------------------------------ lifecycle

    def start(self, first_delay_ns: int = NS) -> None:
        self._adopt_working()
        self._running = True
        self._timer = self.clock.call_later(first_delay_ns, self._tick)

    def _adopt_working(self) -> None:
        """The orders recovery found working (sent before a restart, or by the agent that ran these accounts
        before) count as this strategy's own: without them it would send a second buy-back beside the first, and
        both would fill. One per underlying is tracked; any other is waited for just the same."""
        keys = {(s.account, u) for s in self.config.sleeves for u in s.underlyings}
        now = self.clock.now_ns()
        for order in self.oms.open_orders():
            instrument = self.registry.get(order.instrument_id)
            if not isinstance(instrument, Option) or (key := (order.account, instrument.underlying)) not in keys:
                continue
            if key in self._working:
                self._also_working.setdefault(key, set()).add(order.client_order_id)
                log.warning("wheel %s %s: %s is working beside %s; nothing more is sent until both end", *key,
                            order.client_order_id, self._working[key].client_order_id)  # fmt: skip
                continue
            self._working[key] = _Working(order.client_order_id, instrument.id, order.tag or "adopted", now)
            log.info("wheel %s %s: %s %s %d %s found working: adopted", *key, order.client_order_id,
                     order.side.value, order.quantity, instrument.id)  # fmt: skip

    def stop(self) -> None:
        self._running = False
        if self._timer is not None:
            self._timer.cancel()

    def _tick(self) -> None:
        if not self._running:
            return
        now = self.clock.now_ns()
        try:
            if self.hours.is_open(now):
                self.evaluate(self.slices[self._next_slice])
                self._next_slice = (self._next_slice + 1) % len(self.slices)
        finally:
            due = now + int(self.config.evaluate_every_s * NS / len(self.slices))
            self._timer = self.clock.call_at(self.hours.next_open(due) or due, self._tick)  # closed then: its open

    def _may_enter(self, now: int) -> bool:
        """New positions only inside the session's entry window (not right after the open or before the close)."""
        cfg = self.config
        if not self.hours.is_open(now - int(cfg.entry_after_open_min * MINUTE_NS)):
            return False
        close = self.hours.next_close(now)
        return close is not None and close - now > cfg.entry_before_close_min * MINUTE_NS

    # ------------------------------------------------------------------ decisions

    def evaluate(self, sleeves: list[SleeveConfig] | None = None) -> None:
        """Every sleeve, or the slice of them this tick's turn it is (`evaluation_slices`)."""
        self.stats.evaluations += 1
        for sleeve in self.config.sleeves if sleeves is None else sleeves:
            state = self.state_of(sleeve.account)
            if state is TradingState.HALTED:
                continue  # nothing may be sent; the risk engine has cancelled what was working
            for underlying in sleeve.underlyings:
                try:
                    self._evaluate_one(sleeve, underlying)
                except Exception:  # one underlying's trouble must not stop the others
                    self.stats.errors += 1
                    log.exception("wheel %s %s: evaluation failed", sleeve.account, underlying)

    def holding(self, account: str, underlying: str) -> Holding:
        return holding_of(self.ledger.open_positions(account), underlying, self.registry.get)

    def _evaluate_one(self, sleeve: SleeveConfig, underlying: str) -> None:
        key = (sleeve.account, underlying)
        now = self.clock.now_ns()
        held = self.holding(*key)
        self._note_phase(key, held)
        if self._also_working.get(key):
            return  # an order adopted at start still works beside the tracked one: nothing more until it ends
        working = self._working.get(key)
        if working is not None:
            if now - working.sent_ns >= self.config.reprice_every_s * NS and self.oms.cancel(working.client_order_id):
                # an unfilled entry comes back a tick nearer the bid; a buy-back at the then-current ask
                if working.purpose in ("open", "call"):
                    self._reprices[working.option_id] = self._reprices.get(working.option_id, 0) + 1
                self.stats.reprices += 1
            return
        for option, contracts, premium in held.short_puts + held.short_calls:
            if key in self._working:
                return  # one order at a time per underlying
            self._manage_short(key, option, contracts, premium, now)
        if key in self._working or self.state_of(sleeve.account) is not TradingState.ACTIVE or not self._may_enter(now):
            return  # REDUCING: buy-backs only
        uncovered = held.shares // 100 - sum(c for _, c, _ in held.short_calls)
        if uncovered > 0:
            self._write_calls(sleeve, underlying, uncovered, held.share_cost)
        elif held.shares < 100 and not held.short_puts and not held.short_calls:
            self._open_puts(sleeve, underlying)

    def _note_phase(self, key: Key, held: Holding) -> None:
        phase = held.phase
        if self.phases.get(key) is not phase:
            why = f"{held.shares} shares, {sum(c for _, c, _ in held.short_puts)} short puts, " \
                  f"{sum(c for _, c, _ in held.short_calls)} short calls"  # fmt: skip
            self.phases[key] = phase
            log.info("wheel %s %s: %s (%s)", *key, phase.value, why)
            if self.on_phase is not None:
                self.on_phase(key[0], key[1], phase, why)

    def _manage_short(self, key: Key, option: Option, contracts: int, premium: Decimal, now: int) -> None:
        quote = self.quote_of(option.id)
        if quote is None:
            return
        dte = (expiry_ns(option) - now) / DAY_NS
        cfg = self.config
        if quote.ask <= float(premium) * (1.0 - cfg.take_profit):
            self._send(key, option, Side.BUY, contracts, round_to_tick(option, quote.ask, Side.SELL), "take-profit")
            self.stats.take_profits += 1
        elif dte < cfg.roll_dte:
            # judged afresh every evaluation: an option left to expire is rolled if the market turns on it
            spot = self.spot_of(option.underlying)
            if spot is None:
                return
            strike = float(option.strike)
            if option.right is Right.PUT:
                safe = spot > strike * (1 + cfg.expire_otm_buffer)
            else:
                safe = spot < strike * (1 - cfg.expire_otm_buffer)
            if safe:
                if option.id not in self._left_to_expire:
                    self._left_to_expire.add(option.id)
                    self.stats.let_expire += 1
                    log.info("%s %s: letting %s expire (spot %.2f)", *key, option.id, spot)
            elif cfg.roll_threatened:
                self._send(key, option, Side.BUY, contracts, round_to_tick(option, quote.ask, Side.SELL), "roll")
                self.stats.rolls += 1
            elif option.id not in self._kept:
                self._kept.add(option.id)
                self.stats.kept_for_assignment += 1
                what = "assignment" if option.right is Right.PUT else "the shares to be called away"
                log.info("%s %s: keeping %s for %s (spot %.2f)", *key, option.id, what, spot)

    def _entry_price(self, option: Option, mid: float, bid: float) -> Decimal:
        price = round_to_tick(option, mid, Side.SELL)
        for _ in range(self._reprices.get(option.id, 0)):  # walk toward the bid, one tick per reprice
            price -= option.tick_size(price - CENT)
        return max(price, round_to_tick(option, bid, Side.SELL))

    def _open_puts(self, sleeve: SleeveConfig, underlying: str) -> None:
        cfg = self.config
        target = (sleeve.delta_min + sleeve.delta_max) / 2
        pick = self.chains.nearest_delta(underlying, Right.PUT, target, cfg.min_dte, cfg.max_dte)
        if pick is None:
            return
        if not sleeve.delta_min <= abs(pick.delta) <= sleeve.delta_max:
            self.stats.skipped_out_of_band += 1
            return
        option = pick.option
        contracts = self.put_contracts(sleeve, option)
        if contracts <= 0:
            self.stats.skipped_no_capital += 1
            return
        price = self._entry_price(option, pick.mid, pick.bid)
        self._send((sleeve.account, underlying), option, Side.SELL, contracts, price, "open")
        self.stats.entries_sent += 1

    def put_contracts(self, sleeve: SleeveConfig, option: Option) -> int:
        """Contracts of a cash-secured put: the underlying's allocation of equity, within what may still be
        deployed (`max_deployed` of equity, less the collateral and stock already held), at most `max_contracts`."""
        account = sleeve.account
        equity = float(self.ledger.equity(account, self.spot_of))
        collateral = float(option.strike) * option.multiplier
        share = sleeve.allocation or self.config.max_deployed / len(sleeve.underlyings)
        room = min(share * equity, self.config.max_deployed * equity - self.deployed(account))
        return max(0, min(sleeve.max_contracts, math.floor(room / collateral)))

    def deployed(self, account: str) -> float:
        """Capital at work: short puts' collateral (strike x multiplier) and long stock at its mark (or cost)."""
        total = 0.0
        for pos in self.ledger.open_positions(account):
            instrument = self.registry.get(pos.instrument_id)
            if isinstance(instrument, Option):
                if instrument.right is Right.PUT and pos.quantity < 0:
                    total += float(instrument.strike) * instrument.multiplier * -pos.quantity
            elif pos.quantity > 0:
                mark = self.spot_of(pos.instrument_id)
                total += (mark if mark is not None else float(pos.avg_cost)) * pos.quantity
        return total

    def _write_calls(self, sleeve: SleeveConfig, underlying: str, contracts: int, cost: Decimal) -> None:
        cfg = self.config
        target = (sleeve.call_delta_min + sleeve.call_delta_max) / 2
        floor = float(cost) if cfg.calls_above_cost else None
        pick = self.chains.nearest_delta(underlying, Right.CALL, target, cfg.min_dte, cfg.max_dte, min_strike=floor)
        if pick is None:
            return
        if not sleeve.call_delta_min <= abs(pick.delta) <= sleeve.call_delta_max:
            self.stats.skipped_out_of_band += 1
            return
        price = self._entry_price(pick.option, pick.mid, pick.bid)
        self._send((sleeve.account, underlying), pick.option, Side.SELL, contracts, price, "call")
        self.stats.calls_sent += 1

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
        if event.kind is EventKind.FILL and order.tag in ("open", "call"):
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
        also = self._also_working.get(key)
        if also is not None:
            also.discard(order.client_order_id)
            if not also:
                del self._also_working[key]
