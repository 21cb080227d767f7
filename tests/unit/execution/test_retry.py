import random

import pytest

from alluse.execution.retry import MS, RetryPolicy
from alluse.model import InvalidInput


def test_backoff_grows_exponentially_with_bounded_jitter_and_cap():
    policy = RetryPolicy(initial_backoff_ns=100 * MS, max_backoff_ns=1_000 * MS, multiplier=2.0, jitter=0.2)
    rng = random.Random(1)
    for attempt, base in [(1, 100), (2, 200), (3, 400), (4, 800), (5, 1000), (9, 1000)]:
        waits = [policy.backoff_ns(attempt, rng) for _ in range(200)]
        assert min(waits) >= base * MS * 0.8 and max(waits) <= base * MS * 1.2
        assert len(set(waits)) > 100  # jittered, not constant


@pytest.mark.parametrize("kw", [{"max_attempts": 0}, {"jitter": 1.0}, {"ack_timeout_ns": 0}, {"max_backoff_ns": 1}])
def test_bad_policies_are_refused(kw):
    with pytest.raises(ValueError):
        RetryPolicy(**kw)


@pytest.mark.parametrize(
    "kw", [{"ack_timeout_ns": 2e9}, {"max_attempts": True}, {"initial_backoff_ns": None}, {"jitter": "0.1"}]
)
def test_badly_typed_policies_are_refused_naming_the_field(kw):
    """A float ack timeout would reach the clock after the order was sent (compiled, a TypeError there)."""
    ((name, value),) = kw.items()
    with pytest.raises(InvalidInput) as err:
        RetryPolicy(**kw)
    assert (err.value.field, err.value.value) == (name, value)
