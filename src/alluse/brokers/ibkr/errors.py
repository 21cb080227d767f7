"""Every IB error code the adapter can receive, classified once: what it means for an order, a subscription or
the connection, and the error class the order manager acts on (model.errors).

IB sends information, warnings and errors through one `error` message; the code alone decides. A code not in
the table is UNKNOWN: for an order that means "ask IB where it stands", never a blind resend.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from alluse.model.errors import ErrorClass


class Scope(enum.StrEnum):
    ORDER_REJECTED = "order rejected"  # the order is not working (an error class says whether to retry)
    ORDER_CANCELLED = "order cancelled"  # IB cancelled a working order (202)
    CANCEL_REFUSED = "cancel refused"  # the order goes on (or is already done)
    ORDER_WARNING = "order warning"  # the order goes on
    MARKET_DATA = "market data"  # a subscription refused or interrupted
    CONNECTIVITY = "connectivity"  # between the gateway and IB, or the socket
    INFORMATION = "information"  # logged, nothing to do
    UNCLASSIFIED = "unclassified"  # not in the table: logged and counted; an order's outcome is asked, not guessed


@dataclass(slots=True, frozen=True)
class IbError:
    code: int
    scope: Scope
    error_class: ErrorClass | None  # for a refused order or subscription: retry, give up, or ask
    meaning: str


_T, _P, _U = ErrorClass.TRANSIENT, ErrorClass.PERMANENT, ErrorClass.UNKNOWN

TABLE: dict[int, IbError] = {e.code: e for e in (
    IbError(100, Scope.ORDER_REJECTED, ErrorClass.THROTTLED, "pacing: past 50 messages a second; IB disconnects"),
    IbError(101, Scope.MARKET_DATA, _T, "market-data line budget reached; a line must be released first"),
    IbError(103, Scope.ORDER_REJECTED, _T, "duplicate order id: this send was refused; send again with a new id"),
    IbError(110, Scope.ORDER_REJECTED, _P, "price does not conform to the minimum price variation"),
    IbError(161, Scope.CANCEL_REFUSED, None, "cancel attempted when the order is not cancellable"),
    IbError(200, Scope.ORDER_REJECTED, _P, "no security definition found"),
    IbError(201, Scope.ORDER_REJECTED, _P, "order rejected by IB"),
    IbError(202, Scope.ORDER_CANCELLED, None, "order cancelled"),
    IbError(321, Scope.ORDER_REJECTED, _P, "request failed validation"),
    IbError(322, Scope.MARKET_DATA, _P, "duplicate ticker id"),
    IbError(354, Scope.MARKET_DATA, _P, "not subscribed to this market data"),
    IbError(399, Scope.ORDER_WARNING, None, "order message warning; the order goes on"),
    IbError(404, Scope.ORDER_WARNING, None, "shares not available for short sale: the order is held"),
    IbError(502, Scope.CONNECTIVITY, _T, "could not connect (or the API client limit is reached)"),
    IbError(504, Scope.CONNECTIVITY, _T, "not connected"),
    IbError(326, Scope.CONNECTIVITY, _T, "client id already in use: connect with another id"),
    IbError(1100, Scope.CONNECTIVITY, _T, "connectivity between IB and the gateway lost"),
    IbError(1101, Scope.CONNECTIVITY, None, "connectivity restored, market data lost: subscribe again"),
    IbError(1102, Scope.CONNECTIVITY, None, "connectivity restored, market data kept"),
    IbError(1300, Scope.CONNECTIVITY, _T, "the gateway's socket port was reset"),
    IbError(2103, Scope.INFORMATION, None, "market data farm broken (the session stays)"),
    IbError(2104, Scope.INFORMATION, None, "market data farm OK"),
    IbError(2105, Scope.INFORMATION, None, "historical data farm broken (the session stays)"),
    IbError(2106, Scope.INFORMATION, None, "historical data farm OK"),
    IbError(2107, Scope.INFORMATION, None, "historical data farm inactive"),
    IbError(2108, Scope.INFORMATION, None, "market data farm inactive"),
    IbError(2119, Scope.INFORMATION, None, "market data farm connecting"),
    IbError(2157, Scope.INFORMATION, None, "security definition farm broken (the session stays)"),
    IbError(2158, Scope.INFORMATION, None, "security definition farm OK"),
    IbError(10090, Scope.INFORMATION, None, "part of the requested market data is not subscribed"),
    IbError(10147, Scope.CANCEL_REFUSED, None, "the order to cancel is not found"),
    IbError(10148, Scope.CANCEL_REFUSED, None, "the order cannot be cancelled in its state"),
    IbError(10167, Scope.INFORMATION, None, "delayed market data is shown"),
    IbError(10197, Scope.MARKET_DATA, _T, "no market data during a competing live session"),
)}  # fmt: skip


def classify(code: int) -> IbError:
    """The table's entry; a code it does not hold is information in IB's 2100-2199 band, else unclassified."""
    found = TABLE.get(code)
    if found is not None:
        return found
    if 2100 <= code < 2200:
        return IbError(code, Scope.INFORMATION, None, "information")
    return IbError(code, Scope.UNCLASSIFIED, ErrorClass.UNKNOWN, "not in the table: ask where the order stands")
