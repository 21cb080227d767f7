"""One validated configuration: a TOML file over defaults.

Unknown keys are errors (a typo must not silently fall back to a default when real money
is at stake), and every error names the dotted key and the value it got.
"""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

PositiveFloat = Annotated[float, Field(gt=0)]
NonNegFloat = Annotated[float, Field(ge=0)]


class ConfigError(Exception):
    """The configuration is unusable; the message lists each bad key and its value."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RunConfig(_Section):
    duration_s: PositiveFloat = 60.0  # wall-clock seconds
    speed: PositiveFloat = 8000.0  # simulated seconds per wall second (1 = real time)
    seed: int = 7
    data_dir: str = "data"
    start: str = "auto"  # ISO-8601 UTC start of simulated time, or "auto": last Monday 14:30 UTC

    @field_validator("start")
    @classmethod
    def _check_start(cls, v: str) -> str:
        if v != "auto":
            datetime.fromisoformat(v.replace("Z", "+00:00"))
        return v

    def start_datetime(self, today: datetime | None = None) -> datetime:
        if self.start != "auto":
            dt = datetime.fromisoformat(self.start.replace("Z", "+00:00"))
            return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
        today = today or datetime.now(UTC)
        monday = today - timedelta(days=today.weekday())
        return monday.replace(hour=14, minute=30, second=0, microsecond=0)


class Underlying(_Section):
    spot: PositiveFloat
    vol: Annotated[float, Field(gt=0, le=3)]


class MarketConfig(_Section):
    underlyings: dict[str, Underlying] = Field(
        default_factory=lambda: {
            "TSLA": Underlying(spot=250.0, vol=0.55),
            "NVDA": Underlying(spot=135.0, vol=0.45),
            "AAPL": Underlying(spot=230.0, vol=0.25),
            "AMZN": Underlying(spot=200.0, vol=0.30),
            "MSFT": Underlying(spot=420.0, vol=0.22),
        }
    )
    step_interval_s: PositiveFloat = 300.0  # simulated seconds between market updates
    weekly_expiries: Annotated[int, Field(ge=1, le=8)] = 3
    strikes_each_side: Annotated[int, Field(ge=1, le=50)] = 8
    skew: NonNegFloat = 0.8
    rate: float = 0.04
    options_per_step_fraction: Annotated[float, Field(gt=0, le=1)] = 1.0
    quote_ttl_s: PositiveFloat = 1800.0  # simulated seconds after which a quote is stale
    option_cache_capacity: Annotated[int, Field(ge=1)] = 10_000


Rate = Annotated[float, Field(ge=0, le=1)]


class FaultsConfig(_Section):
    """Faults the paper venue injects (rates per order or event), to rehearse what a real broker does."""

    seed: int = 0
    lose_submit_rate: Rate = 0.0  # the request never arrives
    lose_response_rate: Rate = 0.0  # it arrives, but the answers are lost until the client asks
    drop_ack_rate: Rate = 0.0
    duplicate_event_rate: Rate = 0.0
    delay_rate: Rate = 0.0
    max_delay_ms: NonNegFloat = 0.0
    disconnect_rate: Rate = 0.0
    disconnect_ms: NonNegFloat = 0.0
    pacing_reject_rate: Rate = 0.0
    permanent_reject_rate: Rate = 0.0


class VenueConfig(_Section):
    ack_latency_ms: NonNegFloat = 2.0  # simulated time
    fill_latency_ms: NonNegFloat = 5.0
    session_close_utc_hour: Annotated[int, Field(ge=0, le=23)] = 20
    faults: FaultsConfig = FaultsConfig()


DeltaBound = Annotated[float, Field(gt=0, lt=1)]
MoneyLimit = Annotated[Decimal, Field(gt=0)]


class AccountRiskConfig(_Section):
    """The limits one account trades under. In TOML, `[risk]` sets them for every account and
    `[risk.accounts.<name>]` overrides only the keys it names. Optional limits take "off" (TOML has no null)."""

    max_order_shares: Annotated[int, Field(gt=0)] = 5_000
    max_order_contracts: Annotated[int, Field(gt=0)] = 50
    max_order_notional: MoneyLimit = Decimal(500_000)  # limit price (or mid) x quantity x multiplier
    max_position_shares: Annotated[int, Field(gt=0)] = 10_000  # per stock, projected with working orders
    max_position_contracts: Annotated[int, Field(gt=0)] = 100  # per option series, likewise
    max_contracts_per_underlying: Annotated[int, Field(gt=0)] = 100  # all series of one underlying
    price_band_pct: PositiveFloat = 0.25  # a limit price within this fraction of the mid...
    price_band_min: NonNegFloat = 0.10  # ...or this many dollars, whichever is wider (cheap options)
    max_open_orders: Annotated[int, Field(gt=0)] = 100
    orders_per_second: PositiveFloat = 20.0  # token bucket refill, clock time
    order_burst: Annotated[int, Field(ge=1)] = 40  # token bucket size
    duplicate_window_s: NonNegFloat = 2.0  # clock seconds; 0 turns the duplicate guard off
    put_delta_min: DeltaBound | None = None  # |delta| band for orders that open short puts
    put_delta_max: DeltaBound | None = None
    min_dte: NonNegFloat = 0.5  # days to expiry allowed for orders that open option positions
    max_dte: PositiveFloat = 60.0
    daily_loss_limit: MoneyLimit | None = None  # from the equity at the day's first evaluation; HALTs
    max_drawdown: MoneyLimit | None = None  # from the peak equity seen; HALTs

    @field_validator("put_delta_min", "put_delta_max", "daily_loss_limit", "max_drawdown", mode="before")
    @classmethod
    def _off(cls, v: Any) -> Any:
        return None if v == "off" else v

    @model_validator(mode="after")
    def _check_ranges(self) -> AccountRiskConfig:
        lo, hi = self.put_delta_min, self.put_delta_max
        if lo is not None and hi is not None and lo > hi:
            raise ValueError(f"put_delta_min {lo} is above put_delta_max {hi}")
        if self.min_dte > self.max_dte:
            raise ValueError(f"min_dte {self.min_dte} is above max_dte {self.max_dte}")
        return self


class RiskConfig(AccountRiskConfig):
    """Defaults for every account, then the ALL-USE account types' own put delta bands, then
    `[risk.accounts.<name>]` overrides. `limits_for(account)` is the resolved view."""

    accounts: dict[str, AccountRiskConfig] = Field(default_factory=dict)

    @staticmethod
    def account_type_defaults() -> dict[str, dict[str, Any]]:
        return {
            "Gen-Acc": {"put_delta_min": 0.40, "put_delta_max": 0.50},
            "Rev-Acc": {"put_delta_min": 0.30, "put_delta_max": 0.40},
        }

    @field_validator("accounts")
    @classmethod
    def _check_resolved(cls, accounts: dict[str, AccountRiskConfig], info: Any) -> dict[str, AccountRiskConfig]:
        # an override valid on its own can still clash with the defaults it lands on
        base = {k: v for k, v in info.data.items() if k in AccountRiskConfig.model_fields}
        if len(base) != len(AccountRiskConfig.model_fields):
            return accounts  # a top-level key already failed and is reported on its own
        for name in sorted(accounts.keys() | cls.account_type_defaults().keys()):
            try:
                cls._merge(base, cls.account_type_defaults().get(name, {}), accounts.get(name))
            except ValidationError as exc:
                raise ValueError(f"{name}: {exc.errors()[0]['msg'].removeprefix('Value error, ')}") from None
        return accounts

    def limits_for(self, account: str) -> AccountRiskConfig:
        base = {k: getattr(self, k) for k in AccountRiskConfig.model_fields}
        return self._merge(base, self.account_type_defaults().get(account, {}), self.accounts.get(account))

    @staticmethod
    def _merge(
        base: dict[str, Any], type_defaults: dict[str, Any], override: AccountRiskConfig | None
    ) -> AccountRiskConfig:
        values = base | type_defaults
        if override is not None:
            values |= {k: getattr(override, k) for k in override.model_fields_set}
        return AccountRiskConfig.model_validate(values)


class AccountConfig(_Section):
    cash: Annotated[Decimal, Field(ge=0)]


class SleeveConfig(_Section):
    """One ALL-USE account sleeve: which underlyings it wheels and at what put delta."""

    account: str
    underlyings: list[str]
    delta_min: Annotated[float, Field(gt=0, lt=1)]
    delta_max: Annotated[float, Field(gt=0, lt=1)]
    contracts: Annotated[int, Field(gt=0)] = 1

    @model_validator(mode="after")
    def _check_range(self) -> SleeveConfig:
        if self.delta_min > self.delta_max:
            raise ValueError(f"delta_min {self.delta_min} is above delta_max {self.delta_max}")
        return self


class StrategyConfig(_Section):
    enabled: bool = True
    evaluate_every_s: PositiveFloat = 900.0  # simulated seconds
    min_dte: NonNegFloat = 1.0  # sell puts with days to expiry in [min_dte, max_dte]
    max_dte: PositiveFloat = 10.0
    take_profit: Annotated[float, Field(gt=0, lt=1)] = 0.5  # buy back once this share of premium is captured
    roll_dte: NonNegFloat = 0.5  # near expiry: roll (if threatened) or let expire (if safely OTM)
    expire_otm_buffer: NonNegFloat = 0.03  # "safely OTM": spot above strike by this fraction
    reprice_every_s: PositiveFloat = 1800.0  # an unfilled entry walks one tick toward the touch
    sleeves: list[SleeveConfig] = Field(
        default_factory=lambda: [
            SleeveConfig(account="Gen-Acc", underlyings=["TSLA", "NVDA"], delta_min=0.40, delta_max=0.50),
            SleeveConfig(account="Rev-Acc", underlyings=["AAPL", "AMZN", "MSFT"], delta_min=0.30, delta_max=0.40),
        ]
    )


class ExecutionConfig(_Section):
    """Retries and timeouts of the order manager (simulated time in a simulated run)."""

    max_attempts: Annotated[int, Field(ge=1, le=20)] = 5
    initial_backoff_ms: NonNegFloat = 50.0
    max_backoff_ms: PositiveFloat = 5000.0
    backoff_multiplier: Annotated[float, Field(ge=1, le=100)] = 2.0
    jitter: Annotated[float, Field(ge=0, lt=1)] = 0.2
    ack_timeout_ms: PositiveFloat = 2000.0

    @model_validator(mode="after")
    def _check_backoffs(self) -> ExecutionConfig:
        if self.max_backoff_ms < self.initial_backoff_ms:
            raise ValueError(
                f"max_backoff_ms {self.max_backoff_ms} is below initial_backoff_ms {self.initial_backoff_ms}"
            )
        return self


def _one_of(value: str, choices: tuple[str, ...], sep: str = ", ") -> str:
    if value not in choices:
        raise ValueError(f"expected one of {sep.join(choices)}")
    return value


class JournalConfig(_Section):
    """How the order journal writes (execution/journal.py). The defaults are the fast and safe ones;
    the others trade speed for a stricter record and are what the benchmarks' "before" runs use."""

    synchronous: str = "NORMAL"  # NORMAL survives a process crash; FULL also a power loss
    group_commit: bool = True  # broker events ride along with the next commit; False: a commit each
    flush_ms: Annotated[float, Field(gt=0, le=1000)] = 2.0  # the longest a broker event waits for one
    background_checkpoint: bool = True  # WAL checkpoints on a thread; False: inside a commit, as SQLite does
    intent_log: bool = True  # intents made durable by an append to a log file; False: an SQLite commit each

    @field_validator("synchronous")
    @classmethod
    def _check_sync(cls, v: str) -> str:
        return _one_of(v, ("OFF", "NORMAL", "FULL"))


