"""What the API's controls do to the running system: trading states, cancel all, flatten. Each is applied on
the loop at once, and journaled as a CONTROL event with who asked and when (`Journal.record_control`); a state
change is also journaled as the trading state's own record, with the source "api"."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import HTTPException
from pydantic import BaseModel, ConfigDict, Field

from alluse.app.system import TradingSystem
from alluse.common.clock import ns_to_datetime
from alluse.model import Order, OrderStatus, OrderType, Side, TradingState

SOURCE = "api"
_STATE_OF = {"halt": TradingState.HALTED, "reducing": TradingState.REDUCING, "resume": TradingState.ACTIVE}


class StateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    accounts: list[str] = Field(default_factory=list, description="the accounts; empty is every account")
    reason: str = Field("", max_length=500)


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account: str | None = Field(None, description="the account; null is every account")


class FlattenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account: str


class ControlOut(BaseModel):
    """One control as applied and journaled."""

    action: str
    accounts: list[str]
    who: str
    at: datetime  # wall time, UTC
    changed: list[str] = []  # accounts whose trading state changed
    cancelled: int = 0  # working orders asked to cancel
    orders: list[str] = []  # closing orders sent (flatten)
    denied: dict[str, str] = {}  # closing orders the risk gate refused, with why


def _accounts(system: TradingSystem, given: list[str]) -> list[str]:
    known = list(system.config.accounts)
    for account in given:
        if account not in known:
            raise HTTPException(422, f"account {account!r}: not traded here (known: {', '.join(known)})")
    return list(dict.fromkeys(given)) or known


def _record(system: TradingSystem, out: ControlOut, detail: str) -> ControlOut:
    journal = system.c.journal
    now = system.clock.now_ns()
    for account in out.accounts:
        journal.record_control(out.action, account, f"{out.who} at {out.at:%Y-%m-%d %H:%M:%S} UTC: {detail}", now)
    return out


def set_state(system: TradingSystem, action: str, body: StateIn, who: str) -> ControlOut:
    accounts = _accounts(system, body.accounts)
    state = _STATE_OF[action]
    reason = f"{body.reason or action} ({who})"
    changed = [a for a in accounts if system.c.states.set(a, state, reason, SOURCE)]
    out = ControlOut(action=action, accounts=accounts, who=who, at=datetime.now(UTC), changed=changed)
    return _record(system, out, f"{state.value}: {body.reason or '-'}; changed {changed or 'none'}")


def cancel_all(system: TradingSystem, body: CancelIn, who: str) -> ControlOut:
    accounts = _accounts(system, [] if body.account is None else [body.account])
    cancelled = sum(system.c.oms.cancel_all(a) for a in accounts)
    out = ControlOut(action="cancel_all", accounts=accounts, who=who, at=datetime.now(UTC), cancelled=cancelled)
    return _record(system, out, f"{cancelled} working orders asked to cancel")


def flatten(system: TradingSystem, body: FlattenIn, who: str) -> ControlOut:
    """The account's working orders cancelled, then a market order closing each open position."""
    (account,) = _accounts(system, [body.account])
    c = system.c
    cancelled = c.oms.cancel_all(account)
    sent, denied = [], {}
    for pos in c.ledger.open_positions(account):
        side = Side.SELL if pos.quantity > 0 else Side.BUY
        order = Order(c.oms.next_client_order_id(), account, pos.instrument_id, side, abs(pos.quantity),
                      order_type=OrderType.MARKET, tag="flatten")  # fmt: skip
        c.oms.submit(order)
        if order.status is OrderStatus.DENIED:
            denied[order.client_order_id] = order.reason
        else:
            sent.append(order.client_order_id)
    out = ControlOut(action="flatten", accounts=[account], who=who, at=datetime.now(UTC), cancelled=cancelled,
                     orders=sent, denied=denied)  # fmt: skip
    return _record(system, out, f"{cancelled} cancelled, {len(sent)} closing orders sent, {len(denied)} denied")


def journaled(system: TradingSystem) -> list[dict[str, object]]:
    """Every control in the journal, oldest first (this run's and earlier runs')."""
    return [
        {"at": ns_to_datetime(ts).isoformat(), "ts_ns": ts, "account": account, "action": action, "detail": detail}
        for ts, account, action, detail in system.c.journal.controls()
    ]
