import random

import pytest

from alluse.execution.retry import MS, RetryPolicy


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