ALERT_COMPARISONS = (">", ">=", "<", "<=", "==", "!=")
ALERT_SEVERITIES = ("info", "warning", "critical")
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


class AlertRuleConfig(_Section):
    """One alert rule: `metric comparison threshold` held for `for_s` wall seconds fires it.

    `metric` is a series as the collector names it (`name:suffix{labels}`, see monitoring.metrics.Sample);
    whether it exists is checked at start against the collector's series, not here. With
    `clear_threshold` a firing alert resolves only once the value is past it on the good side
    (hysteresis), so a value hovering at the threshold cannot flap.
    """

    name: Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.-]+$")]
    metric: Annotated[str, Field(min_length=1, pattern=r"^\S+$")]
    comparison: str
    threshold: FiniteFloat
    for_s: NonNegFloat = 0.0
    severity: str = "warning"
    clear_threshold: FiniteFloat | None = None
    description: str = ""

    @field_validator("comparison")
    @classmethod
    def _check_comparison(cls, v: str) -> str:
        return _one_of(v, ALERT_COMPARISONS, sep=" ")

    @field_validator("severity")
    @classmethod
    def _check_severity(cls, v: str) -> str:
        return _one_of(v, ALERT_SEVERITIES)

    @model_validator(mode="after")
    def _check_clear(self) -> AlertRuleConfig:
        c, t = self.clear_threshold, self.threshold
        if c is None:
            return self
        if self.comparison in ("==", "!="):
            raise ValueError(f"clear_threshold {c}: not allowed with comparison {self.comparison!r}")
        if self.comparison in (">", ">=") and c > t:
            raise ValueError(f"clear_threshold {c} is above threshold {t}: it must lie on the good side (<=)")
        if self.comparison in ("<", "<=") and c < t:
            raise ValueError(f"clear_threshold {c} is below threshold {t}: it must lie on the good side (>=)")
        return self


