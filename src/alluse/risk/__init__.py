"""Pre-trade risk."""

from alluse.risk.gate import Denial, DenyReason, RiskContext, RiskGate, RiskLimits

__all__ = ["Denial", "DenyReason", "RiskContext", "RiskGate", "RiskLimits"]
