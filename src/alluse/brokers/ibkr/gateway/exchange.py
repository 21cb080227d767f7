"""What stands behind the gateway: the project's simulated market and paper venue, with IB's ids on top.

Every API order becomes a paper-venue order (its venue id is "G" + permId), so fills, partial fills,
commissions, expiries and assignment are the same engine's as in `make run`; this module keeps IB's view
of each order (`IbOrder`) and tells its listener what changed. Contracts get stable conIds (a CRC of the
instrument id), so a client that stored one finds the same instrument after a gateway restart.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from alluse.brokers.ibkr.contracts import IbContract, ib_contract, instrument_of
from alluse.brokers.ibkr.gateway import rules
from alluse.brokers.ibkr.gateway.incoming import ContractRequest, PlaceOrder
from alluse.brokers.ibkr.gateway.orders import CANCELLED, FILLED, INACTIVE, SUBMITTED, IbOrder
from alluse.brokers.paper import PaperVenue, PaperVenueConfig
from alluse.common.clock import NS, Clock, ns_to_datetime
from alluse.common.market_hours import Sessions
from alluse.marketdata import DataEngine, OptionChainService, QuoteCache, SimulatedMarket
from alluse.marketdata.config import MarketConfig
from alluse.marketdata.pricing import YEAR_NS, greeks
from alluse.model import (
    Fill,
    Instrument,
    InvalidInput,
    Option,
    Order,
    OrderType,
    Quote,
    Right,
    Side,
    TimeInForce,
)
from alluse.model import expiry_ns as option_expiry_ns
from alluse.model.events import EventKind, OrderEvent, SettlementEvent
from alluse.model.registry import InstrumentRegistry

log = logging.getLogger("alluse.gateway.exchange")

FIRST_PERM_ID = 1_000_001
PERM_IDS_PER_INSTANCE = 1_000_000  # orders one start of the gateway may number before the next start's range
ORDER_TYPES = {"LMT": OrderType.LIMIT, "MKT": OrderType.MARKET}
TIFS = {"": TimeInForce.DAY, "DAY": TimeInForce.DAY, "GTC": TimeInForce.GTC, "IOC": TimeInForce.IOC}


class Refused(Exception):
    """A request IB would answer with an error: the code and the text to send."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"{code}: {text}")
        self.code, self.text = code, text


@dataclass(slots=True, frozen=True)
class OrderUpdate:
    order: IbOrder
    kind: EventKind
    fill: Fill | None = None
    reason: str = ""


@dataclass(slots=True, frozen=True)
class Execution:
    order: IbOrder
    fill: Fill
    cum_qty: int
    avg_price: float


@dataclass(slots=True, frozen=True)
class OptionComputation:
    iv: float | None
    delta: float | None
    price: float
    gamma: float | None
    vega: float | None  # per volatility point, as IB quotes it
    theta: float | None  # per calendar day
    underlying: float


