"""Options that expired, settled from IB's positions. IB reports no execution through the API for an expiry,
an assignment or an exercise, only the positions that changed (TWS after its expiry run). So once an option's
expiry time has passed, the active gateway compares what the fills say an account holds with what IB says:
the option gone and the stock moved by the delivery means assigned or exercised at the strike; the option gone
and the stock unchanged means expired worthless. It records those settlements as fills with ids of their own
(`settle:<account>:<option>:close|delivery`, so a second gateway finds them recorded), and the books keep
equal to the broker's. A difference it cannot explain is left alone and logged, never guessed."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal

from alluse.model import Fill, Option, Right, Side, expiry_ns
from alluse.model.registry import InstrumentRegistry

log = logging.getLogger("alluse.cluster.expiry")

SETTLEMENT_PREFIX = "settle:"


@dataclass(frozen=True, slots=True)
class Expired:
    account: str
    option: Option
    held: int  # signed contracts, from the fills
    stock_held: int  # the underlying's shares, from the fills


def expired(positions: dict[tuple[str, str], int], registry: InstrumentRegistry, now_ns: int) -> list[Expired]:
    """The option positions (account, instrument) -> contracts whose expiry has passed."""
    found = []
    for (account, instrument_id), held in sorted(positions.items()):
        instrument = registry.resolve(instrument_id)
        if isinstance(instrument, Option) and held and expiry_ns(instrument) <= now_ns:
            found.append(Expired(account, instrument, held, positions.get((account, instrument.underlying), 0)))
    return found


NEVER = 2**63 - 1  # no option held: nothing expires until a fill opens one


def next_expiry(positions: dict[tuple[str, str], int], registry: InstrumentRegistry, now_ns: int) -> int:
    """The earliest expiry after `now_ns` among the option positions (NEVER without one)."""
    return min((e for (_, instrument_id), held in positions.items() if held
                and isinstance(i := registry.resolve(instrument_id), Option) and (e := expiry_ns(i)) > now_ns),
               default=NEVER)  # fmt: skip


def settlement(item: Expired, broker_positions: dict[str, int], now_ns: int) -> list[Fill] | None:
    """The fills that bring the books to the broker's for an expired option, or None while the broker still
    holds it or its stock moved by something other than the delivery (nothing is guessed)."""
    option, held = item.option, item.held
    if broker_positions.get(option.id, 0) != 0:
        return None  # not settled at the broker yet
    key = f"{SETTLEMENT_PREFIX}{item.account}:{option.id}"
    close = Fill(key, item.account, option.id, Side.BUY if held < 0 else Side.SELL, abs(held), Decimal(0),
                 Decimal(0), now_ns, f"{key}:close", liquidity="X")  # fmt: skip
    moved = broker_positions.get(option.underlying, 0) - item.stock_held
    takes_stock = (option.right is Right.PUT) == (held < 0)  # a short put or a long call takes the stock
    delivered = abs(held) * option.multiplier * (1 if takes_stock else -1)
    if moved == 0:
        return [close]  # expired worthless
    if moved == delivered:
        side = Side.BUY if takes_stock else Side.SELL
        delivery = Fill(key, item.account, option.underlying, side, abs(delivered), option.strike, Decimal(0), now_ns,
                        f"{key}:delivery", liquidity="X")  # fmt: skip
        return [close, delivery]
    log.warning("%s %s expired; the broker's %s moved by %d shares, not 0 or %d: left for the next look",
                item.account, option.id, option.underlying, moved, delivered)  # fmt: skip
    return None