class AlertsConfig(_Section):
    """Alert rules and where notifications go. The built-in rules apply unless `default_rules = false`;
    a rule in `rules` with a built-in rule's name replaces it, `disabled_rules` drops built-ins by name.
    Optional settings take "off" (TOML has no null)."""

    default_rules: bool = True
    disabled_rules: list[str] = Field(default_factory=list)
    rules: list[AlertRuleConfig] = Field(default_factory=list)
    log: bool = True  # log each event at a level by severity
    file: str | None = "alerts.jsonl"  # JSON lines, relative to the data dir
    webhook_url: str | None = None  # HTTP(S) POST of a JSON body per event
    webhook_timeout_s: PositiveFloat = 2.0
    webhook_retries: Annotated[int, Field(ge=0, le=10)] = 3  # attempts after the first
    webhook_backoff_s: NonNegFloat = 0.5  # doubled after each failed attempt

    @field_validator("file", "webhook_url", mode="before")
    @classmethod
    def _off(cls, v: Any) -> Any:
        return None if v == "off" else v

    @field_validator("webhook_url")
    @classmethod
    def _check_url(cls, v: str | None) -> str | None:
        if v is not None and not (v.startswith(("http://", "https://")) and len(v.split("/")[2]) > 0):
            raise ValueError("expected an http:// or https:// URL with a host")
        return v

    @field_validator("rules")
    @classmethod
    def _unique_names(cls, rules: list[AlertRuleConfig]) -> list[AlertRuleConfig]:
        seen: set[str] = set()
        for r in rules:
            if r.name in seen:
                raise ValueError(f"rule name {r.name!r} appears twice")
            seen.add(r.name)
        return rules


