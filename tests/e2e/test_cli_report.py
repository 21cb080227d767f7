"""`alluse report` as an operator runs it: over a store it did not write itself, and its bad inputs."""

import json

import pytest

from alluse.analytics.report import REPORT_SCHEMA
from alluse.bench.an1 import write_history

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    d = tmp_path_factory.mktemp("hist")
    write_history(d / "metrics.db", n_series=20, hours=1.0, seed=2)
    return d


def test_report_writes_its_files_and_prints_the_graded_summary(alluse, history, tmp_path):
    out = tmp_path / "out"
    res = alluse("report", "--data-dir", str(history), "--hours", "1", "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert "Grade " in res.stdout and "Insights" in res.stdout
    report = json.loads((out / "report.json").read_text())
    assert report["series_count"] == 20 and report["sample_count"] == 20 * 3600
    assert (out / "dashboard.png").read_bytes()[:4] == b"\x89PNG"
    assert str(out / "summary.md") in res.stdout.replace("\n", "")


def test_schema_prints_the_json_schema(alluse):
    res = alluse("report", "--schema")
    assert res.returncode == 0 and json.loads(res.stdout) == REPORT_SCHEMA


@pytest.mark.parametrize(
    "args,message",
    [
        (["--hours", "0"], "--hours=0.0: must be a positive number"),
        (["--since", "yesterday"], "--since='yesterday': not an ISO 8601 time"),
        (["--hours", "1", "--since", "2026-01-01"], "not allowed with argument"),
    ],
)
def test_bad_window_arguments_are_refused_by_name(alluse, history, args, message):
    res = alluse("report", "--data-dir", str(history), *args)
    assert res.returncode == 2 and message in res.stderr


def test_a_data_dir_without_a_store_and_an_unwritable_out_are_clear_errors(alluse, history, tmp_path):
    res = alluse("report", "--data-dir", str(tmp_path / "nothing"))
    assert res.returncode == 2 and "no metrics store" in res.stderr
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    res = alluse("report", "--data-dir", str(history), "--out", str(blocker / "sub"))
    assert res.returncode == 2 and f"out='{blocker}/sub'" in res.stderr.replace("\n", "")
