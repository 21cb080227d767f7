"""The IBKR adapter's section (`[ibkr]`): where TWS / IB Gateway listens, the client ids it may use, how it
reconnects, how fast it may send, and how many market-data lines the login has. `local_gateway = true`
starts the project's own TWS-protocol gateway in the process instead (brokers/ibkr/gateway)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from alluse.common.config_base import NonNegFloat, PositiveFloat, Section


class IbkrConfig(Section):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 4002  # IB Gateway paper; TWS paper: 7497
    client_ids: list[Annotated[int, Field(ge=0, le=2**31 - 1)]] = [11, 12, 13]  # tried in turn (326: id in use)
    local_gateway: bool = False  # run the project's gateway in this process and connect to it
    connect_timeout_s: PositiveFloat = 10.0
    reconnect_initial_s: PositiveFloat = 0.5
    reconnect_max_s: PositiveFloat = 30.0
    reconnect_jitter: Annotated[float, Field(ge=0, le=1)] = 0.2  # +- share of each backoff
    health_interval_s: PositiveFloat = 5.0  # a reqCurrentTime round trip this often...
    health_timeout_s: PositiveFloat = 10.0  # ...unanswered this long (it may queue behind a burst): reconnect
    messages_per_second: Annotated[int, Field(ge=10, le=50)] = 40  # below IB's 50: throttled, never refused
    market_data_lines: Annotated[int, Field(ge=1)] = 100
    market_data: Literal["live", "delayed"] = "live"
    chain_ttl_s: PositiveFloat = 3600.0  # option chains (reqSecDefOptParams + contract details) are kept this long
    status_timeout_s: NonNegFloat = 5.0  # a cancel with no answer this long is resolved by a status query

    @field_validator("client_ids")
    @classmethod
    def _some_ids(cls, v: list[int]) -> list[int]:
        if not v or len(set(v)) != len(v):
            raise ValueError("at least one client id, none twice")
        return v
