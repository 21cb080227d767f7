"""IB's contract fields for the project's instruments, and back: shared by the adapter and the local gateway.

IB names a US equity option by symbol, expiry (YYYYMMDD), strike, right and multiplier on the SMART
route; its `localSymbol` is the OCC symbol the project already uses as an option's id, so an option
found either way is the same instrument.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from alluse.model import Equity, Instrument, InvalidInput, Option, Right

STOCK = "STK"
OPTION = "OPT"
ROUTE = "SMART"
CURRENCY = "USD"
PRIMARY_EXCHANGE = "NASDAQ"


@dataclass(slots=True, frozen=True)
class IbContract:
    """The twelve contract fields in the order the wire carries them."""

    con_id: int
    symbol: str
    sec_type: str
    last_trade_date: str  # YYYYMMDD for options, empty for stocks
    strike: float
    right: str  # "P", "C" or ""
    multiplier: str
    exchange: str
    primary_exchange: str
    currency: str
    local_symbol: str
    trading_class: str

    def fields(self) -> tuple[object, ...]:
        return (self.con_id, self.symbol, self.sec_type, self.last_trade_date, self.strike, self.right,
                self.multiplier, self.exchange, self.primary_exchange, self.currency, self.local_symbol,
                self.trading_class)  # fmt: skip


def ib_contract(instrument: Instrument, con_id: int) -> IbContract:
    if isinstance(instrument, Option):
        return IbContract(con_id, instrument.underlying, OPTION, f"{instrument.expiry:%Y%m%d}",
                          float(instrument.strike), instrument.right.value, str(instrument.multiplier), ROUTE, "",
                          CURRENCY, instrument.symbol, instrument.underlying)  # fmt: skip
    return IbContract(con_id, instrument.symbol, STOCK, "", 0.0, "", "", ROUTE, PRIMARY_EXCHANGE, CURRENCY,
                      instrument.symbol, instrument.symbol)  # fmt: skip


def instrument_of(sec_type: str, symbol: str, last_trade_date: str, strike: str | float, right: str,
                  local_symbol: str = "") -> Instrument:  # fmt: skip
    """The instrument a contract names; InvalidInput names the field that does not fit."""
    if sec_type == STOCK:
        return Equity(symbol)
    if sec_type != OPTION:
        raise InvalidInput("secType", sec_type, f"not traded here (only {STOCK} and {OPTION})")
    if local_symbol.strip():
        return Option.from_occ(local_symbol)
    right_letter = {"P": "P", "PUT": "P", "C": "C", "CALL": "C"}.get(str(right).upper())
    if right_letter is None:
        raise InvalidInput("right", right, "must be P or C")
    expiry = _expiry(last_trade_date)
    try:
        strike_value = Decimal(str(strike))
    except InvalidOperation:
        raise InvalidInput("strike", strike, "not a number") from None
    return Option(symbol, expiry, strike_value, Right(right_letter))


def _expiry(text: str) -> date:
    if len(text) != 8 or not text.isdigit():
        raise InvalidInput("lastTradeDateOrContractMonth", text, "must be a date as YYYYMMDD")
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        raise InvalidInput("lastTradeDateOrContractMonth", text, "is not a date") from None
