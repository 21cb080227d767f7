"""Alert history: every FIRING and RESOLVED event, in SQLite (WAL) in a file of its own (data/alerts.db).

Separate from the metrics store so that a full or locked metrics database never loses the record
of the alert that says so. Schema (version SCHEMA_VERSION in `meta`, upgraded by a writable open with
the steps in MIGRATIONS, none yet: common/migrations.py):
- `alerts`  one row per event: seq, ts_ns (wall, epoch ns), rule, severity, state (firing|resolved),
            metric, comparison, value, threshold (the line crossed), started_ns (when the episode
            fired), description.
`alluse alerts` opens it read-only (`readonly=True`) while a run writes it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from alluse.common.migrations import Step
from alluse.common.sqlite_files import StoreIdentity, open_readonly, open_wal
from alluse.monitoring.alert_events import AlertEvent, AlertStatus
from alluse.monitoring.config import ALERT_SEVERITIES

ALERTS_FILE = "alerts.db"
SCHEMA_VERSION = 1
MIGRATIONS: tuple[Step, ...] = ()  # version `to - 1` -> `to`, oldest first
_WHAT = "alert history"
_MARKER_TABLE = "alerts"
_STATES = (AlertStatus.FIRING.value, AlertStatus.RESOLVED.value)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    seq INTEGER PRIMARY KEY,
    ts_ns INTEGER NOT NULL,
    rule TEXT NOT NULL,
    severity TEXT NOT NULL,
    state TEXT NOT NULL,
    metric TEXT NOT NULL,
    comparison TEXT NOT NULL,
    value REAL NOT NULL,
    threshold REAL NOT NULL,
    started_ns INTEGER NOT NULL,
    description TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_rule ON alerts (rule, seq);
"""

_COLUMNS = "rule, severity, state, metric, comparison, value, threshold, ts_ns, started_ns, description"


class EpisodeRecord(Protocol):
    """What the alert engine needs of a history: this file's, or PostgreSQL's in a cluster (cluster/history.py)."""

    def record(self, e: AlertEvent) -> None: ...

    def open_episodes(self) -> dict[str, AlertEvent]: ...


class AlertHistoryError(Exception):
    """The history file cannot be used; it has not been touched."""


def _event(row: tuple) -> AlertEvent:
    rule, severity, state, metric, comparison, value, threshold, ts_ns, started_ns, description = row
    return AlertEvent(
        rule, severity, AlertStatus(state), metric, comparison, value, threshold, ts_ns, started_ns, description
    )


class AlertHistory:
    def __init__(self, path: str | Path, *, readonly: bool = False, synchronous: str = "NORMAL") -> None:
        self.path = Path(path)
        store: StoreIdentity = {"version": SCHEMA_VERSION, "marker_table": _MARKER_TABLE, "error": AlertHistoryError}
        if readonly:
            self._db = open_readonly(self.path, _WHAT, **store)
        else:
            self._db = open_wal(self.path, _WHAT, schema=_SCHEMA, steps=MIGRATIONS, synchronous=synchronous, **store)

    def record(self, e: AlertEvent) -> None:
        self._db.execute(
            f"INSERT INTO alerts ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                e.rule,
                e.severity,
                e.state.value,
                e.metric,
                e.comparison,
                e.value,
                e.threshold,
                e.ts_ns,
                e.started_ns,
                e.description,
            ),
        )

    def history(
        self,
        state: str | None = None,
        severity: str | None = None,
        rule: str | None = None,
        since_ns: int | None = None,
        limit: int = 100,
    ) -> list[AlertEvent]:
        """Newest first. Filters are the CLI's: a bad one is an error naming it, not an empty answer."""
        if state is not None and state not in _STATES:
            raise ValueError(f"state={state!r}: expected one of {', '.join(_STATES)}")
        if severity is not None and severity not in ALERT_SEVERITIES:
            raise ValueError(f"severity={severity!r}: expected one of {', '.join(ALERT_SEVERITIES)}")
        if limit < 1:
            raise ValueError(f"limit={limit!r}: must be at least 1")
        where: list[str] = []
        params: list[str | int] = []
        for column, value in (("state", state), ("severity", severity), ("rule", rule)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if since_ns is not None:
            where.append("ts_ns >= ?")
            params.append(since_ns)
        sql = f"SELECT {_COLUMNS} FROM alerts"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self._db.execute(sql + " ORDER BY seq DESC LIMIT ?", (*params, limit)).fetchall()
        return [_event(r) for r in rows]

    def open_episodes(self) -> dict[str, AlertEvent]:
        """Per rule, its FIRING event when that is the rule's latest event (a run ended while it fired)."""
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM alerts WHERE seq IN (SELECT MAX(seq) FROM alerts GROUP BY rule)"
        ).fetchall()
        return {e.rule: e for e in map(_event, rows) if e.state is AlertStatus.FIRING}

    def close(self) -> None:
        self._db.close()
