import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest


def _alluse(*args: str, timeout: float = 120, prefix: Sequence[str] = (), **kw) -> subprocess.CompletedProcess:
    """`prefix`: a command the run goes through (e.g. `unshare ...`, tests/e2e/test_cli_mistakes.py)."""
    command = [*prefix, sys.executable, "-m", "alluse.cli", *args]
    env = {**os.environ, "COLUMNS": "160"}
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, **kw)


def _spawn(*args: str) -> subprocess.Popen:
    env = {**os.environ, "COLUMNS": "160"}
    return subprocess.Popen(
        [sys.executable, "-m", "alluse.cli", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


@pytest.fixture
def data_dir(tmp_path) -> Path:
    return tmp_path / "data"


@pytest.fixture(scope="session")  # a module's fixture may run the command too
def alluse():
    """Run the `alluse` command to completion."""
    return _alluse


@pytest.fixture
def spawn():
    """Start the `alluse` command in the background."""
    return _spawn


@pytest.fixture
def no_report(tmp_path) -> str:
    """A config whose run writes no report at its end: for the runs of tests that are not about the report
    (it costs each run a few seconds of CPU: the analytics libraries and their fits)."""
    path = tmp_path / "no-report.toml"
    path.write_text("[analytics]\nreport_on_exit = false\n")
    return str(path)
