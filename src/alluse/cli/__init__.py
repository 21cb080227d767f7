"""The `alluse` command: the only place that prints.

Each module here is one group of subcommands and registers them with `set_defaults(func=...)`;
`main` parses, sets up logging and calls the chosen function. The modules import only the standard
library, rich and each other at the top: a command imports the engines it needs when it runs, so
`alluse --help` and `alluse halt` start without loading the trading system or the analytics.
"""

from __future__ import annotations

import argparse
import logging
import sys

from alluse.cli import backtest, bench, book, gateway, monitoring, operator, record, remote, report, run, status
from alluse.cli.inputs import Parser
from alluse.cli.output import error
from alluse.cli.version import add_version

# The errors a person can cause (a bad file or option, a busy port, an unknown account): one line on
# stderr and exit code 2, never a traceback. By module and name, looked up only among the modules
# already loaded, so `main` loads none of them: an error can only come from a module that is loaded.
KNOWN_ERRORS = (
    ("alluse.model.base", "InvalidInput"),
    ("alluse.app.config", "ConfigError"),
    ("alluse.execution.journal", "JournalError"),
    ("alluse.monitoring.http", "MetricsServerError"),
    ("alluse.monitoring.store", "MetricsStoreError"),
    ("alluse.monitoring.alert_history", "AlertHistoryError"),
    ("alluse.monitoring.notifiers", "NotifierError"),
    ("alluse.rpc.auth", "ApiTokenError"),
    ("alluse.cli.remote", "ApiCallError"),
)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="alluse", description="ALL-USE market integration")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-v info, -vv debug)")
    add_version(parser)
    sub = parser.add_subparsers(dest="command", required=True)
    for group in (run, backtest, record, gateway, monitoring, report, bench, operator, remote, book, status):
        group.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except Exception as exc:
        if not _known(exc):
            raise
        error(str(exc))
        return 2


def _known(exc: Exception) -> bool:
    for module_name, class_name in KNOWN_ERRORS:
        module = sys.modules.get(module_name)
        if module is not None and isinstance(exc, getattr(module, class_name)):
            return True
    return False
