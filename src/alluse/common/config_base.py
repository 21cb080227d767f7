"""What every engine's config section is made of: a frozen pydantic model that refuses unknown keys.

Each engine defines its own section beside it (`execution/config.py`, `risk/config.py`, ...) in the units a
person writes (milliseconds, seconds) and reads the clock's nanoseconds through `ms_to_ns`/`s_to_ns`;
`app/config.py` only composes the sections and loads TOML, naming every bad key with its dotted path and value.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

PositiveFloat = Annotated[float, Field(gt=0)]
NonNegFloat = Annotated[float, Field(ge=0)]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
Rate = Annotated[float, Field(ge=0, le=1)]


class ConfigError(Exception):
    """The configuration is unusable; the message names each bad key and its value."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def one_of(value: str, choices: tuple[str, ...], sep: str = ", ") -> str:
    if value not in choices:
        raise ValueError(f"expected one of {sep.join(choices)}")
    return value


def off_is_none(value: Any) -> Any:
    """TOML has no null: optional settings take "off"."""
    return None if value == "off" else value
