"""A data dir as a short run leaves it, written here through the stores' own APIs in milliseconds: a journal
(a session, deposits, orders in several states, fills, an operator's halt), a metrics store (the broker's last
connection samples) and an alert history (one rule still firing, one resolved)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from alluse.common.clock import NS
from alluse.common.metrics import Sample
from alluse.execution.journal import JOURNAL_FILE, Journal
from alluse.marketdata.pricing import DAY_NS
from alluse.model import Fill, Option, Order, OrderStatus, Right, Side, expiry_ns
from alluse.monitoring.alert_events import AlertEvent, AlertStatus
from alluse.monitoring.alert_history import ALERTS_FILE, AlertHistory
from alluse.monitoring.store import METRICS_FILE, MetricsStore

PUT = Option("TSLA", Option.from_occ("TSLA  261218P00250000").expiry, Decimal("250"), Right.PUT)
CALL = Option("NVDA", Option.from_occ("NVDA  261218C00150000").expiry, Decimal("150"), Right.CALL)
T0 = expiry_ns(PUT) - 7 * DAY_NS  # the session's start (the trading clock)
LONG_REASON = "cancel requested by the operator at the end of the week, before the holiday"


def strict_json(text: str) -> dict:
    """A command's output as one line of strict JSON (a NaN or an infinity fails it)."""
    assert text.count("\n") == 1, text

    def refuse(constant: str) -> None:
        raise AssertionError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


@dataclass(frozen=True)
class Written:
    """What was written, for the tests to compare against (never hard-coded figures)."""

    path: Path
    orders: tuple[Order, ...]
    open_order: Order
    halted_at: int
    ended_at: int | None
    disconnected_at: int | None = None  # the metrics store's last sample (wall clock)
    alerts: tuple[AlertEvent, ...] = ()


def _order(coid: str, account: str, option: Option, side: Side, qty: int, status: OrderStatus, ts: int,
           filled: int = 0, reason: str = "") -> Order:  # fmt: skip
    return Order(coid, account, option.id, side, qty, limit_price=Decimal("5.00"), status=status, filled_qty=filled,
                 avg_fill_price=Decimal("5.00") if filled else Decimal(0), venue_order_id=f"V-{coid}", ts_created=ts,
                 ts_last=ts + NS, reason=reason, tag="open")  # fmt: skip


def write_journal(path: Path, *, end: bool = True, intent_log: bool = True) -> Written:
    """The journal alone; `end=False` leaves the session without its end record (a run killed or still running)."""
    journal = Journal(path / JOURNAL_FILE, intent_log=intent_log)
    journal.start_session(T0)
    journal.record_deposit("Gen-Acc", Decimal(100_000), T0)
    journal.record_deposit("Rev-Acc", Decimal(150_000), T0)
    orders = (
        _order("AU001-000001", "Gen-Acc", PUT, Side.SELL, 2, OrderStatus.FILLED, T0 + 10 * NS, filled=2),
        _order("AU001-000002", "Gen-Acc", PUT, Side.SELL, 1, OrderStatus.CANCELED, T0 + 20 * NS, reason=LONG_REASON),
        _order("AU001-000003", "Rev-Acc", CALL, Side.BUY, 1, OrderStatus.ACCEPTED, T0 + 30 * NS),
    )
    for o in orders:
        journal.record_order(o, "TEST", o.ts_last, intent=False)
    fill = Fill("AU001-000001", "Gen-Acc", PUT.id, Side.SELL, 2, Decimal("5.00"), Decimal("1.30"), T0 + 11 * NS, "f1")
    journal.record_settlement("Gen-Acc", "test fills", (fill,), T0 + 11 * NS)
    halted_at = T0 + 40 * NS
    journal.record_trading_state("Gen-Acc", "HALTED", "end of week", "cli", halted_at)
    ended_at = T0 + 50 * NS if end else None
    if ended_at is not None:
        journal.end_session(ended_at)
    journal.close()
    return Written(path, orders, orders[2], halted_at, ended_at)


def write_data_dir(path: Path, *, end: bool = True) -> Written:
    """The journal, plus a metrics store whose last sample says the broker was disconnected, and an alert history."""
    written = write_journal(path, end=end)
    store = MetricsStore(path / METRICS_FILE)
    t = store_time = 1_700_000_000 * NS
    store.submit([Sample('alluse_broker_info{broker="paper"}', t, 1.0), Sample("alluse_broker_connected", t, 1.0)])
    t += 5 * NS
    store.submit([Sample('alluse_broker_info{broker="paper"}', t, 1.0), Sample("alluse_broker_connected", t, 0.0)])
    assert store.close(), "metrics store flushed"
    history = AlertHistory(path / ALERTS_FILE)
    at, stale, down = store_time, "alluse_quote_age_seconds", "alluse_broker_connected"
    events = (
        AlertEvent("quote_stale", "warning", AlertStatus.FIRING, stale, ">", 9.0, 5.0, at, at),
        AlertEvent("quote_stale", "warning", AlertStatus.RESOLVED, stale, ">", 1.0, 5.0, at + NS, at),
        AlertEvent("broker_disconnected", "critical", AlertStatus.FIRING, down, "==", 0.0, 0.0, t, t, "broker down"),
    )
    for e in events:
        history.record(e)
    history.close()
    return Written(path, written.orders, written.open_order, written.halted_at, written.ended_at, t, events)
