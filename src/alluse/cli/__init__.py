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
from collections.abc import Callable

from alluse.cli import (
    backtest,
    bench,
    book,
    cluster,
    gateway,
    monitoring,
    operator,
    record,
    remote,
    report,
    run,
    status,
)
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
    ("alluse.brokers.paper.store", "VenueStoreError"),
    ("alluse.monitoring.http", "MetricsServerError"),
    ("alluse.monitoring.store", "MetricsStoreError"),
    ("alluse.monitoring.alert_history", "AlertHistoryError"),
    ("alluse.monitoring.notifiers", "NotifierError"),
    ("alluse.rpc.auth", "ApiTokenError"),
    ("alluse.cli.remote", "ApiCallError"),
    ("alluse.cluster.servers", "ServerError"),
    ("alluse.cluster.schema", "SchemaError"),
)

# By the number of -v: (our loggers' level, every other logger's). The libraries' DEBUG drowns the screen
# (matplotlib's font search alone is hundreds of lines in a report; asyncio, markdown-it, ib_async): it
# takes -vvv, and their INFO -vv.
VERBOSITY = (
    (logging.WARNING, logging.WARNING),
    (logging.INFO, logging.WARNING),
    (logging.DEBUG, logging.INFO),
    (logging.DEBUG, logging.DEBUG),
)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="alluse", description="ALL-USE market integration")
    verbose = "more logging: -v ours at INFO, -vv ours at DEBUG and the libraries' at INFO, -vvv everything"
    parser.add_argument("-v", "--verbose", action="count", default=0, help=verbose)
    add_version(parser)
    sub = parser.add_subparsers(dest="command", required=True)
    for group in (run, backtest, record, gateway, cluster, monitoring, report, bench, operator, remote, book, status):
        group.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    try:
        return args.func(args)
    except KeyboardInterrupt:  # Ctrl-C (a run stops cleanly on it instead, cli/run.py): said, not a traceback
        error("interrupted (Ctrl-C)")
        return 130  # 128 + SIGINT, what a shell reports for a command Ctrl-C ended
    except Exception as exc:
        if not _known(exc):
            raise
        error(str(exc))
        return 2


def configure_logging(verbose: int) -> None:
    """Log to stderr what `shown(verbose)` lets through. A filter on the screen's handler, not levels on the
    loggers: the process's loggers stay as they were (a test calling `main` leaves them to the next)."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(shown(verbose))
    logging.basicConfig(level=min(VERBOSITY[min(verbose, len(VERBOSITY) - 1)]), handlers=[handler])


def shown(verbose: int) -> Callable[[logging.LogRecord], bool]:
    """Records from our loggers ("alluse.*") and everyone else's from the levels VERBOSITY gives `-v` counted
    `verbose` times."""
    ours, theirs = VERBOSITY[min(verbose, len(VERBOSITY) - 1)]

    def check(record: logging.LogRecord) -> bool:
        is_ours = record.name == "alluse" or record.name.startswith("alluse.")
        return record.levelno >= (ours if is_ours else theirs)

    return check


def _known(exc: Exception) -> bool:
    for module_name, class_name in KNOWN_ERRORS:
        module = sys.modules.get(module_name)
        if module is not None and isinstance(exc, getattr(module, class_name)):
            return True
    return False
