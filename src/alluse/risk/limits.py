"""One account's limits in the units the checks compare in (ns, floats for quotes, Decimal for money).

Built once per account from the resolved config, so the per-order path reads plain attributes
and converts nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from alluse.common.clock import NS
from alluse.risk.config import AccountRiskConfig

DAY_NS = 86_400 * NS


@dataclass(slots=True, frozen=True)
class RiskLimits:
    max_order_shares: int
    max_order_contracts: int
    max_order_notional: Decimal
    max_position_shares: int
    max_position_contracts: int
    max_contracts_per_underlying: int
    price_band_pct: float
    price_band_min: float
    max_open_orders: int
    orders_per_second: float
    order_burst: int
    order_interval_ns: int  # the token bucket's refill time for one order
    duplicate_window_ns: int
    put_delta_min: float | None
    put_delta_max: float | None
    min_dte: float
    max_dte: float
    daily_loss_limit: Decimal | None
    max_drawdown: Decimal | None

    @classmethod
    def from_config(cls, cfg: AccountRiskConfig) -> RiskLimits:
        return cls(
            max_order_shares=cfg.max_order_shares,
            max_order_contracts=cfg.max_order_contracts,
            max_order_notional=cfg.max_order_notional,
            max_position_shares=cfg.max_position_shares,
            max_position_contracts=cfg.max_position_contracts,
            max_contracts_per_underlying=cfg.max_contracts_per_underlying,
            price_band_pct=cfg.price_band_pct,
            price_band_min=cfg.price_band_min,
            max_open_orders=cfg.max_open_orders,
            orders_per_second=cfg.orders_per_second,
            order_burst=cfg.order_burst,
            order_interval_ns=max(1, round(NS / cfg.orders_per_second)),
            duplicate_window_ns=round(cfg.duplicate_window_s * NS),
            put_delta_min=cfg.put_delta_min,
            put_delta_max=cfg.put_delta_max,
            min_dte=cfg.min_dte,
            max_dte=cfg.max_dte,
            daily_loss_limit=cfg.daily_loss_limit,
            max_drawdown=cfg.max_drawdown,
        )

    @property
    def has_delta_band(self) -> bool:
        return self.put_delta_min is not None or self.put_delta_max is not None
