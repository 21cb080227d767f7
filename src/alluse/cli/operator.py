"""`alluse halt`, `alluse reducing` and `alluse resume`: the operator's commands to a data dir's
trading system, running or not (see alluse.app.operator); `alluse token`, the REST API's bearer token."""

from __future__ import annotations

import argparse

from alluse.cli.inputs import add_data_dir
from alluse.cli.output import console

COMMANDS = (  # subcommand, the alluse.app.operator.Command it sends, help
    ("halt", "HALT", "stop new orders on an account (all by default); working ones are cancelled"),
    ("reducing", "REDUCING", "only orders that close a position, on an account (all by default)"),
    ("resume", "RESUME", "let an account trade again"),
)


def register(sub: argparse._SubParsersAction) -> None:
    for name, command, help_text in COMMANDS:
        p = sub.add_parser(name, help=help_text)
        add_data_dir(p)
        p.add_argument("--account", action="append", help="the account (repeatable; default: every account)")
        p.add_argument("--reason", default="operator", help="recorded with the change")
        if name == "halt":  # `halt --reducing` is `alluse reducing` by another name
            p.add_argument("--reducing", dest="operator_command", action="store_const", const="REDUCING",
                           help="REDUCING instead of HALTED: only closing orders")  # fmt: skip
        p.set_defaults(func=operator_command, operator_command=command)
    p = sub.add_parser("token", help="the REST API's bearer token file; --rotate replaces the token")
    add_data_dir(p)
    p.add_argument("--rotate", action="store_true", help="a new token, printed once (the old one stops working)")
    p.set_defaults(func=token_command)


def operator_command(args: argparse.Namespace) -> int:
    """Journaled, so a running system picks it up within a second and a restart keeps it."""
    from alluse.app.operator import Command, send

    command = Command[args.operator_command]
    sent = send(args.data_dir, command, args.reason, args.account or ())
    accounts = ", ".join(c.account for c in sent)
    console.print(f"{accounts} -> {command.state.value} ({args.reason})", markup=False, highlight=False)
    return 0


def token_command(args: argparse.Namespace) -> int:
    """The token itself is printed only when made (here on --rotate, or by `alluse run` at its first start)."""
    from alluse.model import InvalidInput
    from alluse.rpc.auth import read_token, rotate_token, token_path

    if not args.data_dir.is_dir():
        raise InvalidInput("--data-dir", str(args.data_dir), "is not a directory (has the system run there?)")
    path = token_path(args.data_dir)
    if args.rotate:
        token = rotate_token(args.data_dir)
        console.print(f"new API token (shown once; kept in {path}, mode 0600): {token}", markup=False, highlight=False)
    elif read_token(args.data_dir) is None:
        console.print(f"no API token in {args.data_dir} yet: `alluse run` makes one at its first start", markup=False)
    else:
        console.print(f"API token in {path} (mode 0600); send it as 'Authorization: Bearer <token>'", markup=False)
    return 0
