"""What a refused order carries back: a reason code to count and act on, and the numbers behind it."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class DenyReason(enum.Enum):
    HALTED = "HALTED"
    REDUCE_ONLY = "REDUCE_ONLY"
    MAX_QUANTITY = "MAX_QUANTITY"
    NO_QUOTE = "NO_QUOTE"
    MAX_NOTIONAL = "MAX_NOTIONAL"
    PRICE_BAND = "PRICE_BAND"
    MAX_OPEN_ORDERS = "MAX_OPEN_ORDERS"
    DUPLICATE_ORDER = "DUPLICATE_ORDER"
    THROTTLED = "THROTTLED"
    MAX_POSITION = "MAX_POSITION"
    EXPIRY_WINDOW = "EXPIRY_WINDOW"
    MAX_UNDERLYING_CONTRACTS = "MAX_UNDERLYING_CONTRACTS"
    NO_GREEKS = "NO_GREEKS"
    DELTA_RANGE = "DELTA_RANGE"
    CASH_SECURED = "CASH_SECURED"
    UNCOVERED_CALL = "UNCOVERED_CALL"
    BUYING_POWER = "BUYING_POWER"


@dataclass(slots=True, frozen=True)
class Denial:
    """`values` holds the figures the decision compared (a limit and what would exceed it), so
    monitoring and tests read numbers instead of parsing `detail`."""

    reason: DenyReason
    detail: str
    values: dict[str, object] = field(default_factory=dict, compare=False)

    def __str__(self) -> str:
        return f"{self.reason.value}: {self.detail}"
