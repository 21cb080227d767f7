"""The grade cannot hide a failure, proven both ways on a running system: a clean run grades A or B; the same run
sabotaged (slowness injected on the order path, a quarter of the orders rejected by the venue) grades F, and its
summary leads with what held it down."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from running_system import running, system_config

from alluse.analytics.generate import generate_report
from alluse.analytics.results import Report
from alluse.analytics.summary import blocks
from alluse.app.system import TradingSystem
from alluse.brokers.paper.config import FaultConfig
from alluse.monitoring.alert_events import AlertEvent

pytestmark = pytest.mark.slow  # a running system for several seconds: once, not again on the pure build

RUN_S = 10.0
SLOW_MS = 8  # the order path's own limit is a p99 of 5 ms


def sabotage(system: TradingSystem) -> None:
    """The risk gate's quote lookup takes 8 ms (as a contended lock would) and the venue rejects 25 % of orders."""
    mid_of = system.c.risk.ctx.mid_of

    def slow_mid(instrument_id: str) -> float | None:
        until = time.perf_counter_ns() + SLOW_MS * 1_000_000
        while time.perf_counter_ns() < until:
            pass
        return mid_of(instrument_id)

    system.c.risk.ctx.mid_of = slow_mid
    system.c.broker.set_faults(FaultConfig(permanent_reject_rate=0.25, seed=3))


async def trade(data_dir: Path, sabotaged: bool) -> list[AlertEvent]:
    alerts: list[AlertEvent] = []
    async with running(system_config(data_dir), data_dir, alerts, orders=True) as system:
        if sabotaged:
            sabotage(system)
        await asyncio.sleep(RUN_S)  # the run's length: trading goes on meanwhile
    return alerts


def graded(data_dir: Path, sabotaged: bool) -> Report:
    asyncio.run(trade(data_dir, sabotaged))
    cfg = system_config(data_dir)
    report, _ = generate_report(data_dir, data_dir / "report", cfg.analytics, generated_ns=time.time_ns())
    return report


def after_grade(report: Report) -> str:
    """The paragraph that follows the grade's heading in the executive summary."""
    out = blocks(report)
    at = next(i for i, b in enumerate(out) if b[0] == "h2" and str(b[1]).startswith("Grade"))
    return str(out[at + 1][1])


def test_a_clean_run_grades_a_or_b(tmp_path):
    report = graded(tmp_path, sabotaged=False)
    g = report.grade
    checks = {c.name: c for h in g.components for c in h.checks}
    print(f"\nclean run: grade {g.letter} ({g.score:.1f}/100)")  # `pytest -s` shows it
    assert g.letter in ("A", "B"), (g.letter, g.score, g.caps, [(c.name, c.status) for c in checks.values()])
    assert not g.caps and not after_grade(report).startswith("Held down")
    assert checks["order submit path p99"].status == "met" and checks["order error ratio"].status == "met"


def test_a_sabotaged_run_grades_f_and_its_summary_leads_with_why(tmp_path):
    report = graded(tmp_path, sabotaged=True)
    g = report.grade
    checks = {c.name: c for h in g.components for c in h.checks}
    print(f"\nsabotaged run: grade {g.letter} ({g.score:.1f}/100); {after_grade(report)}")
    assert checks["order error ratio"].status == "missed" and checks["order submit path p99"].status == "missed"
    assert g.letter == "F" and g.score is not None and g.score <= 59
    trading = next(h for h in g.components if h.component == "trading")
    assert trading.status == "unhealthy"
    assert g.caps[0].startswith("critical check missed: trading order error ratio")
    lead = after_grade(report)
    assert lead.startswith("Held down by: critical check missed: trading order error ratio"), lead
