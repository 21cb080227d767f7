"""`[cluster]`: where the cluster's PostgreSQL and Redis are, which broker login this gateway serves, and the
lease's timing. A cluster process reads the whole configuration (`ClusterFileConfig`: the single-process
sections, [ibkr] among them, and this one); `alluse cluster up` writes a file with the servers it started."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

from pydantic import Field, ValidationInfo, field_validator, model_validator

from alluse.app.config import Config
from alluse.common.clock import LiveClock, anchored_now_ns, datetime_to_ns
from alluse.common.config_base import NonNegFloat, PositiveFloat, Section


class ClusterConfig(Section):
    login: str = "DU0001"  # the broker login (one gateway service holds it at a time)
    postgres: str = ""  # DSN, e.g. postgresql://alluse:PASSWORD@127.0.0.1:5432/postgres
    redis: str = ""  # URL, e.g. redis://:PASSWORD@127.0.0.1:6379/0
    lease_ttl_s: PositiveFloat = 5.0  # a standby takes over this long after the active gateway last renewed
    send_margin_s: NonNegFloat = 0.5  # the active gateway stops sending this long before its lease could run out
    renew_every_s: PositiveFloat = 1.0
    standby_poll_s: PositiveFloat = 0.25  # how often a standby tries to take the lease
    start_timeout_s: PositiveFloat = 60.0  # a gateway that took the lease gives it up if it cannot start in this long
    command_batch: Annotated[int, Field(ge=1)] = 200
    events_maxlen: Annotated[int, Field(ge=1000)] = 1_000_000  # the events stream is trimmed to about this length
    # one simulated clock for every process of the cluster (the local TWS gateway's too: `alluse gateway --start
    # --anchor --speed`): it read `sim_start` at wall time `clock_anchor_unix`. Speed 1 with no start: the wall
    speed: Annotated[float, Field(gt=0, le=1e6)] = 1.0
    sim_start: str = ""  # ISO-8601 UTC
    clock_anchor_unix: NonNegFloat = 0.0
    agent_timeout_s: PositiveFloat = 10.0  # an agent silent this long loses its accounts to the others
    heartbeat_every_s: PositiveFloat = 1.0  # how often an agent beats and looks at its share of the accounts
    # every process's metrics go to PostgreSQL once per history_every_s, and are kept history_retention_s
    history_every_s: PositiveFloat = 10.0
    history_retention_s: PositiveFloat = 2 * 86_400.0
    history_per_account: bool = False  # each account's own series too (about ten rows per account each time)

    @field_validator("renew_every_s")
    @classmethod
    def _renewed_in_time(cls, renew_every_s: float, info: ValidationInfo) -> float:
        """A field's own error: a whole-section one would print the section, passwords and all."""
        if "lease_ttl_s" in info.data and "send_margin_s" in info.data:
            window = info.data["lease_ttl_s"] - info.data["send_margin_s"]
            if renew_every_s >= window:
                raise ValueError(f"must be shorter than lease_ttl_s - send_margin_s = {window:g}: the active gateway "
                                 "would stop sending between its renewals")  # fmt: skip
        return renew_every_s

    @field_validator("heartbeat_every_s")
    @classmethod
    def _beats_in_time(cls, heartbeat_every_s: float, info: ValidationInfo) -> float:
        timeout = info.data.get("agent_timeout_s")
        if timeout is not None and heartbeat_every_s * 2 > timeout:
            raise ValueError(f"must be at most half of agent_timeout_s = {timeout:g}: one late beat would cost the "
                             "agent its accounts")  # fmt: skip
        return heartbeat_every_s


class ClusterFileConfig(Config):
    cluster: ClusterConfig = ClusterConfig()

    @model_validator(mode="after")
    def _one_clock(self) -> ClusterFileConfig:
        c = self.cluster
        if c.speed != 1 or c.sim_start:
            if not c.sim_start or not c.clock_anchor_unix:
                raise ValueError(f"cluster.speed = {c.speed:g}: a simulated clock needs cluster.sim_start and "
                                 "cluster.clock_anchor_unix, the same in every process")  # fmt: skip
            if self.market.calendar != "24/7":
                raise ValueError(f"market.calendar = {self.market.calendar!r}: a simulated cluster clock needs "
                                 '"24/7" (each process would skip closed hours on its own, out of step)')  # fmt: skip
        return self


def cluster_clock(config: ClusterConfig, loop: asyncio.AbstractEventLoop) -> LiveClock:
    """The cluster's clock in this process: the wall, or the shared simulated one."""
    if not config.sim_start:
        return LiveClock(loop, speed=1.0)
    start = datetime_to_ns(datetime.fromisoformat(config.sim_start.replace("Z", "+00:00")))
    return LiveClock(loop, speed=config.speed, start_ns=anchored_now_ns(start, config.clock_anchor_unix, config.speed))
