"""The seed's six alert rules, each proven on a running system: the matching fault is injected, the rule goes
pending -> firing no sooner than its `for` and soon after, is notified (log, JSON lines, a webhook to a local HTTP
receiver), and resolves once the fault stops.

The system runs at 1x on the 24/7 calendar with the wheel off; a load generator sends small market orders where a
rule watches orders. Thresholds and durations are the config's: the built-in rules with their `for` shortened to
FOR_S, and the memory threshold placed above this process's size (8 GiB cannot be allocated on a test machine).
Each test prints its fault-to-firing and recovery-to-resolution seconds (`pytest -s` shows them).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
from running_system import Receiver, running, system_config, until

from alluse.app.system import TradingSystem
from alluse.brokers.paper.config import FaultConfig
from alluse.monitoring.alert_events import AlertEvent, AlertStatus
from alluse.monitoring.alert_rules import default_rules, rules_from_config

pytestmark = pytest.mark.slow  # a running system for several seconds each: once, not again on the pure build

FOR_S = 2.0
MiB = 2**20


@dataclass
class Fault:
    rule: str
    inject: Callable[[TradingSystem], Any]  # returns what `recover` needs
    recover: Callable[[TradingSystem, Any], None]
    orders: bool = False  # a load of orders runs throughout
    rule_changes: Callable[[], dict[str, Any]] = dict  # read when the test starts


def _burn(stop: threading.Event) -> None:
    block = bytes(MiB)
    while not stop.is_set():
        hashlib.sha256(block).digest()  # hashing releases the GIL: CPU without starving the event loop


def _cpu_hog(_system: TradingSystem) -> tuple[threading.Event, list[threading.Thread]]:
    stop = threading.Event()
    threads = [threading.Thread(target=_burn, args=(stop,), daemon=True) for _ in range(6)]
    for t in threads:
        t.start()
    return stop, threads


def _stop_hog(_system: TradingSystem, hog: tuple[threading.Event, list[threading.Thread]]) -> None:
    hog[0].set()
    for t in hog[1]:
        t.join()


def _slow_subscriber(system: TradingSystem) -> Callable[[object], None]:
    def slow(_quote: object) -> None:  # a consumer on the data path that takes 30 us a quote
        until = time.perf_counter_ns() + 30_000
        while time.perf_counter_ns() < until:
            pass

    system.c.engine.subscribe_all(slow)
    return slow


def _grow(_system: TradingSystem) -> list[bytes]:
    return [b"\x01" * (768 * MiB)]  # written, so resident


def _venue(**faults: float) -> Callable[..., None]:
    """Sets the paper venue's faults (none: a healthy venue again)."""
    return lambda system, *_: system.c.broker.set_faults(FaultConfig(**faults, seed=1))


def _above_this_process() -> dict[str, float]:
    """The memory rule's lines above this process as it is now (a test worker grows as it runs tests)."""
    rss = psutil.Process().memory_info().rss
    return {"threshold": rss + 384 * MiB, "clear_threshold": rss + 256 * MiB}


FAULTS = {
    f.rule: f
    for f in (
        Fault("trading_error_rate", _venue(permanent_reject_rate=0.3), _venue(), orders=True),  # broker rejects
        Fault("order_latency_p99", _venue(delay_rate=1.0, max_delay_ms=80), _venue(), orders=True),  # a slow venue
        Fault("feed_stalled", lambda s: s.c.market.stop(), lambda s, _: s.c.market.start(s.c.engine.on_quotes)),
        Fault("feed_latency_p99", _slow_subscriber, lambda s, slow: s.c.engine.unsubscribe_all(slow)),
        Fault("memory_high", _grow, lambda s, blob: blob.clear(), rule_changes=_above_this_process),
        Fault("cpu_high", _cpu_hog, _stop_hog),
    )
}  # fmt: skip


def config_for(fault: Fault, data_dir: Path, webhook: str):
    rules = {r.name: r for r in default_rules()}
    changed = [rules[name].model_copy(update={"for_s": FOR_S}).model_dump() for name in FAULTS]
    for r in changed:
        if r["name"] == fault.rule:
            r.update(fault.rule_changes())
    return system_config(data_dir, alerts={"rules": changed, "webhook_url": webhook, "webhook_retries": 0})


