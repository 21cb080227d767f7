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


def test_a_report_in_a_new_format_replaces_the_readme_tables_of_the_old_one():
    """The README's tables are found by place (after the run line, in the report's order), not by header."""
    publisher = _publisher()
    report = (REPO / "docs" / "validation.md").read_text(encoding="utf-8")
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    old_header = next(line for line in report.split("## Targets\n", 1)[1].splitlines() if line.startswith("|"))
    new_format = report.replace(old_header, "| workload | figure | ours | reference | judged | limit | status |", 1)
    new_readme = publisher.published(new_format, readme)
    assert "| workload | figure | ours | reference | judged | limit | status |" in new_readme
    assert old_header not in new_readme and publisher.published(new_format, new_readme) == new_readme
    assert len(new_readme.splitlines()) == len(readme.splitlines())  # replaced, nothing added or lost