class Exchange:
    def __init__(self, clock: Clock, market: MarketConfig, venue: PaperVenueConfig, accounts: Mapping[str, Decimal],
                 seed: int, store_path: str | None = None, *, open_accounts: bool = True,
                 hours: Sessions | None = None, instance: int = 0) -> None:  # fmt: skip
        """`accounts` are the login's managed accounts with their opening cash; `open_accounts=False` leaves them to
        be opened (`venue.load_account`) from what the client's journal says they hold, as the kernel seeds a
        paper venue. `hours`: the market's sessions (default always open). `instance` numbers this start of the
        gateway: its permIds and execIds are numbered within it, so a restarted gateway never repeats one (IB's
        are unique for good, and a client that met an id before takes it for the same order or fill)."""
        self.clock = clock
        self.registry = InstrumentRegistry()
        self.cache = QuoteCache(clock, market.quote_ttl_ns, market.option_cache_capacity, self.registry.is_option)
        self.engine = DataEngine(self.registry, self.cache, clock)
        self.chains = OptionChainService(self.registry, self.cache, clock, rate=market.rate)
        self.market = SimulatedMarket(market, clock, self.registry, seed=seed, hours=hours)
        self.venue = PaperVenue(clock, self.registry, self.cache.fresh_view(), venue, store_path,
                                id_prefix=f"G{instance}", hours=hours)  # fmt: skip
        self.accounts = list(accounts)
        for account, cash in accounts.items():
            if open_accounts and not self.venue.has_account(account):
                self.venue.open_account(account, cash)
        self.engine.subscribe_all(self.venue.on_quote)
        self.venue.set_event_handler(self._on_order_event, self._on_settlement)
        self.orders: dict[int, IbOrder] = {}  # permId -> order
        self._by_venue_id: dict[str, IbOrder] = {}
        self.executions: list[Execution] = []
        self._costs: dict[tuple[str, str], tuple[int, float]] = {}  # (account, instrument) -> (held, average price)
        for fill in self.venue.executions():  # a venue store's history: the averages continue from it
            self._book_cost(fill)
        self._next_perm_id = FIRST_PERM_ID + instance * PERM_IDS_PER_INSTANCE
        self._con_ids: dict[str, int] = {}
        self._by_con_id: dict[int, Instrument] = {}
        self.on_order: Callable[[OrderUpdate], None] = lambda update: None
        self.on_settlement: Callable[[SettlementEvent], None] = lambda event: None  # expiry, assignment
        self.on_quote: Callable[[Quote], None] = lambda quote: None
        self.engine.subscribe_all(lambda quote: self.on_quote(quote))

    def start(self) -> None:
        self.market.start(self.engine.on_quotes)

    def stop(self) -> None:
        self.market.stop()

    def close(self) -> None:
        self.market.stop()
        self.venue.close()

    # ------------------------------------------------------------------ contracts

    def con_id(self, instrument: Instrument) -> int:
        con_id = self._con_ids.get(instrument.id)
        if con_id is None:
            con_id = zlib.crc32(instrument.id.encode()) & 0x7FFFFFFF or 1
            while con_id in self._by_con_id:  # a CRC collision: the next free id, the same on every run
                con_id = con_id % 0x7FFFFFFF + 1
            self._con_ids[instrument.id] = con_id
            self._by_con_id[con_id] = instrument
        return con_id

    def contract(self, instrument: Instrument) -> IbContract:
        return ib_contract(instrument, self.con_id(instrument))

    def resolve(self, c: ContractRequest) -> Instrument:
        """The one listed instrument a request names (by conId, or by its fields); Refused(200) if none."""
        matches = self.matching(c)
        if len(matches) != 1:
            raise Refused(rules.NO_SECURITY_CODE, rules.NO_SECURITY_TEXT)
        return matches[0]

    def matching(self, c: ContractRequest) -> list[Instrument]:
        """Every listed instrument a (possibly partial) contract describes, as reqContractDetails answers."""
        if len(self._con_ids) != len(self.registry):
            for instrument in self.registry:
                self.con_id(instrument)  # every listed instrument has its conId before anyone asks by number
        if c.con_id:
            found = self._by_con_id.get(c.con_id)
            return [] if found is None else [found]
        if c.sec_type == "STK" or (c.sec_type == "OPT" and c.local_symbol.strip()):
            try:
                instrument = instrument_of(c.sec_type, c.symbol, c.last_trade_date, c.strike, c.right, c.local_symbol)
            except InvalidInput:
                return []
            return [instrument] if instrument.id in self.registry else []
        if c.sec_type != "OPT":
            return []
        strike = float(c.strike) if _is_number(c.strike) and float(c.strike) > 0 else None
        right = {"P": Right.PUT, "PUT": Right.PUT, "C": Right.CALL, "CALL": Right.CALL}.get(c.right.upper())
        return [o for o in self.registry.options_for(c.symbol)
                if (not c.last_trade_date or f"{o.expiry:%Y%m%d}".startswith(c.last_trade_date))
                and (strike is None or float(o.strike) == strike)
                and (right is None or o.right is right)]  # fmt: skip

    def chain(self, symbol: str) -> tuple[list[str], list[float]]:
        """Expirations (YYYYMMDD) and strikes listed on an underlying, for reqSecDefOptParams."""
        options = self.registry.options_for(symbol)
        return sorted({f"{o.expiry:%Y%m%d}" for o in options}), sorted({float(o.strike) for o in options})

    # ------------------------------------------------------------------ orders

    def place(self, client_id: int, request: PlaceOrder, reject: str = "") -> IbOrder:
        """The order, sent on to the venue; `reject` (a reason) refuses it here instead, as IB's own checks do."""
        instrument = self.resolve(request.contract)
        if request.action not in ("BUY", "SELL"):
            raise _invalid("action", f"{request.action!r} is not BUY or SELL")
        quantity = int(request.quantity)
        if quantity <= 0 or quantity != request.quantity:
            raise _invalid("totalQuantity", f"{request.quantity} is not a positive whole number")
        order_type = ORDER_TYPES.get(request.order_type)
        if order_type is None:
            raise _rejected(f"order type {request.order_type!r} is not supported here (LMT, MKT)")
        tif = TIFS.get(request.tif)
        if tif is None:
            raise _rejected(f"time in force {request.tif!r} is not supported here (DAY, GTC, IOC)")
        account = request.account or (self.accounts[0] if len(self.accounts) == 1 else "")
        if account not in self.accounts:
            raise _rejected(f"account {request.account!r} is not managed by this login")
        if order_type is OrderType.LIMIT and request.limit_price is None:
            raise _invalid("lmtPrice", "a limit order needs a price")
        perm_id = self._next_perm_id
        self._next_perm_id += 1
        order = IbOrder(request.order_id, client_id, perm_id, self.contract(instrument), request.action, quantity,
                        request.order_type, request.limit_price if order_type is OrderType.LIMIT else None,
                        tif.value, account, request.order_ref, f"G{perm_id}")  # fmt: skip
        self.orders[perm_id] = order
        self._by_venue_id[order.venue_id] = order
        if reject:
            self._finish(order, INACTIVE, reject)
            self.clock.call_later(0, self.on_order, OrderUpdate(order, EventKind.REJECTED, None, reject))
            return order
        limit = None if order.limit_price is None else Decimal(repr(order.limit_price))
        self.venue.submit(Order(order.venue_id, account, instrument.id, Side(request.action), quantity, order_type,
                                limit, tif, ts_created=self.clock.now_ns()))  # fmt: skip
        return order

    def cancel(self, order: IbOrder) -> None:
        self.venue.cancel(order.venue_id)

    def _on_order_event(self, event: OrderEvent) -> None:
        order = self._by_venue_id.get(event.client_order_id)
        if order is None:
            log.warning("venue event for an order the gateway does not know: %s", event)
            return
        kind = event.kind
        if kind is EventKind.ACCEPTED:
            order.status = SUBMITTED
        elif kind is EventKind.FILL and event.fill is not None:
            fill = event.fill
            price = float(fill.price)
            total = order.filled + fill.quantity
            order.avg_fill_price = (order.avg_fill_price * order.filled + price * fill.quantity) / total
            order.filled += fill.quantity
            order.last_fill_price = price
            self._book_cost(fill)
            if order.filled >= order.quantity:
                self._finish(order, FILLED, "")
            self.executions.append(Execution(order, fill, order.filled, order.avg_fill_price))
        elif kind in (EventKind.CANCELED, EventKind.EXPIRED):
            self._finish(order, CANCELLED, event.reason)
        elif kind is EventKind.REJECTED:
            self._finish(order, INACTIVE, event.reason)
        self.on_order(OrderUpdate(order, kind, event.fill, event.reason))

    def _finish(self, order: IbOrder, status: str, why: str) -> None:
        order.status = status
        order.completed_time = time_text(self.clock.now_ns())
        order.completed_status = why or status

    def _on_settlement(self, event: SettlementEvent) -> None:
        log.info("settlement at the gateway's venue: %s", event)
        for fill in event.fills:
            self._book_cost(fill)
        self.on_settlement(event)

    def _book_cost(self, f: Fill) -> None:
        """Average open price per account and instrument, reset when a position goes through flat (IB's avgCost)."""
        key = (f.account, f.instrument_id)
        held, cost = self._costs.get(key, (0, 0.0))
        signed = f.quantity * f.side.sign
        new = held + signed
        if held == 0 or (held > 0) == (signed > 0):  # opening or adding
            cost = (cost * abs(held) + float(f.price) * abs(signed)) / abs(new)
        elif new != 0 and (new > 0) != (held > 0):  # through flat: the remainder opened at this price
            cost = float(f.price)
        self._costs[key] = (new, cost)

    # ------------------------------------------------------------------ accounts

    def positions(self, account: str) -> list[tuple[Instrument, int, float]]:
        """(instrument, signed quantity, average cost per contract as IB states it: price x multiplier)."""
        if not self.venue.has_account(account):
            return []
        snapshot = self.venue.account_snapshot(account)
        result = []
        for instrument_id, quantity in sorted(snapshot.positions.items()):
            instrument = self.registry.resolve(instrument_id)
            cost = self._costs.get((account, instrument_id), (0, 0.0))[1]
            result.append((instrument, quantity, cost * instrument.multiplier))
        return result

    def account_values(self, account: str) -> dict[str, float]:
        if not self.venue.has_account(account):
            return {}
        snapshot = self.venue.account_snapshot(account)
        gross = 0.0
        market = 0.0
        for instrument, quantity, _cost in self.positions(account):
            mid = self.cache.fresh_mid(instrument.id) or 0.0
            value = quantity * mid * instrument.multiplier
            market += value
            gross += abs(value)
        cash = float(snapshot.cash)
        free = float(snapshot.free_cash)
        return {"NetLiquidation": cash + market, "TotalCashValue": cash, "AvailableFunds": free, "BuyingPower": free,
                "ExcessLiquidity": free, "GrossPositionValue": gross, "InitMarginReq": float(snapshot.reserved_cash),
                "FullInitMarginReq": float(snapshot.reserved_cash)}  # fmt: skip

    # ------------------------------------------------------------------ market data

    def option_computation(self, option: Option, quote: Quote) -> OptionComputation | None:
        """IB's model greeks for an option quote: None when the underlying has no fresh quote."""
        spot = self.cache.fresh_mid(option.underlying)
        if spot is None:
            return None
        found = self.chains.greeks_for(option)
        remaining = option_expiry_ns(option) - self.clock.now_ns()
        if found is None or remaining <= 0:
            return OptionComputation(None, None, quote.mid, None, None, None, spot)
        iv, delta = found
        g = greeks(spot, float(option.strike), remaining / YEAR_NS, self.chains.rate, iv, option.right is Right.CALL)
        vega = float(g.vega) / 100  # IB quotes vega per volatility point
        return OptionComputation(iv, delta, quote.mid, float(g.gamma), vega, float(g.theta_per_day), spot)


def _invalid(field: str, why: str) -> Refused:
    return Refused(rules.VALIDATION_CODE, rules.VALIDATION_TEXT.format(field=field, why=why))


def _rejected(reason: str) -> Refused:
    return Refused(rules.REJECT_CODE, rules.REJECT_TEXT.format(reason=reason))


def time_text(ns: int) -> str:
    """A time as TWS writes executions' and completed orders' times."""
    return ns_to_datetime(ns).strftime("%Y%m%d %H:%M:%S") + " UTC"


def epoch_seconds(ns: int) -> int:
    return ns // NS


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
