"""The cluster's processes as an operator runs them, for the tests: `alluse ...` commands in processes of their
own, their banners and summaries read from their output, the broker's book read by a client of its own."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def spawn(*args: str) -> subprocess.Popen:
    """`alluse *args` in a process of its own; its log (stderr) goes to a file, `log_of(proc)`: a pipe nobody
    reads would fill up over a long run and freeze the process on its next log line."""
    env = {**os.environ, "COLUMNS": "200"}
    log = tempfile.NamedTemporaryFile(prefix="alluse-proc-", suffix=".log", delete=False)  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-m", "alluse.cli", *args], stdout=subprocess.PIPE, stderr=log,
                            text=True, env=env)  # fmt: skip
    log.close()
    LOGS[proc.pid] = Path(log.name)
    return proc


LOGS: dict[int, Path] = {}


def log_of(proc: subprocess.Popen) -> str:
    return LOGS[proc.pid].read_text(errors="replace")


def first_line(proc: subprocess.Popen, start: str) -> str:
    while line := proc.stdout.readline():
        if line.startswith(start):
            return line
    proc.wait(10)
    raise AssertionError(f"no line starting {start!r}: {log_of(proc)[-3000:]}")


def stopped(proc: subprocess.Popen) -> str:
    """Its output to the end, after SIGINT (its clean stop)."""
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, log_of(proc)[-3000:]
    return out


def local_gateway(path: Path, body: str, *args: str):
    """The local TWS-protocol gateway in its own process on the config `body` (`args`: default, 10 times faster
    than the wall); yields (process, port)."""
    path.write_text(body)
    proc = spawn("gateway", "--config", str(path), "--port", "0", *(args or ("--speed", "10")))
    try:
        port = int(re.search(r"127\.0\.0\.1:(\d+)", first_line(proc, "gateway: ")).group(1))
        yield proc, port
    finally:
        proc.kill()
        proc.wait()


async def until(query: str, expected, pool, *args, timeout_s: float = 30.0) -> None:
    """Until `query` reads `expected`; fails with what it read last."""
    deadline = time.monotonic() + timeout_s
    while (got := await pool.fetchval(query, *args)) != expected:
        assert time.monotonic() < deadline, f"{query}: {got}, expected {expected}"
        await asyncio.sleep(0.05)


async def until_true(condition, timeout_s: float = 30.0, what: str = "") -> None:
    """Until the async `condition()` holds; fails naming `what`."""
    deadline = time.monotonic() + timeout_s
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def last_line_of(text: str, start: str) -> str:
    return [line for line in text.splitlines() if line.startswith(start)][-1]


async def broker_positions_of(port: int, accounts: list[str]) -> dict[str, dict[str, int]]:
    """Every account's positions as IB reports them, read by a client of its own (the unmodified ib_async)."""
    from ib_async import IB

    from alluse.brokers.ibkr.orders import instrument_of_contract

    ib = IB()
    await ib.connectAsync("127.0.0.1", port, clientId=99, timeout=10)
    try:
        await ib.reqPositionsAsync()
        held: dict[str, dict[str, int]] = {a: {} for a in accounts}
        for p in ib.positions():
            if p.position:
                held[p.account][instrument_of_contract(p.contract).id] = int(p.position)
        return held
    finally:
        ib.disconnect()
