"""Order-rate throttle and duplicate-order guard, both in clock time and O(1) per order.

The throttle is a token bucket (`burst` tokens, refilled at `rate` per second) written as the
equivalent GCRA: one integer "theoretical arrival time" per account instead of a float token
count, so refills are exact in integer ns and a test can step to the very ns a token returns.
Only orders that pass every check take a token or enter the duplicate window: a denied order
must not use up the allowance of the orders that follow it.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal

from alluse.model import Order, Side

DuplicateKey = tuple[str, str, bool, int, Decimal | None]  # bool: is a buy (hashes faster than the enum)


class OrderThrottle:
    def __init__(self) -> None:
        self._tat: dict[str, int] = {}  # account -> when the bucket would be full again

    def wait_ns(self, account: str, now: int, interval_ns: int, burst: int) -> int:
        """0 when a token is free now, else how long until one is."""
        tat = self._tat.get(account, now)
        early = tat - now - (burst - 1) * interval_ns
        return early if early > 0 else 0

    def take(self, account: str, now: int, interval_ns: int) -> None:
        tat = self._tat.get(account, now)
        self._tat[account] = (tat if tat > now else now) + interval_ns

    def give_back(self, account: str, interval_ns: int) -> None:
        """Return the last token taken (its order was never sent); exact when nothing passed since."""
        if account in self._tat:
            self._tat[account] -= interval_ns


class DuplicateGuard:
    """Remembers each passed order's (account, instrument, side, quantity, limit price) for a window."""

    def __init__(self) -> None:
        self._last: dict[DuplicateKey, tuple[int, int]] = {}  # key -> (passed at, remembered until)
        self._expiry: deque[tuple[int, DuplicateKey]] = deque()  # (remembered until, key), in pass order

    @staticmethod
    def key(order: Order) -> DuplicateKey:
        return (order.account, order.instrument_id, order.side is Side.BUY, order.quantity, order.limit_price)

    def seen_at(self, key: DuplicateKey, now: int) -> int | None:
        """When an identical order passed, if that is still inside its window."""
        expiry, last = self._expiry, self._last
        while expiry and expiry[0][0] <= now:  # forget what has aged out, a few entries at a time
            _, old = expiry.popleft()
            entry = last.get(old)
            if entry is not None and entry[1] <= now:
                del last[old]
        entry = last.get(key)
        return entry[0] if entry is not None and entry[1] > now else None

    def record(self, key: DuplicateKey, now: int, window_ns: int) -> None:
        if window_ns > 0:
            self._last[key] = (now, now + window_ns)
            self._expiry.append((now + window_ns, key))

    def discard(self, key: DuplicateKey) -> None:
        self._last.pop(key, None)

    def __len__(self) -> int:
        return len(self._last)
