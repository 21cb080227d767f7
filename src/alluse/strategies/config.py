"""The strategy section (`[strategy]`): the ALL-USE wheel's sleeves, sizing, timing and exits."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from alluse.common.config_base import NonNegFloat, PositiveFloat, Section

Delta = Annotated[float, Field(gt=0, lt=1)]
Share = Annotated[float, Field(gt=0, le=1)]


class SleeveConfig(Section):
    """One ALL-USE account sleeve: which underlyings it wheels, at what put and covered-call delta, and how
    much of the account's equity each underlying may take (puts are sized from it, at most `max_contracts`)."""

    account: str
    underlyings: list[str]
    delta_min: Delta  # |delta| band of the puts it sells
    delta_max: Delta
    call_delta_min: Delta = 0.20  # delta band of the covered calls written on assigned shares
    call_delta_max: Delta = 0.30
    allocation: Share | None = None  # of the account's equity, per underlying; default max_deployed / underlyings
    max_contracts: Annotated[int, Field(gt=0)] = 50

    @model_validator(mode="after")
    def _check_range(self) -> SleeveConfig:
        if self.delta_min > self.delta_max:
            raise ValueError(f"delta_min {self.delta_min} is above delta_max {self.delta_max}")
        if self.call_delta_min > self.call_delta_max:
            raise ValueError(f"call_delta_min {self.call_delta_min} is above call_delta_max {self.call_delta_max}")
        return self


class StrategyConfig(Section):
    enabled: bool = True
    evaluate_every_s: PositiveFloat = 900.0  # simulated seconds
    # the accounts in this many groups, one group every evaluate_every_s / evaluation_slices: many accounts on one
    # login then do not all send at once into IB's 50 messages a second (docs/scaling.md); each account is still
    # evaluated every evaluate_every_s, and always in the same group (by a hash of its name)
    evaluation_slices: Annotated[int, Field(ge=1, le=10_000)] = 1
    min_dte: NonNegFloat = 1.0  # sell puts with days to expiry in [min_dte, max_dte]
    max_dte: PositiveFloat = 10.0
    take_profit: Annotated[float, Field(gt=0, lt=1)] = 0.5  # buy back once this share of premium is captured
    roll_dte: NonNegFloat = 0.5  # near expiry: roll (if threatened) or let expire (if safely OTM)
    expire_otm_buffer: NonNegFloat = 0.03  # "safely OTM": spot above strike by this fraction
    reprice_every_s: PositiveFloat = 1800.0  # an unfilled entry walks one tick toward the touch
    roll_threatened: bool = False  # near expiry, buy back a threatened option (True) or take assignment (the wheel)
    calls_above_cost: bool = True  # covered calls only at strikes at or above the shares' cost
    max_deployed: Share = 0.8  # of equity: put collateral plus stock held, across the account's underlyings
    entry_after_open_min: Annotated[float, Field(ge=0, le=390)] = 15.0  # no new positions right after the open...
    entry_before_close_min: Annotated[float, Field(ge=0, le=390)] = 15.0  # ...or right before the close
    sleeves: list[SleeveConfig] = Field(
        default_factory=lambda: [
            SleeveConfig(account="Gen-Acc", underlyings=["TSLA", "NVDA"], delta_min=0.40, delta_max=0.50),
            SleeveConfig(account="Rev-Acc", underlyings=["AAPL", "AMZN", "MSFT"], delta_min=0.30, delta_max=0.40),
        ]
    )
