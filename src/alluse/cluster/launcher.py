"""The processes of a whole cluster on one machine, as `alluse cluster up --config` starts them: the local
TWS-protocol gateway (unless a real IB gateway's port is given), a gateway service and optionally a standby,
N agents, each serving /metrics and writing its metrics and alerts to PostgreSQL, the console across them, and
Debian's Prometheus scraping them with the project's alert rules. Each is
an `alluse` command of its own with its log in the cluster's directory; stopped in reverse order."""

from __future__ import annotations

import logging
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from alluse.cluster.prometheus import scrape_config
from alluse.cluster.servers import PrometheusServer, ServerError, free_port

log = logging.getLogger("alluse.cluster.launcher")

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0


@dataclass(slots=True)
class Launched:
    name: str
    proc: subprocess.Popen[str]
    log_path: Path
    metrics_port: int | None = None


@dataclass(slots=True)
class ClusterProcesses:
    directory: Path
    config: Path  # the cluster's file: the trading sections and [cluster]
    agents: int
    standby: bool
    ib_port: int | None  # a running IB gateway; None: start the local one on the config's market and accounts
    local_config: Path | None = None  # the local gateway's config (the trading sections alone)
    launched: list[Launched] = field(default_factory=list)
    prometheus: PrometheusServer | None = None
    console_url: str | None = None

    def start(self) -> None:
        logs = self.directory / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        ib_port = self.ib_port
        if ib_port is None:
            assert self.local_config is not None
            tws = self._spawn("local-gateway", ["gateway", "--config", str(self.local_config), "--port", "0"])
            ib_port = int(_banner(tws, "gateway: ", r"127\.0\.0\.1:(\d+)"))
        holders = ["gw-a", "gw-b"] if self.standby else ["gw-a"]
        for holder in holders:
            self._spawn(holder, ["cluster", "gateway", "--config", str(self.config), "--holder", holder,
                                 "--ib-port", str(ib_port)], metrics=True)  # fmt: skip
        for i in range(1, self.agents + 1):
            self._spawn(f"agent-{i}", ["cluster", "agent", "--config", str(self.config), "--name", f"agent-{i}"],
                        metrics=True)  # fmt: skip
        for launched in self.launched:  # up: each printed its banner (the agents and services their ports)
            if launched.metrics_port is not None:
                _banner(launched, "", r"/metrics on 127\.0\.0\.1:(\d+)")
        console = self._spawn("console", ["cluster", "console", "--config", str(self.config), "--port", "0"])
        self.console_url = _banner(console, "cluster console on ", r"(http://127\.0\.0\.1:\d+/)")
        jobs = {kind: [f"127.0.0.1:{p.metrics_port}" for p in self.launched if p.name.startswith(prefix)]
                for kind, prefix in (("gateway", "gw-"), ("agent", "agent-"))}  # fmt: skip
        rules = self.directory / "alert-rules.yml"
        try:
            self.prometheus = PrometheusServer(self.directory / "prometheus", scrape_config(jobs, [rules])).start()
        except ServerError as exc:  # monitoring is not trading: the cluster runs, the operator is told
            log.error("prometheus not started: %s", exc)

    def _spawn(self, name: str, args: list[str], *, metrics: bool = False) -> Launched:
        port = free_port() if metrics else None
        argv = [sys.executable, "-m", "alluse.cli", *args, *(["--metrics-port", str(port)] if port else [])]
        log_path = self.directory / "logs" / f"{name}.log"
        with open(log_path, "ab") as err:
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, text=True,
                                    start_new_session=True)  # fmt: skip
        launched = Launched(name, proc, log_path, port)
        self.launched.append(launched)
        return launched

    def gone(self) -> list[str]:
        """The processes that exited, with their codes."""
        return [f"{p.name} (exit {p.proc.returncode})" for p in self.launched if p.proc.poll() is not None]

    def stop(self) -> None:
        """Agents first (they leave: nothing moves), then the gateway services, then the local gateway."""
        if self.prometheus is not None:
            self.prometheus.stop()
        for launched in reversed(self.launched):
            if launched.proc.poll() is None:
                launched.proc.send_signal(signal.SIGINT)
                try:
                    launched.proc.wait(STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    log.warning("%s did not stop within %.0f s: killed", launched.name, STOP_TIMEOUT_S)
                    launched.proc.kill()
                    launched.proc.wait()


def _banner(launched: Launched, start: str, pattern: str) -> str:
    """The first group of `pattern` in the process's first line starting with `start`."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    assert launched.proc.stdout is not None
    while time.monotonic() < deadline:
        line = launched.proc.stdout.readline()
        if not line:
            break
        found = re.search(pattern, line)
        if line.startswith(start) and found:
            return found.group(1)
    tail = launched.log_path.read_text(errors="replace").strip().splitlines()[-1:]
    raise ServerError(f"{launched.name} did not start (log {launched.log_path}): {tail[0] if tail else 'no output'}")
