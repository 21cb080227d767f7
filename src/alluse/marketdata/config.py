"""The market-data section (`[market]`): the simulated market's underlyings and chains, and the quote cache."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from alluse.common.clock import s_to_ns
from alluse.common.config_base import FiniteFloat, PositiveFloat, Section
from alluse.model import Equity, InvalidInput


class Underlying(Section):
    spot: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    vol: Annotated[float, Field(gt=0, le=3)]  # annual


class MarketConfig(Section):
    """`option_spread` is the option spread as a fraction of the option's value (before rounding out to
    ticks); `vol_clip` bounds the skewed vol as multiples of the underlying's vol."""

    underlyings: dict[str, Underlying] = Field(
        default_factory=lambda: {
            "TSLA": Underlying(spot=250.0, vol=0.55),
            "NVDA": Underlying(spot=135.0, vol=0.45),
            "AAPL": Underlying(spot=230.0, vol=0.25),
            "AMZN": Underlying(spot=200.0, vol=0.30),
            "MSFT": Underlying(spot=420.0, vol=0.22),
        }
    )
    step_interval_s: PositiveFloat = 300.0  # simulated seconds between market updates (the chains repriced)
    stock_step_interval_s: PositiveFloat | None = None  # stocks move and quote this often (None: with the chains)
    weekly_expiries: Annotated[int, Field(ge=1, le=8)] = 3
    strikes_each_side: Annotated[int, Field(ge=0, le=50)] = 8
    skew: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.8
    drift: FiniteFloat = 0.0  # annual, of every underlying
    rate: FiniteFloat = 0.04
    option_spread: Annotated[float, Field(gt=0, lt=1)] = 0.03
    vol_clip: tuple[PositiveFloat, PositiveFloat] = (0.25, 4.0)
    options_per_step_fraction: Annotated[float, Field(gt=0, le=1)] = 1.0
    quote_ttl_s: PositiveFloat = 1800.0  # simulated seconds after which a quote is stale
    # the sessions: "XNYS" (US equity options' regular hours, holidays and early closes from exchange_calendars)
    # or "24/7" (always open; DAY orders expire at venue.session_close_utc_hour)
    calendar: Literal["XNYS", "24/7"] = "XNYS"
    option_cache_capacity: Annotated[int, Field(ge=1)] = 10_000

    @field_validator("underlyings")
    @classmethod
    def _check_tickers(cls, underlyings: dict[str, Underlying]) -> dict[str, Underlying]:
        if not underlyings:
            raise ValueError("at least one underlying")
        for ticker in underlyings:
            try:
                Equity(ticker)
            except InvalidInput as exc:
                raise ValueError(f"{ticker!r}: {exc.reason}") from None
        return underlyings

    @model_validator(mode="after")
    def _check_clip(self) -> MarketConfig:
        lo, hi = self.vol_clip
        if not lo <= 1 <= hi:
            raise ValueError(f"vol_clip {self.vol_clip}: must be (lo, hi) with 0 < lo <= 1 <= hi")
        return self

    @model_validator(mode="after")
    def _check_stock_step(self) -> MarketConfig:
        stock = self.stock_step_interval_s
        if stock is not None and stock > self.step_interval_s:
            raise ValueError(f"stock_step_interval_s {stock}: must not exceed step_interval_s {self.step_interval_s}")
        return self

    @property
    def step_interval_ns(self) -> int:
        return s_to_ns(self.step_interval_s)

    @property
    def stock_step_interval_ns(self) -> int:
        """How often the stocks move and quote: at least as often as the chains."""
        return s_to_ns(self.stock_step_interval_s) if self.stock_step_interval_s is not None else self.step_interval_ns

    @property
    def quote_ttl_ns(self) -> int:
        return s_to_ns(self.quote_ttl_s)
