"""Instruments: stocks and listed options (OCC symbols), their ticks, expiry times and put collateral."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from alluse.common.clock import datetime_to_ns
from alluse.model.base import CENT, InvalidInput
from alluse.model.enums import Right, Side

# US equity options stop trading at 16:00 New York (21:00 UTC in winter, 20:00 in summer time). The
# one definition of when an option expires: the chain service, the strategy and the venue all use it.
# (On an early-close day trading stops at 13:00; the expiry still settles at 16:00, on the last quotes.)
NEW_YORK = ZoneInfo("America/New_York")
EXPIRY_TIME_NY = time(16, 0)
NICKEL = Decimal("0.05")
OPTION_TICK_BREAK = Decimal("3.00")

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
    return datetime_to_ns(datetime.combine(expiry, EXPIRY_TIME_NY, tzinfo=NEW_YORK))


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
