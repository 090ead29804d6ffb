"""The analyzer's budgets and error reading: pure decisions, no clock (retries:
tests/vyx/test_retry.py; the breaker and the rate window: tests/vyx/test_breaker.py)."""

from __future__ import annotations

import pytest

from vyx.analysis.gemini import classify, parse_duration, retry_delay
from vyx.analysis.policy import DailyCounts, TokenBudget

DAY = 86_400_000


def test_token_budget_reserves_settles_and_resets_at_utc_midnight() -> None:
    b = TokenBudget(1000)
    now = 5 * DAY + 10
    assert b.reserve(600, now)
    assert not b.exhausted(now)
    b.settle(600, 450, now)
    assert b.used_today(now) == 450
    assert b.remaining(now) == 550
    assert not b.reserve(600, now)  # does not fit: the day is over
    assert b.exhausted(now)
    assert not b.reserve(10, now)
    assert not b.exhausted(6 * DAY)
    assert b.remaining(6 * DAY) == 1000
    assert TokenBudget(0).reserve(10**9, now)
    assert TokenBudget(0).remaining(now) is None


def test_daily_counts_per_trader() -> None:
    c = DailyCounts()
    c.add("a", 10)
    c.add("a", 20)
    c.add("a", 30, -1)
    assert c.count("a", 40) == 1
    assert c.count("b", 40) == 0
    assert c.count("a", DAY + 1) == 0


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("37s", 37.0), ("0.250s", 0.25), ({"seconds": 2, "nanos": 500_000_000}, 2.5), ("x", None)],
)
def test_parse_duration(value: object, seconds: float | None) -> None:
    assert parse_duration(value) == seconds


def test_retry_delay_from_an_error_body() -> None:
    body = {
        "error": {
            "details": [
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo"},
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "12s"},
            ]
        }
    }
    assert retry_delay(body) == 12.0
    assert retry_delay({"error": {"details": "junk"}}) is None
    assert retry_delay(None) is None


def test_classify_transport_errors_and_redacts() -> None:
    import httpx

    err = classify(httpx.ConnectError("refused for key sekret"), "sekret")
    assert err.outcome == "transport"
    assert "sekret" not in err.message
    assert classify(httpx.ReadTimeout("slow"), None).outcome == "timeout"
    assert classify(ValueError("odd"), None).outcome == "client"
