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


@pytest.fixture
def promtool() -> str:
    """Prometheus' promtool: skipped where it is missing, except under CI, where make test must have installed it."""
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing under CI: scripts/ensure-promtool.sh should have installed it")
        pytest.skip("promtool unavailable (run scripts/ensure-promtool.sh as root)")
    return path
