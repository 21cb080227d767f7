"""Against a real IB Gateway or TWS (paper), only when ALLUSE_IB_GATEWAY=host:port names one: the adapter
connects, reads the accounts and a quote. It places no order: a real account is not a test fixture."""

from __future__ import annotations

import os

import pytest
from gateway_harness import wait_for

from alluse.brokers.ibkr.broker import IbkrBroker
from alluse.brokers.ibkr.config import IbkrConfig
from alluse.brokers.ibkr.order_ids import OrderIds
from alluse.common.clock import LiveClock
from alluse.model.registry import InstrumentRegistry

TARGET = os.environ.get("ALLUSE_IB_GATEWAY", "")
pytestmark = pytest.mark.skipif(not TARGET, reason="ALLUSE_IB_GATEWAY=host:port names no real IB gateway")


async def test_the_adapter_connects_to_a_real_gateway_and_reads_the_account() -> None:
    host, _, port = TARGET.rpartition(":")
    broker = IbkrBroker(IbkrConfig(host=host or "127.0.0.1", port=int(port), client_ids=[91, 92, 93]), LiveClock(),
                        InstrumentRegistry(), OrderIds(None))  # fmt: skip
    broker.set_event_handler(lambda e: None, lambda e: None)
    await broker.start()
    try:
        [account, *_] = broker.ib.managedAccounts()
        await wait_for(lambda: broker.account_snapshot(account).cash != 0, timeout_s=20, what="account values")
        assert broker.connected and isinstance(broker.open_orders(), list)
    finally:
        await broker.stop()