class MonitoringConfig(_Section):
    """The collector, its store and the Prometheus endpoint (wall-clock time: they watch the process)."""

    enabled: bool = True
    interval_s: Annotated[float, Field(ge=0.05, le=60)] = 1.0
    metrics_port: Annotated[int, Field(ge=0, le=65535)] | None = None  # /metrics and /health; None = off
    metrics_host: str = "127.0.0.1"
    store: bool = True  # data/metrics.db
    retention_s: PositiveFloat = 6 * 3600.0  # raw samples; older ones are kept as 1-minute aggregates
    # most samples per store transaction; smaller bounds each transaction's time, 1 = a transaction per sample
    store_batch_max: Annotated[int, Field(ge=1)] = 10_000

    @field_validator("metrics_port", mode="before")
    @classmethod
    def _off(cls, v: Any) -> Any:
        return None if v == "off" else v


TARGET_STATISTICS = ("mean", "min", "p50", "p95", "p99", "max")


class TargetConfig(_Section):
    """One input of the report's grade: `statistic` of `series` over the window against a limit.

    Exactly one of `at_most` / `at_least`. A miss by at most `tolerance` x the limit scores half."""

    component: Annotated[str, Field(min_length=1, max_length=40)]
    name: Annotated[str, Field(min_length=1, max_length=80)]
    series: Annotated[str, Field(min_length=1, pattern=r"^\S+$")]
    statistic: str = "p95"
    at_most: FiniteFloat | None = None
    at_least: FiniteFloat | None = None
    tolerance: Annotated[float, Field(ge=0, le=10)] = 0.25

    @field_validator("statistic")
    @classmethod
    def _check_statistic(cls, v: str) -> str:
        return _one_of(v, TARGET_STATISTICS)

    @model_validator(mode="after")
    def _one_limit(self) -> TargetConfig:
        if (self.at_most is None) == (self.at_least is None):
            raise ValueError(f"target {self.name!r}: give exactly one of at_most, at_least")
        return self


