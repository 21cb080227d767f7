"""When things end at the paper venue: DAY orders at the session close, options at expiry.

DAY orders expire at the first session close after they were accepted (the market's hours,
`common.market_hours`), and nothing fills while the market is closed; options expire at
`model.expiry_ns` (the one expiry time the chain service and strategies use too), where a position
settles: worthless, assigned or exercised against the underlying's mid. The fills a settlement
books are made here; the venue books them and tells the client.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal

from alluse.model import Fill, Option, Right, Side, float_decimal

log = logging.getLogger("alluse.brokers.paper")

EXPIRED_WORTHLESS = "expired worthless"
ASSIGNED = "assigned"
EXERCISED = "exercised"

_ZERO = Decimal(0)


def settlement_fills(
    account: str, option: Option, position: int, underlying_mid: float | None, fill_id: Callable[[], str], now: int
) -> tuple[str, list[Fill]]:
    """Close an expiring position at 0; if in the money, deliver the stock at the strike.

    Without a usable underlying quote the option cannot be judged in the money: it is treated as
    worthless and a warning says so. Returns the reason and the fills, the close first.
    """
    settlement_id = f"settle:{account}:{option.id}"
    contracts = abs(position)
    close = Fill(
        client_order_id=settlement_id,
        account=account,
        instrument_id=option.id,
        side=Side.BUY if position < 0 else Side.SELL,
        quantity=contracts,
        price=_ZERO,
        commission=_ZERO,
        ts_event=now,
        fill_id=fill_id(),
        liquidity="X",
    )
    if underlying_mid is None:
        log.warning("no usable quote for %s at expiry of %s: settling as worthless", option.underlying, option.id)
        return EXPIRED_WORTHLESS, [close]
    underlying = float_decimal(underlying_mid)
    in_the_money = underlying < option.strike if option.right is Right.PUT else underlying > option.strike
    if not in_the_money:
        return EXPIRED_WORTHLESS, [close]
    buys_stock = (option.right is Right.PUT) == (position < 0)  # short put / long call take the stock
    delivery = Fill(
        client_order_id=settlement_id,
        account=account,
        instrument_id=option.underlying,
        side=Side.BUY if buys_stock else Side.SELL,
        quantity=contracts * option.multiplier,
        price=option.strike,
        commission=_ZERO,
        ts_event=now,
        fill_id=fill_id(),
        liquidity="X",
    )
    return (ASSIGNED if position < 0 else EXERCISED), [close, delivery]
