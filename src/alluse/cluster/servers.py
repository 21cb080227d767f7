"""Throwaway PostgreSQL and Redis servers in a directory, on 127.0.0.1: what `alluse cluster up` and the
tests start. Each is a child process we own (kill -9, SIGSTOP and restarts are the reliability tests' tools),
with a generated password kept in its directory (mode 0600), listening on loopback only.

PostgreSQL's initdb refuses root: as root, the cluster runs as Debian's `postgres` user (or `nobody`), so
its directory must be reachable by that user; a directory that is not is refused in one line."""

from __future__ import annotations

import glob
import logging
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("alluse.cluster.servers")

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0


class ServerError(Exception):
    """A server that cannot be set up, started or reached: said in one line."""


def free_port() -> int:
    """A port nobody listens on now (the kernel's pick). A race with another program is possible but the start
    would then fail naming the port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_program(name: str, package: str) -> str:
    """`name` on PATH, or in Debian's PostgreSQL layout (/usr/lib/postgresql/<version>/bin, newest first)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=_version_key, reverse=True)
    if candidates:
        return candidates[0]
    raise ServerError(f"{name}: not found; install Debian's {package} (`make system-packages` as root does)")


def _version_key(path: str) -> tuple[int, ...]:
    version = Path(path).parent.parent.name
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def write_private(path: Path, text: str, *, exclusive: bool = False) -> None:
    """`text` in a file its owner alone can read, from its first byte (passwords, addresses that carry them);
    `exclusive`: refuse to replace one that exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC), 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def _write_secret(path: Path) -> str:
    """The password kept in `path`, made at the first start."""
    if path.exists():
        return path.read_text().strip()
    secret = secrets.token_urlsafe(24)
    write_private(path, secret + "\n", exclusive=True)
    return secret


@dataclass(slots=True)
class _Process:
    """A server process we started, its log and how to tell it is ready."""

    name: str
    argv: list[str]
    log_path: Path
    user: str | None = None
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                self.argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, user=self.user,
                start_new_session=True,  # a Ctrl-C in the terminal is the supervisor's to handle, not the server's
            )  # fmt: skip

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def exited(self) -> str | None:
        """Why the server is gone, or None while it runs."""
        if self.proc is None or self.proc.poll() is None:
            return None
        tail = self.log_path.read_text(errors="replace").strip().splitlines()[-1:] if self.log_path.exists() else []
        return f"exited with code {self.proc.returncode}" + (f": {tail[0]}" if tail else "")

    def send(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        self.send(sig)
        try:
            self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop within %.0f s of signal %d: killed", self.name, STOP_TIMEOUT_S, sig)
            self.proc.kill()
            self.proc.wait()


def _wait_ready(process: _Process, ready, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        gone = process.exited()
        if gone is not None:
            raise ServerError(f"{what}: {gone} (log: {process.log_path})")
        if ready():
            return
        time.sleep(0.05)
    process.stop(signal.SIGKILL)
    raise ServerError(f"{what}: not ready within {START_TIMEOUT_S:.0f} s (log: {process.log_path})")


def _unprivileged_user() -> pwd.struct_passwd | None:
    """The user a root process runs PostgreSQL as; None when we are not root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise ServerError("PostgreSQL refuses to run as root and neither user postgres nor nobody exists")


def _check_reachable(directory: Path, user: pwd.struct_passwd) -> None:
    """Every folder above `directory` must let `user` through (initdb and postgres run as that user)."""
    for parent in reversed(directory.resolve().parents):
        if not parent.exists():
            return  # created by us below: ours to make reachable
        st = parent.stat()
        if st.st_uid == user.pw_uid:
            ok = st.st_mode & stat.S_IXUSR
        elif st.st_gid == user.pw_gid:
            ok = st.st_mode & stat.S_IXGRP
        else:
            ok = st.st_mode & stat.S_IXOTH
        if not ok:
            raise ServerError(
                f"postgres directory {directory}: {parent} does not let user {user.pw_name} through (PostgreSQL "
                "refuses root and runs as that user); choose a directory under /tmp or /var/tmp"
            )


