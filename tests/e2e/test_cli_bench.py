"""`alluse bench` as a user runs it: the quick run of every workload writes the validation report."""

import json

import pytest

from alluse.bench.harness import WORKLOADS

pytestmark = pytest.mark.slow


def test_the_quick_bench_runs_every_workload_and_writes_the_report(alluse, tmp_path):
    res = alluse("bench", "--quick", "--out", str(tmp_path), timeout=300)
    assert res.returncode in (0, 1), res.stderr  # 1: some target missed, said in the table and the report
    report = json.loads((tmp_path / "validation.json").read_text())
    assert report["quick"] is True and report["failures"] == {}
    assert {r["workload"] for r in report["rows"]} == set(WORKLOADS)  # NautilusTrader's rows: under MD-1, OR-1
    nt_rows = [r for r in report["rows"] if r["variant"].startswith("NautilusTrader")]
    assert bool(nt_rows) != ("NT" in report["skipped"])  # measured side by side, or said why not
    assert all(len(r["values"]) == 1 for r in report["rows"])
    assert all(i["status"] != "passed" for i in report["checklist"])  # quick sizes tick nothing
    assert "Production-readiness checklist" in (tmp_path / "validation.md").read_text()
    against_nt = [t for t in report["targets"] if t["reference"] and t["reference"]["how"] == "times better"]
    assert against_nt and all((t["status"] == "not judged") == ("NT" in report["skipped"]) for t in against_nt)
    for t in report["targets"]:
        assert t["status"] in ("pass", "fail", "not judged") and t["workload"] in res.stdout
    assert {g["status"] for g in report["goals"]} <= {"met", "not met", "not judged"}
    assert (res.returncode == 1) == any(t["status"] == "fail" for t in report["targets"])  # never for a goal


def test_an_unknown_workload_is_refused_by_name(alluse, tmp_path):
    res = alluse("bench", "--only", "MD-1,ZZ-1", "--out", str(tmp_path))
    assert res.returncode == 2 and "ZZ-1" in res.stderr
    assert not (tmp_path / "validation.json").exists()
