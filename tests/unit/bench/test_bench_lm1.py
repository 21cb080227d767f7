"""LM-1 counts what it claims: look-ups happen, the budget binds (a tight one evicts), nothing exceeds it."""

from alluse.bench.lm1 import TIGHT, lm1_figures


def test_lm1_over_two_simulated_days_never_exceeds_the_budget_and_a_tight_one_evicts():
    figures = {(f.variant, f.name): f.value for f in lm1_figures(True, days=2)}
    tight = f"a budget of {TIGHT} lines"
    assert figures[("optimised", "lines over the budget")] == 0 and figures[(tight, "lines over the budget")] == 0
    assert figures[(tight, "most lines in use")] == TIGHT and figures[(tight, "evictions")] > 0
    assert 0 < figures[("optimised", "prefetch hit ratio")] <= 100
