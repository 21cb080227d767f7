"""The building blocks of the domain objects: the bad-input error, fast enums and frozen records, money.

Everything that is accounted (order and fill prices, commissions, cash, P&L) is a `Decimal` and every
quantity an integer, so the journal's cash never drifts; market data stays float (quotes are
observations, not money) and becomes money only through `to_money` or `float_decimal`.
"""

from __future__ import annotations

import dataclasses
import enum
from decimal import Decimal
from typing import Any, TypeVar

CENT = Decimal("0.01")
_T = TypeVar("_T")


class InvalidInput(ValueError):
    """Bad input from outside (a user, a feed, a file): names the field and the value."""

    def __init__(self, field_name: str, value: object, reason: str) -> None:
        self.field = field_name
        self.value = value
        self.reason = reason
        super().__init__(f"{field_name}={value!r}: {reason}")


# A value from outside (a caller's order, a config field) whose type is not checked yet. Compiled
# code (alluse.build) checks a typed value's type as it reads it, so a bad one would raise a bare
# TypeError there; a parameter or local of this type (Any) is read unchecked, and the code that holds
# it raises the InvalidInput that names the field.
Unchecked = Any


class FastEnum(enum.Enum):
    """An Enum hashed by identity. Members are singletons compared by identity, so this agrees with
    equality; Enum's own hash is a Python call on the name, and the order path hashes an order's
    status, side and event kinds dozens of times per order (sets, transition tables)."""

    __hash__ = object.__hash__


def fast_frozen(cls: type[_T]) -> type[_T]:
    """For a frozen slots dataclass made on the order path (fills, broker events): an `__init__` that
    sets each slot through its descriptor. The generated one calls `object.__setattr__` per field, a
    large part of what building a Fill costs (docs/performance.md). Still frozen: assignment raises as
    with the generated one. Only for plain fields (no factories, no `__post_init__`)."""
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    if any(f.default_factory is not dataclasses.MISSING or not f.init or f.kw_only for f in fields) or hasattr(
        cls, "__post_init__"
    ):
        raise TypeError(f"{cls.__name__}: fast_frozen takes plain fields only")
    namespace: dict[str, object] = {"__name__": cls.__module__}  # the new __init__'s __module__
    params, body = [], []
    for f in fields:
        namespace[f"_set_{f.name}"] = getattr(cls, f.name).__set__
        if f.default is dataclasses.MISSING:
            params.append(f.name)
        else:
            namespace[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
        body.append(f"    _set_{f.name}(self, {f.name})")
    exec(f"def __init__(self, {', '.join(params)}):\n" + "\n".join(body), namespace)
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"  # type: ignore[attr-defined]
    cls.__init__ = init  # type: ignore[method-assign, assignment]
    return cls


def float_decimal(x: float) -> Decimal:
    """A float as the Decimal of its shortest repr (50.01, not 50.00999...). Through float(): a numpy
    float64's own repr is "np.float64(...)"."""
    return Decimal(repr(float(x)))


def to_money(x: float) -> Decimal:
    """A float observed on a cent grid (quote prices) as an exact Decimal."""
    return Decimal(round(x * 100)) / 100
