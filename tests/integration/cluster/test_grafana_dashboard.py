"""The cluster's Grafana dashboard (docs/grafana/alluse-cluster.json): the file is what
scripts/grafana_dashboard.py writes, every key and value of it survives a round trip through Grafana's own
types (the Foundation SDK's, generated from Grafana's schema: a key the schema does not know is dropped, a
wrong shape fails), and a
real Prometheus parses every query in it (Grafana itself is not packaged here)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.dashboard import Dashboard

from alluse.cluster.prometheus import scrape_config
from alluse.cluster.servers import PrometheusServer, ServerError

REPO = Path(__file__).resolve().parents[3]
FILE = REPO / "docs" / "grafana" / "alluse-cluster.json"


def kept(ours: object, theirs: object) -> bool:
    """Every key and value of `ours` is in `theirs` (which may add the schema's defaults)."""
    if isinstance(ours, dict):
        return isinstance(theirs, dict) and all(k in theirs and kept(v, theirs[k]) for k, v in ours.items())
    if isinstance(ours, list):
        return isinstance(theirs, list) and len(ours) == len(theirs) and all(map(kept, ours, theirs))
    return ours == theirs


def queries(board: dict) -> list[str]:
    return [t["expr"] for p in board["panels"] for t in p.get("targets", [])]


def test_the_dashboard_file_is_the_scripts_output():
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "grafana_dashboard.py"), "--check"])
    assert done.returncode == 0, "docs/grafana/alluse-cluster.json differs: run python scripts/grafana_dashboard.py"


def test_the_dashboard_survives_grafanas_schema_and_a_changed_one_does_not():
    register_default_plugins()
    board = json.loads(FILE.read_text())
    again = json.loads(json.dumps(Dashboard.from_json(board), cls=JSONEncoder))
    assert kept(board, again)
    assert len([p for p in board["panels"] if p["type"] == "timeseries"]) == 6 and len(board["panels"]) == 7
    board["panels"][1]["gridPosition"] = {"h": 8}  # a key Grafana's schema does not have: dropped
    assert not kept(board, json.loads(json.dumps(Dashboard.from_json(board), cls=JSONEncoder)))


def test_prometheus_parses_every_query_of_the_dashboard(tmp_path):
    try:
        prometheus = PrometheusServer(tmp_path / "prometheus", scrape_config({})).start()
    except ServerError as exc:
        pytest.skip(str(exc))
    try:
        found = queries(json.loads(FILE.read_text()))
        assert len(found) == 14
        for expr in found:
            prometheus.query(expr)  # ServerError if Prometheus refuses it
        with pytest.raises(ServerError, match="failed"):
            prometheus.query("sum(rate(alluse_orders_total[1m])")  # one parenthesis short: refused
    finally:
        prometheus.stop()
