import json
import logging
import math
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from alluse.common.clock import NS
from alluse.monitoring.alert_events import AlertEvent, AlertStatus
from alluse.monitoring.alerts import AlertEngine
from alluse.monitoring.config import AlertRuleConfig, AlertsConfig
from alluse.monitoring.notifiers import (
    CallbackNotifier,
    FileNotifier,
    LogNotifier,
    NotifierError,
    WebhookNotifier,
    build_notifiers,
)

T0 = 1_700_000_000 * NS
FAST = {"timeout_s": 0.5, "backoff_s": 0.005}


def event(state=AlertStatus.FIRING, severity="critical", value=0.0, rule="broker_disconnected"):
    return AlertEvent(rule, severity, state, "alluse_broker_connected", "==", value, 0.0, T0, T0, "broker down")


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        srv = self.server
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with srv.lock:
            srv.requests.append((self.headers["Content-Type"], json.loads(body)))
            action = srv.plan.pop(0) if srv.plan else srv.default
        if action == "hang":
            srv.arrived.set()
            srv.release.wait(5)
            return  # the client has given up; answer nothing
        self.send_response(action)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    """A local webhook receiver: answers `plan` in order, then `default` (a status code or "hang")."""
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.lock = threading.Lock()
    srv.requests, srv.plan, srv.default = [], [], 200
    srv.arrived, srv.release = threading.Event(), threading.Event()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}/hook"
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield srv
    srv.release.set()
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def webhooks(server):
    """Makes webhook notifiers and closes them after the test, once the server lets go of hung requests."""
    made = []
    yield lambda *a, **kw: made.append(WebhookNotifier(*a, **kw)) or made[-1]
    server.release.set()
    for n in made:
        n.close(timeout_s=1)


# ---------------------------------------------------------------- log, file, callback


def test_log_notifier_level_follows_severity_and_resolution_is_info(caplog):
    caplog.set_level(logging.DEBUG, logger="alluse.monitoring")
    n = LogNotifier()
    for severity in ("info", "warning", "critical"):
        n.notify(event(severity=severity))
    n.notify(event(AlertStatus.RESOLVED, value=1.0))
    levels = [r.levelno for r in caplog.records]
    assert levels == [logging.INFO, logging.WARNING, logging.CRITICAL, logging.INFO]
    assert "FIRING [critical] broker_disconnected: alluse_broker_connected == 0" in caplog.records[2].message
    assert "RESOLVED broker_disconnected" in caplog.records[3].message
    assert n.delivered == 4


def test_file_notifier_writes_one_json_line_per_event(tmp_path):
    path = tmp_path / "sub" / "alerts.jsonl"
    n = FileNotifier(path)
    n.notify(event())
    n.notify(event(AlertStatus.RESOLVED, value=math.inf))
    lines = path.read_text().splitlines()
    assert len(lines) == 2 and n.delivered == 2
    first, second = map(json.loads, lines)
    assert first["rule"] == "broker_disconnected" and first["state"] == "firing" and first["severity"] == "critical"
    assert first["ts"] == "2023-11-14T22:13:20+00:00" and first["ts_ns"] == T0 and first["value"] == 0.0
    assert second["state"] == "resolved" and second["value"] == "inf"  # strict JSON


def test_file_notifier_refuses_an_unwritable_path_at_start(tmp_path):
    with pytest.raises(NotifierError, match="cannot be written"):
        FileNotifier(tmp_path)  # a directory


def test_file_notifier_failure_later_is_logged_and_counted(tmp_path, caplog):
    path = tmp_path / "alerts.jsonl"
    n = FileNotifier(path)
    path.unlink()
    path.mkdir()
    n.notify(event())
    assert (n.delivered, n.failures) == (0, 1)
    assert "could not write broker_disconnected firing" in caplog.text


def test_callback_notifier_failure_is_counted(caplog):
    seen = []
    ok, bad = CallbackNotifier(seen.append), CallbackNotifier(lambda e: 1 / 0, name="bad")
    ok.notify(event())
    bad.notify(event())
    assert seen == [event()] and (ok.delivered, bad.failures) == (1, 1)
    assert "notifier bad failed" in caplog.text


def test_build_notifiers_follows_the_config(tmp_path, server):
    kinds = [type(n) for n in build_notifiers(AlertsConfig(), tmp_path)]
    assert kinds == [LogNotifier, FileNotifier]
    notifiers = build_notifiers(
        AlertsConfig(log=False, file="off", webhook_url=server.url, webhook_retries=1), tmp_path
    )
    [hook] = notifiers
    assert isinstance(hook, WebhookNotifier) and hook.retries == 1 and hook.url == server.url
    hook.close()


# ---------------------------------------------------------------- webhook


def test_webhook_delivers_json_to_a_local_server(server, webhooks):
    n = webhooks(server.url, **FAST)
    n.notify(event())
    assert n.flush(2)
    [(ctype, body)] = server.requests
    assert ctype == "application/json"
    assert body == event().to_dict()
    assert (n.delivered, n.failures, n.attempts) == (1, 0, 1)


