"""Monitoring as an operator meets it: /metrics and /health during a run, alerts, bad setups."""

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, timeout: float = 2.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as err:  # a 503 (live, not ready) carries its report too
        return err.code, err.read().decode()


def test_metrics_and_health_answer_during_a_run(spawn, alluse, data_dir, no_report):
    port = free_port()
    proc = spawn("run", "--config", no_report, "--duration", "12", "--speed", "20000", "--data-dir", str(data_dir),
                 "--metrics-port", str(port))  # fmt: skip
    deadline = time.monotonic() + 30
    health = None
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            status, body = get(f"http://127.0.0.1:{port}/health")
            health = json.loads(body)
            assert (status == 200) == health["ready"] and (status == 200 or health["not_ready"]), (status, health)
            if health["ready"]:
                break
        except OSError:
            pass
        time.sleep(0.2)
    assert health is not None and health["ready"] and health["broker_connected"], health
    status, text = get(f"http://127.0.0.1:{port}/metrics")
    assert status == 200
    promtool = shutil.which("promtool")
    if promtool is None and os.environ.get("CI"):
        pytest.fail("promtool missing in CI (make test installs it with scripts/ensure-system-packages.sh)")
    if promtool is not None:  # the real system's exposition, not just a synthetic one
        check = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
    assert 'alluse_quotes_total{outcome="accepted"}' in text
    assert "alluse_order_ack_latency_seconds_bucket" in text and "# TYPE alluse_orders_total counter" in text
    # what an operator watches (issue #16): the process, the feed's age, the connection, each account's trading
    # state, the build, money in dollars, the session
    for family in ("alluse_process_rss_bytes gauge", "alluse_process_cpu_seconds_total counter",
                   "alluse_quote_age_seconds gauge", "alluse_broker_connected gauge", "alluse_trading_state gauge",
                   "alluse_build_info gauge", "alluse_account_equity_usd gauge", "alluse_account_cash_usd gauge",
                   "alluse_market_open gauge"):  # fmt: skip
        assert f"# TYPE {family}" in text, family
    assert 'alluse_trading_state{account="Gen-Acc",state="active"} 1.0' in text
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "alerts this run:" in out and "samples stored in" in out

    res = alluse("metrics", "--data-dir", str(data_dir))
    assert res.returncode == 0 and "alluse_quotes_total:rate" in res.stdout
    res = alluse("metrics", "--data-dir", str(data_dir), "--series", "alluse_process_rss_bytes", "--minutes", "5")
    assert res.returncode == 0 and "points)" in res.stdout and " 0 points" not in res.stdout
    res = alluse("alerts", "--data-dir", str(data_dir))
    assert res.returncode == 0 and "alerts in" in res.stdout
    res = alluse("alerts", "--data-dir", str(data_dir), "--state", "firing", "--severity", "critical")
    assert res.returncode == 0, res.stderr


def test_a_port_in_use_is_a_clear_error_before_any_order(alluse, data_dir):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        res = alluse("run", "--duration", "3", "--data-dir", str(data_dir), "--metrics-port", str(port))
    assert res.returncode == 2
    assert f"127.0.0.1:{port}" in res.stderr and "in use" in res.stderr
    assert not (data_dir / "journal.db").exists() or "SUBMIT" not in (data_dir / "journal.db").read_bytes().decode(
        "latin-1"
    )


def test_an_unknown_metric_in_a_rule_is_a_config_error(alluse, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[[alerts.rules]]\nname = "x"\nmetric = "alluse_no_such_series"\ncomparison = ">"\nthreshold = 1\n')
    res = alluse("run", "--config", str(cfg), "--duration", "3", "--data-dir", str(tmp_path / "d"))
    assert res.returncode == 2 and "alluse_no_such_series" in res.stderr


def test_a_metrics_db_that_is_not_a_database_keeps_trading_and_fires_an_alert(alluse, data_dir):
    data_dir.mkdir(parents=True)
    (data_dir / "metrics.db").write_text("not a database\n")
    res = alluse("run", "--duration", "12", "--speed", "20000", "--data-dir", str(data_dir))
    assert res.returncode == 0, res.stderr
    assert "metrics_store_failing firing" in res.stdout
    assert "FILLED" in res.stdout  # trading went on
    assert (data_dir / "metrics.db").read_text() == "not a database\n"
    assert "report error:" in res.stderr and "metrics.db" in res.stderr  # said, and the run still passed
