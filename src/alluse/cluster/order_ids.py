"""IB order ids for a gateway service, from the login's high-water mark in PostgreSQL: blocks reserved under
the lease (records.reserve_order_ids), so ids never repeat across gateways, takeovers and IB's nightly
reset, whatever client id each gateway connected with. The adapter takes ids synchronously while it sends;
the service tops the block up between sends (`ensure`)."""

from __future__ import annotations

import asyncpg

from alluse.brokers.ibkr.order_ids import OrderIdsError
from alluse.cluster import records
from alluse.cluster.lease import Lease

BLOCK = 1000
LOW_WATER = 100  # a new block is reserved when fewer ids than this are left


class LeasedOrderIds:
    def __init__(self, block: int = BLOCK) -> None:
        self._block = block
        self._next = 0
        self._end = 0  # exclusive
        self._floor = 1  # the highest id IB asked for at least: a new block starts no lower

    async def ensure(self, conn: asyncpg.Connection, lease: Lease) -> None:
        """At least LOW_WATER ids in hand; a new block (after every id ever reserved for the login) if not."""
        if self._end - max(self._next, self._floor) >= LOW_WATER:
            return
        ids = await records.reserve_order_ids(conn, lease, self._block, floor=max(self._next, self._floor))
        self._next, self._end = ids.start, ids.stop

    def take(self, client_id: int, at_least: int) -> int:
        self._floor = max(self._floor, at_least)
        order_id = max(self._next, at_least)
        if order_id >= self._end:
            raise OrderIdsError(
                f"no reserved IB order id left for client id {client_id} (IB asks for at least {at_least}, the block "
                f"ends at {self._end}): a new block is reserved for the next try"
            )
        self._next = order_id + 1
        return order_id
