import random

import pytest
from pydantic import ValidationError

from alluse.common.clock import MS
from alluse.execution.config import ExecutionConfig


def test_backoff_grows_exponentially_with_bounded_jitter_and_cap():
    policy = ExecutionConfig(initial_backoff_ms=100, max_backoff_ms=1_000, backoff_multiplier=2.0, jitter=0.2)
    rng = random.Random(1)
    for attempt, base in [(1, 100), (2, 200), (3, 400), (4, 800), (5, 1000), (9, 1000)]:
        waits = [policy.backoff_ns(attempt, rng) for _ in range(200)]
        assert min(waits) >= base * MS * 0.8 and max(waits) <= base * MS * 1.2
        assert len(set(waits)) > 100  # jittered, not constant


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": 2.5}, "max_attempts"),
        ({"jitter": 1.0}, "jitter"),
        ({"jitter": "much"}, "jitter"),
        ({"ack_timeout_ms": 0}, "ack_timeout_ms"),
        ({"initial_backoff_ms": None}, "initial_backoff_ms"),
        ({"max_backoff_ms": 1}, "initial_backoff_ms"),  # below the initial backoff: the pair is named
    ],
)
def test_bad_policies_are_refused_naming_the_field(kw, field):
    with pytest.raises(ValidationError, match=field):
        ExecutionConfig(**kw)


def test_the_clock_gets_whole_nanoseconds_whatever_the_config_holds():
    """A float would reach the clock after the order was sent (compiled, a TypeError there)."""
    policy = ExecutionConfig(ack_timeout_ms=2.5, initial_backoff_ms=0.3333)
    assert policy.ack_timeout_ns == 2_500_000 and type(policy.ack_timeout_ns) is int
    assert type(policy.backoff_ns(1, random.Random(1))) is int
