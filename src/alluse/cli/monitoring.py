"""`alluse alerts` and `alluse metrics`: what monitoring stored in a data dir (alerts.db, metrics.db)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from alluse.cli.inputs import add_data_dir, add_json, add_limit, check_limit, check_span
from alluse.cli.output import console, error, print_json


def register(sub: argparse._SubParsersAction) -> None:
    alerts = sub.add_parser("alerts", help="alert history of a data dir, or the alert rules for Prometheus")
    add_data_dir(alerts)
    alerts.add_argument("--prometheus-rules", action="store_true",
                        help="print the alert rules as a Prometheus rules file instead")  # fmt: skip
    alerts.add_argument("--config", type=Path,
                        help="with --prometheus-rules: TOML config file, its [alerts] and [monitoring] sections "
                             "(defaults otherwise)")  # fmt: skip
    alerts.add_argument("--state", choices=["firing", "resolved"], help="only this state")
    alerts.add_argument("--severity", choices=["info", "warning", "critical"])
    add_limit(alerts, "events")
    add_json(alerts)
    alerts.set_defaults(func=alerts_command)

    metrics = sub.add_parser("metrics", help="latest metric values, or one series over a time range")
    add_data_dir(metrics)
    metrics.add_argument("--series", help="one series (as listed), e.g. 'alluse_order_latency_seconds:p99'")
    metrics.add_argument("--prefix", default="alluse_", help="with no --series: only series starting with this")
    metrics.add_argument("--minutes", type=float, default=10.0, help="with --series: how far back (default 10)")
    add_json(metrics)
    metrics.set_defaults(func=metrics_command)


def alerts_command(args: argparse.Namespace) -> int:
    if args.prometheus_rules:
        return prometheus_rules_command(args)
    from rich.table import Table

    from alluse.common.clock import ns_to_datetime
    from alluse.monitoring.alert_history import ALERTS_FILE, AlertHistory

    limit = check_limit("--limit", args.limit)
    history = AlertHistory(args.data_dir / ALERTS_FILE, readonly=True)
    try:
        events = history.history(state=args.state, severity=args.severity, limit=limit)
    finally:
        history.close()
    if args.json:  # each event as the notifiers send it (AlertEvent.to_dict)
        print_json({"alerts_file": str(args.data_dir / ALERTS_FILE), "events": [e.to_dict() for e in events]})
        return 0
    table = Table(title=f"alerts in {args.data_dir / ALERTS_FILE} (newest first)")
    for col in ("time (UTC)", "rule", "kind", "severity", "state", "value", "threshold", "description"):
        table.add_column(col)
    for e in events:
        table.add_row(f"{ns_to_datetime(e.ts_ns):%Y-%m-%d %H:%M:%S}", e.rule, e.kind, e.severity, e.state.value,
                      f"{e.value:g}", f"{e.comparison} {e.threshold:g}", e.description)  # fmt: skip
    console.print(table)
    return 0


def prometheus_rules_command(args: argparse.Namespace) -> int:
    """The rules of the config's [alerts] section, windows from its [monitoring], as a rules file on stdout."""
    from alluse.app.config import load_config
    from alluse.monitoring.alert_rules import anomaly_rules_from_config, predictive_rules_from_config, run_rules
    from alluse.monitoring.prometheus_rules import render, rules_document

    config = load_config(args.config)
    rules = run_rules(config.alerts, config.monitoring.store)
    predictive = predictive_rules_from_config(config.alerts, rules)
    console.out(render(rules_document(rules, config.monitoring, predictive)), end="", highlight=False)
    in_process = [r.name for r in anomaly_rules_from_config(config.alerts)]
    if in_process:  # on stderr: stdout is the file
        error(f"streaming anomaly rules run in alluse only, not exported: {', '.join(in_process)}", label="note")
    return 0


def metrics_command(args: argparse.Namespace) -> int:
    """With --json, one document: each point or latest value with its time as ISO 8601 UTC and epoch ns (wall
    clock), a value that is not finite as null."""
    from rich.table import Table

    from alluse.common.clock import NS, ns_to_datetime
    from alluse.monitoring.store import METRICS_FILE, MetricsStore

    end = time.time_ns()
    if args.series:
        check_span("--minutes", args.minutes, "minutes", 60 * NS)
    start = end - int(args.minutes * 60 * NS) if args.series else end  # --minutes counts only with --series
    path = args.data_dir / METRICS_FILE
    reader = MetricsStore.open_readonly(path)
    try:
        points = reader.query(args.series, start, end) if args.series else []
        latest = {} if args.series else reader.latest(args.prefix)
    finally:
        reader.close()
    if args.json:
        if args.series:
            print_json({"metrics_file": str(path), "series": args.series, "minutes": args.minutes,
                        "start": ns_to_datetime(start), "start_ns": start, "end": ns_to_datetime(end), "end_ns": end,
                        "points": [_point(ts, value) for ts, value in points]})  # fmt: skip
        else:
            rows = [{"series": name, **_point(ts, value)} for name, (ts, value) in sorted(latest.items())]
            print_json({"metrics_file": str(path), "prefix": args.prefix, "series": rows})
        return 0
    if args.series:
        table = Table(title=f"{args.series}, last {args.minutes:g} minutes ({len(points)} points)")
        table.add_column("time (UTC)")
        table.add_column("value", justify="right")
        for ts, value in points:
            table.add_row(f"{ns_to_datetime(ts):%Y-%m-%d %H:%M:%S}", f"{value:.6g}")
    else:
        table = Table(title=f"latest values in {path} ({len(latest)} series)")
        for col in ("series", "value", "at (UTC)"):
            table.add_column(col, justify="right" if col == "value" else "left")
        for name, (ts, value) in sorted(latest.items()):
            table.add_row(name, f"{value:.6g}", f"{ns_to_datetime(ts):%H:%M:%S}")
    console.print(table)
    return 0


def _point(ts_ns: int, value: float) -> dict[str, object]:
    from alluse.common.clock import ns_to_datetime

    return {"ts": ns_to_datetime(ts_ns), "ts_ns": ts_ns, "value": value}
