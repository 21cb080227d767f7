"""Which build of the order path the suite runs against (see alluse.build and the Makefile), and which tests
drive the compiled modules themselves: `make test` runs those a second time on the sources (ALLUSE_PURE=1);
and promtool, for the tests that hold our output to Prometheus' own checks."""

import os
import shutil
from functools import cache
from pathlib import Path

import pytest

import alluse.build


def pytest_report_header() -> str:
    return f"alluse: {alluse.build.describe()}"


@cache
def _exercises_compiled(path: Path) -> bool:
    return alluse.build.exercises_compiled(path)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "slow" not in item.keywords and _exercises_compiled(item.path):  # end-to-end runs go once
            item.add_marker(pytest.mark.compiled_path)


def system_tool(command: str) -> str:
    """A tool `make test` installs (scripts/ensure-system-packages.sh): skipped where it is missing, except under
    CI, where it must have been installed."""
    path = shutil.which(command)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{command} is missing under CI: scripts/ensure-system-packages.sh should have installed it")
        pytest.skip(f"{command} unavailable (`make system-packages` as root installs it)")
    return path


@pytest.fixture
def promtool() -> str:
    """Prometheus' promtool, for the tests that hold our output to Prometheus' own checks."""
    return system_tool("promtool")


@pytest.fixture
def chromium() -> str:
    """Debian's chromium, for the console's browser tests."""
    return system_tool("chromium")
