"""The strategy section (`[strategy]`): the ALL-USE wheel's sleeves, timing and exits."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from alluse.common.config_base import NonNegFloat, PositiveFloat, Section


class SleeveConfig(Section):
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


class StrategyConfig(Section):
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
