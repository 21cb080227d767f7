"""NautilusTrader side by side: the figures it promises on tiny runs, and a clear refusal without the extra."""

from __future__ import annotations

import subprocess
import sys

import pytest

from alluse.bench import nautilus


def test_without_the_extra_it_says_so_instead_of_measuring():
    """Run in a fresh interpreter where importing nautilus_trader fails, as on an install without `compare`."""
    code = (
        "import sys; sys.modules['nautilus_trader'] = None\n"
        "from alluse.bench import nautilus as n\n"
        "assert n.compare_available() is None\n"
        "for workload in (n.nautilus_md1_figures, n.nautilus_or1_figures):\n"
        "    try:\n"
        "        workload(True)\n"
        "    except n.CompareUnavailable as e:\n"
        "        print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    lines = out.stdout.splitlines()
    assert len(lines) == 2 and all("not installed" in line and nautilus.INSTALL_HINT in line for line in lines)


def by_name(figures):
    return {f.name: f for f in figures}


@pytest.fixture(scope="module")
def version():
    pytest.importorskip("nautilus_trader")
    version = nautilus.compare_available()
    assert version
    return version


def test_md1_through_their_data_engine(version):
    figures = by_name(nautilus.nautilus_md1_figures(True, n=2_000))
    assert set(figures) == {"throughput", "ns per quote"}
    rate, ns = figures["throughput"], figures["ns per quote"]
    assert all(f.workload == "MD-1" and f.variant == f"NautilusTrader {version}" for f in (rate, ns))
    assert (rate.unit, rate.higher_is_better, ns.unit, ns.higher_is_better) == ("quotes/s", True, "ns", False)
    assert rate.value > 0 and ns.value > 0
    assert rate.value * ns.value == pytest.approx(1e9)  # both from the same timed pass


def test_or1_through_their_backtest_venue(version):
    figures = by_name(nautilus.nautilus_or1_figures(True, n=200))
    assert set(figures) == {"latency p50", "latency p99", "latency p99.9", "throughput"}
    assert all(f.workload == "OR-1" and f.variant == f"NautilusTrader {version}" for f in figures.values())
    p50, p99, p999 = (figures[f"latency {p}"] for p in ("p50", "p99", "p99.9"))
    assert all(f.unit == "us" and not f.higher_is_better for f in (p50, p99, p999))
    assert 0 < p50.value <= p99.value <= p999.value
    rate = figures["throughput"]
    assert rate.unit == "orders/s" and rate.higher_is_better and rate.value > 0
    # every order took at least its own latency, so the burst cannot be faster than the median allows
    assert rate.value <= 1e6 / p50.value * 2
