"""Trading state per account: ACTIVE, REDUCING (only orders that shrink a position) or HALTED.

The state lives here and only changes through `set`, which tells one listener (`on_change`)
about every real change. The system wires that listener to the journal, so a halt survives a
restart (the recovered states are seeded back at start), and to the order manager, so a
HALT cancels what is still working. The state changes in memory before the listener runs: a
halt takes effect even when the listener fails, and the failure reaches the caller.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping

from alluse.model import InvalidInput, TradingState, Unchecked

log = logging.getLogger("alluse.risk.states")


StateChangeHandler = Callable[[str, TradingState, TradingState, str, str], None]  # account, old, new, reason, source


class TradingStates:
    def __init__(
        self,
        accounts: Iterable[str] = (),
        on_change: StateChangeHandler | None = None,
        initial: Mapping[str, TradingState] | None = None,
    ) -> None:
        self.on_change = on_change
        self.states: dict[str, TradingState] = {a: TradingState.ACTIVE for a in accounts}
        self.reasons: dict[str, str] = {}
        self.changes = 0
        for account, state in (initial or {}).items():
            self.seed(account, state)

    @property
    def accounts(self) -> list[str]:
        return list(self.states)

    def snapshot(self) -> dict[str, TradingState]:
        return dict(self.states)

    def get(self, account: str) -> TradingState:
        return self.states.get(account, TradingState.ACTIVE)

    def reason(self, account: str) -> str:
        return self.reasons.get(account, "")

    def seed(self, account: str, state: Unchecked, reason: str = "recovered at start") -> None:
        """Restore a state found in the journal at start; not a change, so `on_change` is not called."""
        new = _state(state)
        if account not in self.states:
            log.warning("recovered state %s for %s ignored: not a configured account", new.value, account)
            return
        self.states[account] = new
        self.reasons[account] = reason

    def set(self, account: Unchecked, state: Unchecked, reason: str, source: str) -> bool:
        """Change an account's state; False (and no callback) when it already is in that state."""
        new = _state(state)
        old = self.states.get(account)
        if old is None:
            known = ", ".join(self.states) or "none"
            raise InvalidInput("account", account, f"unknown account (known: {known})")
        if old is new:
            return False
        self.states[account] = new
        self.reasons[account] = reason
        self.changes += 1
        log.warning("%s: %s -> %s by %s (%s)", account, old.value, new.value, source, reason)
        if self.on_change is not None:
            self.on_change(account, old, new, reason, source)
        return True

    def set_all(self, state: Unchecked, reason: str, source: str) -> list[str]:
        """Every account to `state`; returns the accounts that changed."""
        return [a for a in list(self.states) if self.set(a, state, reason, source)]


def _state(state: Unchecked) -> TradingState:  # a TradingState or its name
    if isinstance(state, TradingState):
        return state
    try:
        return TradingState(state)
    except ValueError:
        raise InvalidInput("state", state, "must be ACTIVE, REDUCING or HALTED") from None
