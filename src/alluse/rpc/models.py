"""What the API answers, as pydantic models: the OpenAPI schema is generated from them, and every response is
checked against its model. Money is a Decimal (a JSON string: exact), times are ISO 8601 UTC beside epoch ns, and
a figure that cannot be known is null, never 0."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from alluse.app.order_view import OrderView
from alluse.app.status import PositionView

__all__ = ["OrderView"]  # the API answers orders with the model `alluse orders --json` prints


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class AccountOut(_Out):
    account: str
    trading_state: str  # active, reducing, halted
    equity_usd: Decimal
    cash_usd: Decimal
    buying_power_used_usd: Decimal  # the cash securing short puts plus long stock at market
    realized_net_usd: Decimal
    unrealized_usd: Decimal | None  # null where a position has no mark
    return_on_deposits: float | None
    open_orders: int
    fills: int


class PositionOut(PositionView):
    """The journal's view of a position (app/status.py) with what only a running system knows: its greeks."""

    iv: float | None
    delta: float | None  # shares, the whole position
    theta: float | None  # money per calendar day, the whole position


class FillOut(_Out):
    client_order_id: str
    execution_id: str
    account: str
    instrument_id: str
    side: str
    quantity: int
    price: Decimal
    commission_usd: Decimal
    time: datetime
    ts_ns: int


class AlertRuleOut(_Out):
    rule: str
    kind: str  # threshold, predicted, anomaly
    severity: str
    status: str  # inactive, pending, firing
    metric: str
    condition: str
    value: float | None  # the last value seen; null before the first
    since: datetime | None
    insufficient_data: bool  # no value at the last evaluation: the rule cannot fire now


class MarketDataOut(_Out):
    market_open: bool
    quotes_accepted: int
    quotes_rejected: dict[str, int]  # by reason
    last_quote_age_s: float | None  # wall seconds
    cache: dict[str, float | int | None]  # the quote cache's counters and hit ratio
    lines: dict[str, int] | None  # market-data lines in use and the budget (IB), null for the simulated market


class ConnectionOut(_Out):
    broker: str
    connected: bool
    ready: bool
    not_ready: list[str]
    detail: dict[str, object]  # the broker's own health report


class StatusOut(_Out):
    ready: bool
    data_dir: str  # absolute: which run this is (`alluse status` asks the API only about its own data dir)
    version: str
    build: str  # compiled or pure
    clock: datetime  # the trading clock (simulated time in a simulated run)
    speed: float  # simulated seconds per wall second
    session: int  # the journal's session number of this run
    trading_states: dict[str, str]
    open_orders: int
    fills: int
    firing_alerts: list[str]
