"""Domain objects shared by every component: instruments, quotes, orders, fills, positions.

Market data uses floats (speed; quotes are observations, not money). Everything that is
accounted — order prices, fill prices, commissions, cash, P&L — uses `Decimal`, and
quantities are integers, so the journal's cash never drifts.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any, TypeVar

from alluse.clock import datetime_to_ns

CENT = Decimal("0.01")
# US equity options stop trading at 16:00 New York, 20:00 UTC in summer time. The one
# definition of when an option expires: the chain service, the strategy and the venue all use it.
EXPIRY_HOUR_UTC = 20
NICKEL = Decimal("0.05")
OPTION_TICK_BREAK = Decimal("3.00")
_T = TypeVar("_T")


class InvalidInput(ValueError):
    """Bad input from outside (a user, a feed, a file): names the field and the value."""

    def __init__(self, field_name: str, value: object, reason: str) -> None:
        self.field = field_name
        self.value = value
        self.reason = reason
        super().__init__(f"{field_name}={value!r}: {reason}")


# A value from outside (a caller's order, a config field) whose type is not checked yet. Compiled
# code (alluse.build) checks a typed value's type as it reads it, so a bad one would raise a bare
# TypeError there; a parameter or local of this type (Any) is read unchecked, and the code that holds
# it raises the InvalidInput that names the field.
Unchecked = Any


class FastEnum(enum.Enum):
    """An Enum hashed by identity. Members are singletons compared by identity, so this agrees with
    equality; Enum's own hash is a Python call on the name, and the order path hashes an order's
    status, side and event kinds dozens of times per order (sets, transition tables)."""

    __hash__ = object.__hash__


def fast_frozen(cls: type[_T]) -> type[_T]:
    """For a frozen slots dataclass made on the order path (fills, broker events): an `__init__` that
    sets each slot through its descriptor. The generated one calls `object.__setattr__` per field:
    a Fill took 1.1 us to build, 0.66 us this way (an unfrozen one 0.2 us). Still frozen: assignment
    raises as before. Only for plain fields (no factories, no `__post_init__`)."""
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    if any(f.default_factory is not dataclasses.MISSING or not f.init or f.kw_only for f in fields) or hasattr(
        cls, "__post_init__"
    ):
        raise TypeError(f"{cls.__name__}: fast_frozen takes plain fields only")
    namespace: dict[str, object] = {"__name__": cls.__module__}  # the new __init__'s __module__
    params, body = [], []
    for f in fields:
        namespace[f"_set_{f.name}"] = getattr(cls, f.name).__set__
        if f.default is dataclasses.MISSING:
            params.append(f.name)
        else:
            namespace[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
        body.append(f"    _set_{f.name}(self, {f.name})")
    exec(f"def __init__(self, {', '.join(params)}):\n" + "\n".join(body), namespace)
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"  # type: ignore[attr-defined]
    cls.__init__ = init  # type: ignore[method-assign, assignment]
    return cls


class Side(FastEnum):
    BUY = "BUY"
    SELL = "SELL"

    sign: int  # +1 buy, -1 sell: a plain attribute of each member (set below), read several times per order


class OrderType(FastEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"


class TimeInForce(FastEnum):
    DAY = "DAY"
    GTC = "GTC"
    IOC = "IOC"


class Right(FastEnum):
    CALL = "C"
    PUT = "P"


class OrderStatus(FastEnum):
    INITIALIZED = "INITIALIZED"
    DENIED = "DENIED"
    SUBMITTED = "SUBMITTED"
    ACCEPTED = "ACCEPTED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    PENDING_CANCEL = "PENDING_CANCEL"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"

    # plain attributes of each member (set below): read about ten times per order, where a property is a call
    is_terminal: bool
    is_open: bool  # working at (or on its way to) the venue


TERMINAL_STATUSES = frozenset(
    {OrderStatus.DENIED, OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
)
for _side in Side:
    _side.sign = 1 if _side is Side.BUY else -1
for _status in OrderStatus:
    _status.is_terminal = _status in TERMINAL_STATUSES
    _status.is_open = not _status.is_terminal and _status is not OrderStatus.INITIALIZED
del _side, _status


# ---------------------------------------------------------------------------- instruments

_TICKER_RE = re.compile(r"^[A-Z][A-Z0-9.]{0,5}$")
# OCC: root padded to 6, yymmdd, C/P, strike x1000 in 8 digits. Also accept unpadded roots.
_OCC_RE = re.compile(r"^([A-Z][A-Z0-9.]{0,5})\s*(\d{6})([CP])(\d{8})$")


def _check_ticker(symbol: str) -> str:
    if not isinstance(symbol, str) or not _TICKER_RE.match(symbol):
        raise InvalidInput("symbol", symbol, "not a ticker (1-6 of A-Z, 0-9, '.', starting with a letter)")
    return symbol


@dataclass(slots=True, frozen=True)
class Equity:
    symbol: str
    multiplier: int = 1

    def __post_init__(self) -> None:
        _check_ticker(self.symbol)

    @property
    def id(self) -> str:
        return self.symbol

    def tick_size(self, price: Decimal) -> Decimal:  # noqa: ARG002 - same tick at every price
        return CENT


@dataclass(slots=True, frozen=True)
class Option:
    underlying: str
    expiry: date
    strike: Decimal
    right: Right
    multiplier: int = 100
    symbol: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        _check_ticker(self.underlying)
        strike = self.strike
        if not isinstance(strike, Decimal):
            try:
                strike = Decimal(str(strike))
            except InvalidOperation:
                raise InvalidInput("strike", self.strike, "not a number") from None
            object.__setattr__(self, "strike", strike)
        if not strike.is_finite() or strike <= 0 or strike * 1000 != (strike * 1000).to_integral_value():
            raise InvalidInput("strike", self.strike, "must be positive with at most 3 decimals")
        if strike >= 100_000:
            raise InvalidInput("strike", self.strike, "too large for an OCC symbol")
        object.__setattr__(self, "symbol", self.occ_symbol())

    @property
    def id(self) -> str:
        return self.symbol

    def occ_symbol(self) -> str:
        """OCC/OSI 21-character symbol, e.g. ``TSLA  261218P00250000``."""
        return f"{self.underlying:<6}{self.expiry:%y%m%d}{self.right.value}{int(self.strike * 1000):08d}"

    @classmethod
    def from_occ(cls, symbol: str) -> Option:
        m = _OCC_RE.match(symbol.strip()) if isinstance(symbol, str) else None
        if not m:
            raise InvalidInput("symbol", symbol, "not an OCC option symbol (ROOT yymmdd C|P strike*1000 in 8 digits)")
        root, ymd, right, strike = m.groups()
        try:
            expiry = date(2000 + int(ymd[:2]), int(ymd[2:4]), int(ymd[4:]))
        except ValueError:
            raise InvalidInput("symbol", symbol, f"expiry {ymd} is not a date") from None
        return cls(root, expiry, Decimal(int(strike)) / 1000, Right(right))

    def tick_size(self, price: Decimal) -> Decimal:
        return CENT if price < OPTION_TICK_BREAK else NICKEL


Instrument = Equity | Option


@functools.lru_cache(maxsize=1024)
def expiry_date_ns(expiry: date) -> int:
    """When an option expiring on `expiry` stops trading, in ns since the epoch."""
    return datetime_to_ns(datetime(expiry.year, expiry.month, expiry.day, EXPIRY_HOUR_UTC, tzinfo=UTC))


def expiry_ns(option: Option) -> int:
    return expiry_date_ns(option.expiry)


def parse_symbol(symbol: str) -> Instrument:
    """A stock ticker or an OCC option symbol."""
    if isinstance(symbol, str) and len(symbol.strip()) > 6 and _OCC_RE.match(symbol.strip()):
        return Option.from_occ(symbol)
    return Equity(symbol)


def on_tick(instrument: Instrument, price: Decimal) -> bool:
    steps = price / instrument.tick_size(price)
    return steps == steps.to_integral_value()


def round_to_tick(instrument: Instrument, price: float | Decimal, side: Side | None = None) -> Decimal:
    """Nearest valid price; with a side, rounds to the passive side (buy down, sell up)."""
    p = Decimal(str(price))
    tick = instrument.tick_size(p)
    steps = p / tick
    if side is Side.BUY:
        steps = steps.to_integral_value(rounding="ROUND_FLOOR")
    elif side is Side.SELL:
        steps = steps.to_integral_value(rounding="ROUND_CEILING")
    else:
        steps = steps.to_integral_value(rounding=ROUND_HALF_EVEN)
    return (steps * tick).quantize(CENT)


def put_collateral(option: Option, position: int, working_sells: int) -> Decimal:
    """Cash a put ties up if every working sell of it filled: strike x multiplier per contract short.

    `position` is the signed holding (long puts offset sales), `working_sells` the contracts still
    to sell in working orders. The venue and the risk gate both reserve cash with this.
    """
    return option.strike * option.multiplier * max(0, working_sells - position)


def check_order_fields(order: Order, instrument: Instrument) -> None:
    """The field checks every party applies to a new order; raises InvalidInput naming the field."""
    qty = order.quantity
    if type(qty) is not int or qty <= 0:
        raise InvalidInput("quantity", qty, "must be a positive whole number")
    if not isinstance(order.side, Side):
        raise InvalidInput("side", order.side, "must be BUY or SELL")
    if not isinstance(order.time_in_force, TimeInForce):
        raise InvalidInput("time_in_force", order.time_in_force, "must be DAY, GTC or IOC")
    if order.order_type is OrderType.LIMIT:
        price = order.limit_price
        if not isinstance(price, Decimal) or not price.is_finite() or price <= 0:
            raise InvalidInput("limit_price", price, "a limit order needs a positive Decimal price")
        if not on_tick(instrument, price):
            raise InvalidInput("limit_price", price, f"not on the tick {instrument.tick_size(price)}")
    elif order.order_type is OrderType.MARKET:
        if order.limit_price is not None:
            raise InvalidInput("limit_price", order.limit_price, "a market order has no limit price")
    else:
        raise InvalidInput("order_type", order.order_type, "must be MARKET or LIMIT")


def float_decimal(x: float) -> Decimal:
    """A float as the Decimal of its shortest repr (50.01, not 50.00999...). Through float(): a numpy
    float64's own repr is "np.float64(...)"."""
    return Decimal(repr(float(x)))