def test_webhook_retries_a_500_then_succeeds(server, webhooks):
    server.plan = [500, 503]
    n = webhooks(server.url, retries=3, **FAST)
    n.notify(event())
    assert n.flush(2)
    assert (n.delivered, n.failures, n.attempts, len(server.requests)) == (1, 0, 3, 3)


def test_webhook_that_answers_500_is_retried_then_logged_and_counted(server, webhooks, caplog):
    server.default = 500
    n = webhooks(server.url, retries=2, **FAST)
    n.notify(event())
    assert n.flush(2)
    assert len(server.requests) == 3 and (n.delivered, n.failures) == (0, 1)
    assert "not delivered after 3 attempt(s): HTTP 500" in caplog.text
    assert caplog.text.count("retrying in") == 2


def test_webhook_that_times_out_is_retried_then_logged_and_counted(server, webhooks, caplog):
    server.default = "hang"
    n = webhooks(server.url, timeout_s=0.05, retries=1, backoff_s=0.005)
    t = time.perf_counter()
    n.notify(event())
    assert n.flush(2)
    assert time.perf_counter() - t < 1.0  # bounded by timeout x attempts + backoff
    assert len(server.requests) == 2 and (n.delivered, n.failures) == (0, 1)
    assert "timed out" in caplog.text and "not delivered after 2 attempt(s)" in caplog.text


def test_webhook_client_error_is_not_retried(server, webhooks, caplog):
    server.default = 404
    n = webhooks(server.url, retries=3, **FAST)
    n.notify(event())
    assert n.flush(2)
    assert len(server.requests) == 1 and n.failures == 1
    assert "after 1 attempt(s): HTTP 404" in caplog.text


def test_webhook_connection_refused_is_retried_and_counted(webhooks):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nobody listens there
    n = webhooks(f"http://127.0.0.1:{port}/", retries=2, **FAST)
    n.notify(event())
    assert n.flush(2)
    assert (n.attempts, n.failures) == (3, 1)


def test_evaluate_is_not_blocked_by_a_hanging_webhook(server, webhooks):
    server.default = "hang"
    hook = webhooks(server.url, timeout_s=2.0, retries=0)
    rule = AlertRuleConfig(name="down", metric="up", comparison="==", threshold=0, severity="critical")
    eng = AlertEngine([rule], [hook], None)
    eng.evaluate({"up": 0}, T0)
    assert server.arrived.wait(2)  # the webhook is now stuck in a request
    worst = 0.0
    for i in range(1, 41):
        t = time.perf_counter()
        events = eng.evaluate({"up": i % 2}, T0 + i * NS)  # resolve, fire, resolve, ...
        worst = max(worst, time.perf_counter() - t)
        assert len(events) == 1
    # the request hangs for 2 s; an evaluate that waited on it would take that long (bound loose for a loaded CI box)
    assert worst < 0.5
    assert not server.release.is_set() and hook.delivered == 0
    assert hook.delivered == 0 and len(server.requests) == 1
    server.release.set()


def test_webhook_queue_is_bounded(server, webhooks, caplog):
    server.default = "hang"
    n = webhooks(server.url, timeout_s=0.2, retries=0, max_queue=2)
    for _ in range(5):
        n.notify(event())
    assert n.failures == 3  # one in flight + one waiting; three dropped
    assert "dropped broker_disconnected firing (2 events already waiting)" in caplog.text


def test_close_delivers_what_is_queued_then_refuses_new_events(server, caplog):
    n = WebhookNotifier(server.url, **FAST)
    for i in range(3):
        n.notify(event(rule=f"r{i}"))
    n.close()
    assert n.delivered == 3 and [b["rule"] for _, b in server.requests] == ["r0", "r1", "r2"]
    n.notify(event())
    assert n.failures == 1 and "(closed)" in caplog.text


def test_close_gives_up_on_a_hanging_webhook_within_its_timeout(server, caplog):
    server.default = "hang"
    n = WebhookNotifier(server.url, timeout_s=0.1, retries=5, backoff_s=0.005)
    n.notify(event())
    assert server.arrived.wait(2)
    t = time.perf_counter()
    n.close(timeout_s=0.05)
    assert time.perf_counter() - t < 0.2
    assert "1 events undelivered at close" in caplog.text
    assert n.flush(1) and len(server.requests) == 1  # the abort stops the retries
    assert n.failures == 1


@pytest.mark.parametrize(
    ("kw", "text"),
    [({"url": "ftp://x"}, "url='ftp://x'"), ({"timeout_s": 0}, "timeout_s=0"), ({"retries": -1}, "retries=-1")],
)
def test_webhook_bad_settings_are_named(kw, text):
    with pytest.raises(NotifierError, match=text):
        WebhookNotifier(**({"url": "http://127.0.0.1:9/"} | kw))
