"""The risk section (`[risk]`, `[risk.accounts.<name>]`): the limits each account trades under."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator, model_validator

from alluse.common.config_base import NonNegFloat, PositiveFloat, Section, off_is_none

DeltaBound = Annotated[float, Field(gt=0, lt=1)]
MoneyLimit = Annotated[Decimal, Field(gt=0)]


class AccountRiskConfig(Section):
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
        return off_is_none(v)

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