class AnalyticsConfig(_Section):
    """`alluse report` and the report `alluse run` writes at its end (see analytics/)."""

    report_on_exit: bool = True  # `alluse run` writes a report over its own run
    report_dir: str = "report"  # relative to the data dir unless absolute
    max_grid_rows: Annotated[int, Field(ge=10, le=100_000)] = 1440  # aligned bins: 24 h -> 1-minute bins
    min_points: Annotated[int, Field(ge=3)] = 10  # fewest samples for a trend; anomalies and forecasts need 2x
    trend_alpha: Annotated[float, Field(gt=0, lt=1)] = 0.05  # a trend is significant when p < alpha
    contamination: Annotated[float, Field(gt=0, le=0.5)] = 0.1  # IsolationForest's expected anomaly share
    robust_threshold: Annotated[float, Field(gt=0)] = 5.0  # |value - median| / (1.4826 MAD) that is an outlier
    seed: int = 0  # IsolationForest's random state: the same data gives the same report
    forecast_horizon_s: PositiveFloat = 1800.0
    forecast_history_points: Annotated[int, Field(ge=20, le=100_000)] = 720  # newest bins a forecast fits on
    forecast_series: list[str] | None = None  # fnmatch patterns; None = the key series (analytics.catalog)
    targets: list[TargetConfig] | None = None  # None = the built-in targets (analytics.grading)


class Config(_Section):
    run: RunConfig = RunConfig()
    market: MarketConfig = MarketConfig()
    venue: VenueConfig = VenueConfig()
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
        lines.append(f"  {key} = {err.get('input')!r}: {msg}")
    return "invalid configuration:\n" + "\n".join(lines)


def load_config(path: str | Path | None = None, overrides: dict[str, dict[str, Any]] | None = None) -> Config:
    """Defaults, then the TOML file, then command-line overrides (section -> key -> value)."""
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file {p}: not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {p}: not valid TOML ({exc})") from None
    for section, values in (overrides or {}).items():
        if not isinstance(data.get(section, {}), dict):
            raise ConfigError(f"config key {section!r} must be a table")
        data.setdefault(section, {}).update({k: v for k, v in values.items() if v is not None})
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format(exc)) from None
