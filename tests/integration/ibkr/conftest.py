"""The `gateway` fixture: a local gateway per server version it speaks; `gw`: one at the default version
(gateway_harness.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from gateway_harness import start_gateway

from alluse.brokers.ibkr.gateway.config import GatewayConfig
from alluse.brokers.ibkr.gateway.server import Gateway


@pytest.fixture(params=[176, 178], ids=["v176", "v178"])
async def gateway(request: pytest.FixtureRequest) -> AsyncIterator[Gateway]:
    gw = await start_gateway(GatewayConfig(server_version=request.param))
    yield gw
    await gw.stop()
    gw.exchange.close()


@pytest.fixture
async def gw() -> AsyncIterator[Gateway]:
    gateway = await start_gateway()
    yield gateway
    await gateway.stop()
    gateway.exchange.close()
