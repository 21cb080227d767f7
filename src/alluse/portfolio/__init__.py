"""Portfolio and trade monitoring: positions, cash, P&L and execution quality."""

from alluse.portfolio.ledger import AccountTotals, Ledger
from alluse.portfolio.quality import ExecutionQuality, FillQuality, QualitySummary

__all__ = ["AccountTotals", "ExecutionQuality", "FillQuality", "Ledger", "QualitySummary"]
