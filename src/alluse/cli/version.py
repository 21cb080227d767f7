"""`alluse --version`: the installed package's version and whether the order path runs compiled or pure.

An argparse action rather than `action="version"`: the line is worked out only when asked for (finding the
compiled modules walks the package), so no other command pays for it.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import platform
from collections.abc import Sequence

from alluse import build
from alluse.cli.output import console


def version_line() -> str:
    try:
        version = importlib.metadata.version("alluse")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree that was never installed
        version = "(not installed)"
    return f"alluse {version} on Python {platform.python_version()}: {build.describe()}"


class VersionAction(argparse.Action):
    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        console.out(version_line(), highlight=False)
        parser.exit()


def add_version(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--version", action=VersionAction, help="print the version and the build (compiled or pure)")
