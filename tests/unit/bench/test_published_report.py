"""The README's benchmark tables are the latest full run's, copied from its report (scripts/publish_bench.py)."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "scripts" / "publish_bench.py"


def _publisher():
    spec = importlib.util.spec_from_file_location("publish_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_shows_the_published_report():
    done = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_figure_typed_into_the_readme_is_caught_and_replaced():
    publisher = _publisher()
    report = (REPO / "docs" / "validation.md").read_text(encoding="utf-8")
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith("| OR-1 | latency p50 |"))
    tampered = readme.replace(
        row, row.replace("**fail**", "**pass**").replace("| OR-1 | latency p50 | ", "| OR-1 | latency p50 | 1"), 1
    )
    assert tampered != readme
    assert publisher.published(report, tampered) == readme


def test_only_a_full_run_is_published():
    publisher = _publisher()
    report = (REPO / "docs" / "validation.md").read_text(encoding="utf-8")
    quick = report.replace(", full run, ", ", quick run, ", 1)
    with pytest.raises(SystemExit, match="not from a full run"):
        publisher.published(quick, (REPO / "README.md").read_text(encoding="utf-8"))
