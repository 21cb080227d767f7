"""Pre-trade risk: the gate every order passes, trading states, loss and drawdown limits.

Front door: build a `RiskGate(RiskContext(...), config.risk, TradingStates(...))`, `attach` it
to the bus, `rebuild()` it after recovery; the order manager calls `check(order)`, the system
calls `evaluate(now_ns)` periodically.
"""

from alluse.risk.denial import Denial, DenyReason
from alluse.risk.gate import RiskContext, RiskGate
from alluse.risk.limits import RiskLimits
from alluse.risk.states import StateChangeHandler, TradingStates

__all__ = [
    "Denial",
    "DenyReason",
    "RiskContext",
    "RiskGate",
    "RiskLimits",
    "StateChangeHandler",
    "TradingStates",
]
