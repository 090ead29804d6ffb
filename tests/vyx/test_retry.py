"""The one retry policy and ``Retry-After`` parser every client shares: pure values, no clock."""

from __future__ import annotations

import random

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vyx.analysis.policy import GEMINI_RETRY
from vyx.retry import MAX_RETRY_AFTER_S, Backoff, RetryPolicy, parse_retry_after


@given(st.integers(0, 12), st.integers(0, 2**32))
def test_backoff_is_equal_jitter_below_the_cap(failures: int, seed: int) -> None:
    policy = RetryPolicy(Backoff(initial=1.0, maximum=60.0), max_attempts=None)
    for _ in range(failures):
        policy = policy.failed()
    ceiling = min(60.0, 2.0**failures)
    assert 0.5 * ceiling <= policy.delay(None, random.Random(seed)) <= ceiling


def test_unjittered_backoff_doubles_to_the_cap() -> None:
    b = Backoff(initial=0.5, maximum=3.0, jitter=0.0)
    delays = []
    for _ in range(5):
        delays.append(b.delay())
        b = b.failed()
    assert delays == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert b.succeeded().delay() == 0.5
    with pytest.raises(ValueError):
        Backoff(jitter=1.5)


def test_the_asked_delay_wins_bounded_and_attempts_count_down() -> None:
    policy = attrs.evolve(GEMINI_RETRY, max_attempts=3)
    assert policy.delay(37.0) == 37.0
    assert policy.delay(10_000.0) == policy.max_retry_after_s == 300.0
    assert policy.delay(0.0) == policy.min_delay_s > 0  # "retry now" is never a busy loop
    assert (policy.attempt, policy.exhausted) == (1, False)
    policy = policy.failed().failed()
    assert (policy.attempt, policy.exhausted) == (3, True)
    assert policy.succeeded().attempt == 1
    assert not RetryPolicy(max_attempts=None).failed().failed().failed().failed().exhausted
    assert GEMINI_RETRY.attempt == 1  # value object: evolve, never mutate


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("12", 12.0),
        (" 7 ", 7.0),
        ("0.75", 0.75),
        (3, 3.0),
        (2.5, 2.5),
        ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0),
        ("Wed, 21 Oct 2015 07:20:00 GMT", 0.0),  # in the past: now
        ("99999999999", MAX_RETRY_AFTER_S),  # bounded
        (1e300, MAX_RETRY_AFTER_S),
    ],
)
def test_retry_after_forms(value: object, seconds: float) -> None:
    assert parse_retry_after(value, now=1445412480) == seconds


@pytest.mark.parametrize(
    "value",
    [
        *(None, "", "soon", "-5", "1e3", "nan", "inf", "x" * 10_000),
        *(-1, float("nan"), float("inf"), True, [], {}, "Wed, 99 Oct 2015 07:28:10 GMT"),
    ],
)
def test_a_malformed_retry_after_is_the_default(value: object) -> None:
    assert parse_retry_after(value) is None
    assert parse_retry_after(value, default=60.0) == 60.0


def test_the_bound_is_the_callers() -> None:
    assert parse_retry_after("600", maximum=30.0) == 30.0
