"""`alluse alerts` and `alluse metrics`: what monitoring stored in a data dir (alerts.db, metrics.db)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from alluse.cli.inputs import add_data_dir, check_count, check_span
from alluse.cli.output import console, error


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
    alerts.add_argument("--limit", type=int, default=50, help="newest N events (default 50)")
    alerts.set_defaults(func=alerts_command)

    metrics = sub.add_parser("metrics", help="latest metric values, or one series over a time range")
    add_data_dir(metrics)
    metrics.add_argument("--series", help="one series (as listed), e.g. 'alluse_order_latency_seconds:p99'")
    metrics.add_argument("--prefix", default="alluse_", help="with no --series: only series starting with this")
    metrics.add_argument("--minutes", type=float, default=10.0, help="with --series: how far back (default 10)")
    metrics.set_defaults(func=metrics_command)


def alerts_command(args: argparse.Namespace) -> int:
    if args.prometheus_rules:
        return prometheus_rules_command(args)
    from rich.table import Table

    from alluse.common.clock import ns_to_datetime
    from alluse.monitoring.alert_history import ALERTS_FILE, AlertHistory

    check_count("--limit", args.limit, 1)
    history = AlertHistory(args.data_dir / ALERTS_FILE, readonly=True)
    try:
        events = history.history(state=args.state, severity=args.severity, limit=args.limit)
    finally:
        history.close()
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
    from rich.table import Table

    from alluse.common.clock import NS, ns_to_datetime
    from alluse.monitoring.store import METRICS_FILE, MetricsStore

    if args.series:
        check_span("--minutes", args.minutes, "minutes", 60 * NS)
    reader = MetricsStore.open_readonly(args.data_dir / METRICS_FILE)
    try:
        if args.series:
            end = time.time_ns()
            points = reader.query(args.series, end - int(args.minutes * 60 * NS), end)
            table = Table(title=f"{args.series}, last {args.minutes:g} minutes ({len(points)} points)")
            table.add_column("time (UTC)")
            table.add_column("value", justify="right")
            for ts, value in points:
                table.add_row(f"{ns_to_datetime(ts):%Y-%m-%d %H:%M:%S}", f"{value:.6g}")
        else:
            latest = reader.latest(args.prefix)
            table = Table(title=f"latest values in {args.data_dir / METRICS_FILE} ({len(latest)} series)")
            for col in ("series", "value", "at (UTC)"):
                table.add_column(col, justify="right" if col == "value" else "left")
            for name, (ts, value) in sorted(latest.items()):
                table.add_row(name, f"{value:.6g}", f"{ns_to_datetime(ts):%H:%M:%S}")
    finally:
        reader.close()
    console.print(table)
    return 0
