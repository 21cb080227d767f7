"""One validated configuration: a TOML file over defaults, composed of the engines' own sections.

Each engine defines its section beside it (e.g. `execution/config.py`); this module only adds what
belongs to the application (the run, the accounts), composes them and loads TOML. Unknown keys are
errors (a typo must not silently fall back to a default when real money is at stake), and every error
names the dotted key and the value it got.
"""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import Field, ValidationError, field_validator, model_validator

from alluse.analytics.config import AnalyticsConfig
from alluse.brokers.ibkr.config import IbkrConfig
from alluse.brokers.ibkr.gateway.config import GatewayConfig
from alluse.brokers.paper.config import PaperVenueConfig
from alluse.common.config_base import ConfigError, PositiveFloat, Section
from alluse.execution.config import ExecutionConfig, JournalConfig
from alluse.marketdata.config import MarketConfig
from alluse.monitoring.config import AlertsConfig, MonitoringConfig
from alluse.risk.config import RiskConfig
from alluse.strategies.config import StrategyConfig

__all__ = ["AccountConfig", "Config", "ConfigError", "RunConfig", "load_config", "load_config_as"]

MAX_CONFIG_BYTES = 1 << 20  # a config is a few kB
C = TypeVar("C", bound="Config")


class RunConfig(Section):
    duration_s: PositiveFloat = 60.0  # wall-clock seconds
    speed: Annotated[float, Field(gt=0, le=1e7, allow_inf_nan=False)] = 8000.0  # simulated s per wall s (1 = real time)
    seed: Annotated[int, Field(ge=0)] = 7  # numpy's generators take no negative seed
    data_dir: str = "data"
    start: str = "auto"  # ISO-8601 UTC start of simulated time, "auto": last Monday 14:30 UTC, or "now"
    broker: str = "paper"  # a name in the kernel's broker registry (app/kernel.py BROKERS)

    @field_validator("start")
    @classmethod
    def _check_start(cls, v: str) -> str:
        if v not in ("auto", "now"):
            datetime.fromisoformat(v.replace("Z", "+00:00"))
        return v

    def start_datetime(self, today: datetime | None = None) -> datetime:
        if self.start == "now":
            return today or datetime.now(UTC)
        if self.start != "auto":
            dt = datetime.fromisoformat(self.start.replace("Z", "+00:00"))
            return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
        today = today or datetime.now(UTC)
        monday = today - timedelta(days=today.weekday())
        return monday.replace(hour=14, minute=30, second=0, microsecond=0)


class AccountConfig(Section):
    cash: Annotated[Decimal, Field(ge=0)]


class Config(Section):
    run: RunConfig = RunConfig()
    market: MarketConfig = MarketConfig()
    venue: PaperVenueConfig = PaperVenueConfig()
    ibkr: IbkrConfig = IbkrConfig()
    gateway: GatewayConfig = GatewayConfig()  # the local TWS-protocol gateway (ibkr.local_gateway, `alluse gateway`)
    risk: RiskConfig = RiskConfig()
    journal: JournalConfig = JournalConfig()
    execution: ExecutionConfig = ExecutionConfig()
    monitoring: MonitoringConfig = MonitoringConfig()
    alerts: AlertsConfig = AlertsConfig()
    analytics: AnalyticsConfig = AnalyticsConfig()
    accounts: dict[str, AccountConfig] = Field(
        default_factory=lambda: {
            "Gen-Acc": AccountConfig(cash=Decimal(100_000)),
            "Rev-Acc": AccountConfig(cash=Decimal(150_000)),
        }
    )
    strategy: StrategyConfig = StrategyConfig()

    @model_validator(mode="after")
    def _cross_checks(self) -> Config:
        real_ib = self.run.broker == "ibkr" and not self.ibkr.local_gateway
        if real_ib and (self.run.speed != 1 or self.run.start != "now"):
            raise ValueError(f"run.speed = {self.run.speed}, run.start = {self.run.start!r}: a real IB gateway trades "
                             "in real time; set speed = 1.0 and start = \"now\"")  # fmt: skip
        if 0 < self.analytics.warmup_s < self.monitoring.window_s:
            raise ValueError(f"analytics.warmup_s = {self.analytics.warmup_s:g}: shorter than monitoring.window_s "
                             f"({self.monitoring.window_s:g}), whose windowed series carry start-up for a whole "
                             "window; raise it, or 0 to keep start-up in")  # fmt: skip
        for name in self.risk.accounts:
            if name not in self.accounts:
                raise ValueError(f"risk.accounts.{name}: not in [accounts] (a typo would silently apply no limits)")
        for i, sleeve in enumerate(self.strategy.sleeves):
            if sleeve.account not in self.accounts:
                raise ValueError(f"strategy.sleeves.{i}.account = {sleeve.account!r}: not in [accounts]")
            for u in sleeve.underlyings:
                if u not in self.market.underlyings:
                    raise ValueError(f"strategy.sleeves.{i}.underlyings: {u!r} is not in [market.underlyings]")
        return self


def _format(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        if not err["loc"]:  # a check across sections: its message names the keys and values itself
            lines.append(f"  {msg.removeprefix('Value error, ')}")
            continue
        lines.append(f"  {key} = {err.get('input')!r}: {msg}")
    return "invalid configuration: " + "; ".join(line.strip() for line in lines)  # one line: a person greps it


def _read_text(p: Path) -> str:
    """The file as text, read no further than MAX_CONFIG_BYTES: a data file or a device given by mistake is named
    and refused, not loaded whole."""
    try:
        with p.open("rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"config file {p}: not found") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {p}: is a directory") from None
    except OSError as exc:  # no permission, an unreadable device
        raise ConfigError(f"config file {p}: cannot be read ({exc.strerror or exc})") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"config file {p}: larger than {MAX_CONFIG_BYTES >> 10} KiB, so not a config file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {p}: not UTF-8 text (byte {exc.start} is {raw[exc.start]:#04x})") from None


def load_config(path: str | Path | None = None, overrides: dict[str, dict[str, Any]] | None = None) -> Config:
    """Defaults, then the TOML file, then command-line overrides (section -> key -> value)."""
    return load_config_as(Config, path, overrides)


def load_config_as(
    model: type[C], path: str | Path | None = None, overrides: dict[str, dict[str, Any]] | None = None
) -> C:
    """`load_config` for a configuration with more sections than a run's (the cluster's processes)."""
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        try:
            data = tomllib.loads(_read_text(p))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {p}: not valid TOML ({exc})") from None
    for section, values in (overrides or {}).items():
        if not isinstance(data.get(section, {}), dict):
            raise ConfigError(f"config key {section!r} must be a table")
        data.setdefault(section, {}).update({k: v for k, v in values.items() if v is not None})
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format(exc)) from None