async def prove(fault: Fault, data_dir: Path, receiver: Receiver) -> dict[str, Any]:
    cfg = config_for(fault, data_dir, receiver.url)
    rule = next(r for r in rules_from_config(cfg.alerts) if r.name == fault.rule)
    events: list[AlertEvent] = []
    statuses: list[AlertStatus] = []

    def mine(status: AlertStatus) -> AlertEvent | None:
        return next((e for e in events if e.rule == rule.name and e.state is status), None)

    async with running(cfg, data_dir, events, orders=fault.orders) as system:
        engine = system.monitoring.alerts

        def state():
            return next(s for s in engine.states() if s.rule.name == rule.name)

        def watch() -> None:  # the rule's status as the engine holds it, each change once
            st = state().status
            if not statuses or statuses[-1] is not st:
                statuses.append(st)

        # a healthy baseline first: the rule has seen a value and is quiet
        await until(lambda: state().value is not None and state().status is AlertStatus.INACTIVE and not events,
                    30, f"{rule.name} sees a healthy value")  # fmt: skip
        injected = time.time()
        handle = fault.inject(system)
        fired = await until(lambda: watch() or mine(AlertStatus.FIRING), rule.for_s + 15, f"{rule.name} fires")
        recovered = time.time()
        fault.recover(system, handle)
        resolved = await until(lambda: watch() or mine(AlertStatus.RESOLVED), 20, f"{rule.name} resolves")
    return {
        "rule": rule,
        "statuses": statuses,
        "to_firing_s": fired.ts_ns / 1e9 - injected,
        "to_resolved_s": resolved.ts_ns / 1e9 - recovered,
        "fired": fired,
        "resolved": resolved,
        "window_s": cfg.monitoring.window_s,
        "interval_s": cfg.monitoring.interval_s,
    }


@pytest.mark.parametrize("name", list(FAULTS))
def test_each_default_rule_fires_on_its_fault_notifies_and_resolves(name, tmp_path, caplog):
    fault = FAULTS[name]
    receiver = Receiver()
    caplog.set_level(logging.INFO, logger="alluse.monitoring.alerts")
    try:
        got = asyncio.run(prove(fault, tmp_path, receiver))
    finally:
        receiver.close()
    rule = got["rule"]
    print(f"\n{name}: fault -> firing {got['to_firing_s']:.2f} s (for {rule.for_s:g} s), "
          f"recovery -> resolved {got['to_resolved_s']:.2f} s")  # fmt: skip
    assert rule.for_s == FOR_S  # the config's duration is the one the engine used
    # pending, then firing (a value back on the good side for a tick, e.g. the CPU hog descheduled on a busy
    # machine, resets the wait: that is the rule working), never sooner than the `for`, and within a window and a
    # few ticks of it
    statuses = got["statuses"]
    assert statuses[:2] == [AlertStatus.INACTIVE, AlertStatus.PENDING], statuses
    assert statuses[statuses.index(AlertStatus.FIRING) - 1] is AlertStatus.PENDING, statuses
    slack = got["window_s"] + 4 * got["interval_s"] + 4.0  # a busy CI machine delays ticks and resets waits
    assert rule.for_s <= got["to_firing_s"] <= rule.for_s + slack
    assert 0 <= got["to_resolved_s"] <= slack
    fired, resolved = got["fired"], got["resolved"]
    assert fired.severity == rule.severity and fired.threshold == rule.threshold
    assert fired.state is AlertStatus.FIRING and resolved.started_ns == fired.ts_ns
    # notified three ways: the log, the JSON lines file, the webhook
    logged = [r.getMessage().upper() for r in caplog.records if name in r.getMessage()]
    assert any("FIRING" in m for m in logged) and any("RESOLVED" in m for m in logged), logged
    lines = [json.loads(x) for x in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert [x["state"] for x in lines if x["rule"] == name][:2] == ["firing", "resolved"]
    assert [b["state"] for b in receiver.bodies if b["rule"] == name][:2] == ["firing", "resolved"]
    # no other of the six fired meanwhile: each fault is caught by its own rule
    others = {x["rule"] for x in lines if x["state"] == "firing"} & set(FAULTS) - {name}
    assert not others, others
