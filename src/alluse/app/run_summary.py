"""The end-of-run summary, computed from what the run produced.

The consistency line is an independent check, not a restatement: it reopens the journal
file, rebuilds positions and cash from the fills and deposits on disk, and compares them
with the live ledger.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from alluse.app.options_book import (
    OptionsBook,
    book_json,
    build_book,
    ledger_of,
    read_journal,
    to_json_value,
    wheel_of,
)
from alluse.app.system import TradingSystem
from alluse.brokers.base import Broker, FaultInjecting
from alluse.common.clock import TestClock, ns_to_datetime
from alluse.portfolio import Ledger, QualitySummary


@dataclass(slots=True)
class RunSummary:
    """What `alluse run` prints at the end; `book` holds the positions and accounts (app/options_book.py)."""

    journal_path: Path
    wall_seconds: float
    sim_start: str
    sim_end: str
    quotes_accepted: int
    quotes_rejected: dict[str, int]
    cache: dict[str, int]
    orders_this_run: dict[str, int]
    orders_all_time: int
    fills_this_run: int
    settlements_this_run: int
    commissions_this_run: Decimal
    book: OptionsBook
    quality: QualitySummary
    risk_denials: dict[str, int]
    execution: dict[str, int]  # retries, status queries, reconnects... (order-manager counters, non-zero)
    faults_injected: dict[str, int]
    trading_states: dict[str, str]
    strategy: dict[str, int]
    recovered_orders: int
    recovered_open_resolved: int
    session: int
    consistent: bool
    reproducible: bool  # on the virtual clock (a backtest): the same inputs give the same journal
    consistency_detail: list[str] = field(default_factory=list)


RELIABILITY_COUNTERS = (
    "retries",
    "transient_rejects",
    "throttled_rejects",
    "permanent_rejects",
    "gave_up",
    "ack_timeouts",
    "status_queries",
    "send_errors",
    "disconnects",
    "reconnects",
    "reconciliations",
    "adopted",
    "redundant_events",
    "duplicate_fills",
    "late_fills",
    "events_refused",
    "journal_failures",
)


def summary_json(s: RunSummary) -> dict[str, object]:
    """The summary as one JSON object (`alluse run --json`): money as strings, exact (see
    `options_book.to_json_value`); the book as `book_json` gives it, with its notes."""
    out = {f: to_json_value(getattr(s, f)) for f in RunSummary.__dataclass_fields__ if f != "book"}
    out["book"] = book_json(s.book)
    return out


def ledger_from_journal(path: Path) -> Ledger:
    return ledger_of(read_journal(path)[0])


def _positions(ledger: Ledger) -> dict[tuple[str, str], int]:
    return {(p.account, p.instrument_id): p.quantity for p in ledger.open_positions()}


def check_consistency(live: Ledger, journal_path: Path, broker: Broker | None = None) -> list[str]:
    """Differences between the live ledger, one rebuilt from the journal on disk and, if given, the
    broker's own account records (empty = consistent)."""
    disk = ledger_from_journal(journal_path)
    problems = []
    if broker is not None:
        for account in live.accounts():
            snap = broker.account_snapshot(account)
            ours = {p.instrument_id: p.quantity for p in live.open_positions(account)}
            if ours != snap.positions:
                problems.append(f"positions of {account} differ: ours {ours} vs venue {snap.positions}")
            if live.cash.get(account, Decimal(0)) != snap.cash:
                problems.append(f"cash of {account} differs: ours {live.cash.get(account)} vs venue {snap.cash}")
    if _positions(live) != _positions(disk):
        problems.append(f"positions differ: live {_positions(live)} vs journal {_positions(disk)}")
    for account in sorted(set(live.cash) | set(disk.cash)):
        a, b = live.cash.get(account, Decimal(0)), disk.cash.get(account, Decimal(0))
        if a != b:
            problems.append(f"cash of {account} differs: live {a} vs journal {b}")
    return problems


def build_summary(system: TradingSystem, wall_seconds: float, sim_start_ns: int) -> RunSummary:
    c = system.c
    c.journal.flush()  # the checks below reread the file: broker events waiting for a group commit go in first
    session = system.recovery.session if system.recovery else 0
    prefix = f"{c.oms.id_prefix}{session:03d}-"
    this_run = [o for o in c.oms.orders.values() if o.client_order_id.startswith(prefix)]
    this_ids = {o.client_order_id for o in this_run}
    all_fills = read_journal(system.journal_path)[0].fills
    fills = [f for f in all_fills if f.client_order_id in this_ids]
    commissions = sum((f.commission for f in fills), Decimal(0))
    book = build_book(c.ledger, all_fills, system.clock.now_ns(), system.mark, c.chains.rate, c.chains.greeks_for)
    if c.strategy is not None:
        sleeves = system.config.strategy.sleeves
        book.wheel = wheel_of(c.ledger, [(s.account, u) for s in sleeves for u in s.underlyings], c.registry.get)
    problems = check_consistency(c.ledger, system.journal_path, c.broker)
    return RunSummary(
        journal_path=system.journal_path.resolve(),
        wall_seconds=wall_seconds,
        sim_start=f"{ns_to_datetime(sim_start_ns):%a %Y-%m-%d %H:%M}",
        sim_end=f"{ns_to_datetime(system.clock.now_ns()):%a %Y-%m-%d %H:%M}",
        quotes_accepted=c.engine.accepted,
        quotes_rejected={r.value: n for r, n in c.engine.rejected.items()},
        cache=c.cache.snapshot(),
        orders_this_run=dict(Counter(o.status.value for o in this_run)),
        orders_all_time=len(c.oms.orders),
        fills_this_run=len(fills),
        settlements_this_run=c.oms.counters.settlements,
        commissions_this_run=commissions,
        book=book,
        quality=c.quality.summary(),
        risk_denials={r.value: n for r, n in c.risk.denials.items() if n},
        execution={k: v for k in RELIABILITY_COUNTERS if (v := getattr(c.oms.counters, k))},
        faults_injected=_faults_injected(c.broker),
        trading_states={a: f"{c.risk.states.get(a).value}" for a in system.config.accounts},
        strategy={} if c.strategy is None else {k: getattr(c.strategy.stats, k) for k in c.strategy.stats.__slots__},
        recovered_orders=system.recovery.orders if system.recovery else 0,
        recovered_open_resolved=len(system.recovery.reconcile.resolved) if system.recovery else 0,
        session=session,
        consistent=not problems,
        reproducible=isinstance(system.clock, TestClock),
        consistency_detail=problems,
    )


def _faults_injected(broker: Broker) -> dict[str, int]:
    counts = broker.fault_counts() if isinstance(broker, FaultInjecting) else {}
    return {getattr(kind, "value", str(kind)): n for kind, n in counts.items()}