@dataclass(slots=True)
class PostgresServer:
    """A PostgreSQL cluster in `directory` (created by initdb at the first start, kept across restarts)."""

    directory: Path
    port: int = 0
    user: str = "alluse"
    _process: _Process | None = field(default=None, init=False)

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/postgres"

    @property
    def password(self) -> str:
        return (self.directory / "password").read_text().strip()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.running

    def start(self) -> PostgresServer:
        runs_as = _unprivileged_user()
        if runs_as is not None:
            _check_reachable(self.directory, runs_as)  # before anything is created
        self.directory.mkdir(parents=True, exist_ok=True)
        data, sockets = self.directory / "data", self.directory / "sockets"
        password_file = self.directory / "password"
        _write_secret(password_file)
        if not (data / "PG_VERSION").exists():
            self._initdb(data, password_file, runs_as)
        sockets.mkdir(mode=0o700, exist_ok=True)
        if runs_as is not None:
            for path in (self.directory, sockets, password_file):
                os.chown(path, runs_as.pw_uid, runs_as.pw_gid)
        self.port = self.port or free_port()
        self._process = _Process(
            "postgres",
            [find_program("postgres", "postgresql"), "-D", str(data), "-p", str(self.port),
             "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={sockets}"],
            self.directory / "postgres.log",
            user=None if runs_as is None else runs_as.pw_name,
        )  # fmt: skip
        self._process.start()
        isready = find_program("pg_isready", "postgresql-client")
        probe = [isready, "-q", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, "-d", "postgres"]
        _wait_ready(self._process, lambda: subprocess.run(probe, check=False).returncode == 0,
                    f"postgres on 127.0.0.1:{self.port}")  # fmt: skip
        log.info("postgres ready on 127.0.0.1:%d (%s)", self.port, self.directory)
        return self

    def _initdb(self, data: Path, password_file: Path, runs_as: pwd.struct_passwd | None) -> None:
        if runs_as is not None:
            os.chown(self.directory, runs_as.pw_uid, runs_as.pw_gid)
            os.chown(password_file, runs_as.pw_uid, runs_as.pw_gid)
        argv = [find_program("initdb", "postgresql"), "-D", str(data), "-U", self.user, "-E", "UTF8",
                "--auth-host=scram-sha-256", "--auth-local=scram-sha-256", f"--pwfile={password_file}",
                "--no-instructions"]  # fmt: skip
        done = subprocess.run(
            argv, capture_output=True, text=True, check=False, user=None if runs_as is None else runs_as.pw_name
        )
        if done.returncode != 0:
            last = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:]
            raise ServerError(f"initdb {data}: failed ({last[0] if last else f'exit {done.returncode}'})")

    def stop(self, sig: int = signal.SIGINT) -> None:
        """SIGINT is PostgreSQL's fast shutdown (rolls back open transactions, checkpoints); SIGKILL a crash."""
        if self._process is not None:
            self._process.stop(sig)


@dataclass(slots=True)
class RedisServer:
    """A Redis server in `directory`: `persist` keeps the stream data across a restart (append-only file,
    fsync every second), as a production Redis would; without it a restart starts empty."""

    directory: Path
    port: int = 0
    persist: bool = True
    _process: _Process | None = field(default=None, init=False)

    @property
    def password(self) -> str:
        return (self.directory / "password").read_text().strip()

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.running

    def start(self) -> RedisServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        password = _write_secret(self.directory / "password")
        self.port = self.port or free_port()
        config = self.directory / "redis.conf"  # the password in a 0600 file, not on a command line `ps` shows
        write_private(config, f"port {self.port}\nbind 127.0.0.1\nprotected-mode yes\nrequirepass {password}\n"
                              f'dir {self.directory}\nsave ""\nappendonly {"yes" if self.persist else "no"}\n'
                              "appendfsync everysec\ndaemonize no\n")  # fmt: skip
        self._process = _Process("redis", [find_program("redis-server", "redis-server"), str(config)],
                                 self.directory / "redis.log")  # fmt: skip
        self._process.start()
        _wait_ready(self._process, self._answers, f"redis on 127.0.0.1:{self.port}")
        log.info("redis ready on 127.0.0.1:%d (%s)", self.port, self.directory)
        return self

    def _answers(self) -> bool:
        import redis

        try:
            with redis.Redis(host="127.0.0.1", port=self.port, password=self.password, socket_timeout=1) as r:
                return bool(r.ping())
        except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
            return False

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self._process is not None:
            self._process.stop(sig)

    def wipe(self) -> None:
        """Forget the stored data (a stopped server restarting empty: the "data lost" case)."""
        for path in self.directory.glob("appendonly*"):
            shutil.rmtree(path) if path.is_dir() else path.unlink()


@dataclass(slots=True)
class PrometheusServer:
    """Debian's Prometheus in `directory`, on 127.0.0.1, scraping what `config_text` names (cluster/prometheus.py
    writes it); its answers are read over its HTTP API (`query`)."""

    directory: Path
    config_text: str
    port: int = 0
    _process: _Process | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> PrometheusServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "prometheus.yml"
        config.write_text(self.config_text)
        self.port = self.port or free_port()
        data = self.directory / "data"
        argv = [find_program("prometheus", "prometheus"), f"--config.file={config}", f"--storage.tsdb.path={data}",
                f"--web.listen-address=127.0.0.1:{self.port}"]  # fmt: skip
        self._process = _Process("prometheus", argv, self.directory / "prometheus.log")
        self._process.start()
        _wait_ready(self._process, self._ready, f"prometheus on 127.0.0.1:{self.port}")
        log.info("prometheus ready on 127.0.0.1:%d (%s)", self.port, self.directory)
        return self

    def _ready(self) -> bool:
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as answer:
                return bool(answer.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def query(self, promql: str) -> list[dict[str, object]]:
        """The instant vector `promql` evaluates to now (its `result` list)."""
        import json
        import urllib.error
        import urllib.parse
        import urllib.request

        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}",
                                        timeout=5) as answer:  # fmt: skip
                body = json.loads(answer.read())
        except urllib.error.HTTPError as exc:  # a query it refuses: 400 with the reason in the body
            body = json.loads(exc.read() or b"{}")
        if body.get("status") != "success":
            raise ServerError(f"prometheus: query {promql!r} failed: {body.get('error')}")
        return list(body["data"]["result"])

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self._process is not None:
            self._process.stop(sig)
