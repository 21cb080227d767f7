"""What the ledger is worth at marks, as metrics: kept apart from the ledger, which knows no prices."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal

from alluse.common.metrics import Metric, gauge
from alluse.model import float_decimal
from alluse.portfolio.ledger import Ledger


class LedgerValuation:
    """MetricSource for what the ledger is worth at marks: per account equity (cash plus positions at
    `mark_of`, at cost where there is no mark, as `Ledger.equity`) and gross exposure (the sum of
    |position value|). Kept apart from `Ledger.metrics()` because the ledger knows no prices; give
    it the mark the risk gate's loss limits use, so the two agree."""

    __slots__ = ("ledger", "mark_of")

    def __init__(self, ledger: Ledger, mark_of: Callable[[str], float | None]) -> None:
        self.ledger = ledger
        self.mark_of = mark_of

    def metrics(self) -> Iterator[Metric]:
        ledger, mark_of = self.ledger, self.mark_of
        for account in ledger.accounts():
            gross = Decimal(0)
            for pos in ledger.open_positions(account):
                mark = mark_of(pos.instrument_id)
                unit = pos.avg_cost if mark is None else float_decimal(mark)
                gross += abs(pos.quantity) * unit * pos.multiplier
            yield gauge(
                "alluse_account_equity_usd",
                "Cash plus positions at marks, USD",
                float(ledger.equity(account, mark_of)),
                account=account,
            )
            exposure = "Sum of |position value| at marks, USD"
            yield gauge("alluse_account_gross_exposure_usd", exposure, float(gross), account=account)