def to_money(x: float) -> Decimal:
    """A float observed on a cent grid (quote prices) as an exact Decimal."""
    return Decimal(round(x * 100)) / 100


# ---------------------------------------------------------------------------- market data


@dataclass(slots=True)
class Quote:
    instrument_id: str
    bid: float
    ask: float
    bid_size: int
    ask_size: int
    ts_event: int  # ns, when the venue/feed stamped it
    ts_recv: int  # ns, when we received it

    @property
    def mid(self) -> float:
        return (self.bid + self.ask) * 0.5


# ---------------------------------------------------------------------------- orders


@dataclass(slots=True)
class Order:
    client_order_id: str
    account: str
    instrument_id: str
    side: Side
    quantity: int
    order_type: OrderType = OrderType.LIMIT
    limit_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.DAY
    status: OrderStatus = OrderStatus.INITIALIZED
    filled_qty: int = 0
    avg_fill_price: Decimal = Decimal(0)
    venue_order_id: str | None = None
    ts_created: int = 0
    ts_last: int = 0
    reason: str = ""
    tag: str = ""  # free text for the strategy (e.g. "open", "close", "roll")

    @property
    def remaining(self) -> int:
        return self.quantity - self.filled_qty


@fast_frozen
@dataclass(slots=True, frozen=True)
class Fill:
    client_order_id: str
    account: str
    instrument_id: str
    side: Side
    quantity: int
    price: Decimal
    commission: Decimal
    ts_event: int
    fill_id: str
    liquidity: str = "T"  # T taker, M maker, X expiry/assignment


@dataclass(slots=True)
class Position:
    account: str
    instrument_id: str
    quantity: int = 0  # signed: short positions are negative
    avg_cost: Decimal = Decimal(0)  # per unit price (not multiplied)
    realized_pnl: Decimal = Decimal(0)
    multiplier: int = 1
