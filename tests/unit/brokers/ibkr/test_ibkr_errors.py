"""Every IB error code the adapter can receive has one classification, and each is what IB's code means."""

from __future__ import annotations

import pytest

from alluse.brokers.ibkr.errors import TABLE, Scope, classify
from alluse.model.errors import ErrorClass

T, P, U = ErrorClass.TRANSIENT, ErrorClass.PERMANENT, ErrorClass.UNKNOWN

EXPECTED = {
    100: (Scope.ORDER_REJECTED, ErrorClass.THROTTLED), 101: (Scope.MARKET_DATA, T), 103: (Scope.ORDER_REJECTED, T),
    110: (Scope.ORDER_REJECTED, P), 161: (Scope.CANCEL_REFUSED, None), 200: (Scope.ORDER_REJECTED, P),
    201: (Scope.ORDER_REJECTED, P), 202: (Scope.ORDER_CANCELLED, None), 321: (Scope.ORDER_REJECTED, P),
    322: (Scope.MARKET_DATA, P), 354: (Scope.MARKET_DATA, P), 399: (Scope.ORDER_WARNING, None),
    404: (Scope.ORDER_WARNING, None), 502: (Scope.CONNECTIVITY, T), 504: (Scope.CONNECTIVITY, T),
    326: (Scope.CONNECTIVITY, T), 1100: (Scope.CONNECTIVITY, T), 1101: (Scope.CONNECTIVITY, None),
    1102: (Scope.CONNECTIVITY, None), 1300: (Scope.CONNECTIVITY, T), 2103: (Scope.INFORMATION, None),
    2104: (Scope.INFORMATION, None), 2105: (Scope.INFORMATION, None), 2106: (Scope.INFORMATION, None),
    2107: (Scope.INFORMATION, None), 2108: (Scope.INFORMATION, None), 2119: (Scope.INFORMATION, None),
    2157: (Scope.INFORMATION, None), 2158: (Scope.INFORMATION, None), 10090: (Scope.INFORMATION, None),
    10147: (Scope.CANCEL_REFUSED, None), 10148: (Scope.CANCEL_REFUSED, None), 10167: (Scope.INFORMATION, None),
    10197: (Scope.MARKET_DATA, T),
}  # fmt: skip


def test_the_table_holds_exactly_the_codes_listed_here() -> None:
    assert set(TABLE) == set(EXPECTED)


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_each_code_is_classified(code: int) -> None:
    found = classify(code)
    assert (found.scope, found.error_class) == EXPECTED[code] and found.meaning


def test_farm_notices_never_concern_an_order_or_the_session() -> None:
    assert classify(2110).scope is Scope.INFORMATION  # IB's 2100-2199 band, not listed: information


def test_a_code_nobody_listed_is_unknown_never_a_guess() -> None:
    found = classify(9999)
    assert (found.scope, found.error_class) == (Scope.UNCLASSIFIED, U)
