"""The local gateway's section (`[gateway]`): where it listens, the server version it speaks, IB's limits and
the faults it injects by itself. The market and the venue behind it are the `[market]` and `[venue]` sections."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator

from alluse.brokers.ibkr.gateway.outgoing import SUPPORTED_VERSIONS
from alluse.common.config_base import Rate, Section


class GatewayFaultConfig(Section):
    """Per-order probabilities of the faults IB's order path shows; the default injects nothing."""

    seed: int = 0
    reject_rate: Rate = 0.0  # error 201 instead of an acknowledgement
    warning_rate: Rate = 0.0  # error 399, the order goes on


class GatewayConfig(Section):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 0  # 0: any free port
    server_version: int = 178
    messages_per_second: Annotated[int, Field(ge=1)] = 50
    market_data_lines: Annotated[int, Field(ge=1)] = 100
    max_clients: Annotated[int, Field(ge=1)] = 32
    faults: GatewayFaultConfig = GatewayFaultConfig()

    @field_validator("server_version")
    @classmethod
    def _supported(cls, v: int) -> int:
        if v not in SUPPORTED_VERSIONS:
            raise ValueError(f"this gateway speaks {', '.join(map(str, SUPPORTED_VERSIONS))}")
        return v

    @field_validator("host")
    @classmethod
    def _loopback(cls, v: str) -> str:
        if v not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the local gateway listens on loopback only (127.0.0.1, localhost or ::1)")
        return v
