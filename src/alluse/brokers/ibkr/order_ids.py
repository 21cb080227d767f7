"""IB order ids that are never used twice, across restarts and IB's nightly reset.

IB takes an order id per client id and session, and after its nightly restart it may hand out a lower
`nextValidId` than ids already used; a reused id would be refused (103) or, worse, mix an old order's
executions with a new one's. The adapter therefore keeps its own high-water mark per client id: ids are
reserved in blocks, the end of the block written to a file (atomically, synced) before the block's first
id goes out, so a restart continues after the block and at most skips ids, never reuses one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import ClassVar, Protocol

from alluse.model.errors import BrokerError, ErrorClass

ORDER_IDS_FILE = "ibkr_order_ids.json"


class OrderIdsError(BrokerError):
    """The high-water file cannot be read or written: no order may go out (a reused id is worse), and resending
    cannot help until a person fixes the file."""

    error_class: ClassVar[ErrorClass] = ErrorClass.PERMANENT


class OrderIdSource(Protocol):
    """Where the adapter takes each order's IB id: this file-backed mark in one process, or one kept in the
    cluster's PostgreSQL across gateways (cluster/order_ids.py)."""

    def take(self, client_id: int, at_least: int) -> int: ...


class OrderIds:
    def __init__(self, path: Path | None, block: int = 1000) -> None:
        """`path` None keeps the mark in memory (tests, a throwaway run)."""
        self._path = path
        self._block = block
        self._reserved: dict[int, int] = self._load()  # client id -> end of the reserved block (exclusive)
        self._next: dict[int, int] = dict(self._reserved)  # a restart continues after what was reserved

    def take(self, client_id: int, at_least: int) -> int:
        """The next id for `client_id`, at least `at_least` (IB's nextValidId), reserving a block when needed."""
        order_id = max(self._next.get(client_id, 1), at_least)
        if order_id >= self._reserved.get(client_id, 0):
            reserved = {**self._reserved, client_id: order_id + self._block}
            self._save(reserved)  # raises with nothing changed: the id is not handed out
            self._reserved = reserved
        self._next[client_id] = order_id + 1
        return order_id

    def high_water(self, client_id: int) -> int:
        """The lowest id not used yet by `client_id` (in this process or before)."""
        return self._next.get(client_id, 1)

    def _load(self) -> dict[int, int]:
        if self._path is None or not self._path.exists():
            return {}
        try:
            data = json.loads(self._path.read_text())
            return {int(k): int(v) for k, v in data.items()}
        except (OSError, ValueError, AttributeError, TypeError) as e:
            raise OrderIdsError(
                f"{self._path}: unreadable order-id high-water file ({e}); restore it, or remove it only if no "
                "order was ever sent from this directory"
            ) from e

    def _save(self, reserved: dict[int, int]) -> None:
        if self._path is None:
            return
        tmp = self._path.with_suffix(".tmp")
        try:
            with open(tmp, "w") as f:
                json.dump({str(k): v for k, v in sorted(reserved.items())}, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self._path)
        except OSError as e:
            raise OrderIdsError(f"{self._path}: cannot write the order-id high-water mark ({e})") from e
