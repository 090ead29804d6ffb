"""Breaker, rate window and budgets: pure decisions, no clock (retries: tests/vyx/test_retry.py)."""

from __future__ import annotations

import pytest

from vyx.analysis.gemini import classify, parse_duration, retry_delay
from vyx.analysis.policy import Breaker, DailyCounts, RateWindow, TokenBudget

DAY = 86_400_000


def test_breaker_opens_probes_and_closes() -> None:
    b = Breaker(threshold=3, cooldown_s=10.0, max_cooldown_s=25.0)
    for t in range(2):
        b = b.record("server", float(t))
    assert b.state == "closed"
    assert b.allow(2.0)[0]
    b = b.record("timeout", 2.0)
    assert b.state == "open"
    assert b.wait_s(5.0) == 7.0
    assert b.allow(11.9) == (False, b)
    ok, b = b.allow(12.0)
    assert ok
    assert b.state == "half_open"
    assert not b.allow(12.5)[0]  # one probe at a time
    b = b.record("rate_limited", 13.0)  # the probe failed: longer period
    assert b.state == "open"
    assert b.period_s == 20.0
    assert b.retry_at == 33.0
    b = b.allow(33.0)[1].record("server", 34.0)
    assert b.period_s == 25.0  # capped
    b = b.allow(60.0)[1].record("ok", 61.0)
    assert b.state == "closed"
    assert b.failures == 0


def test_invalid_answers_and_client_errors_do_not_trip_the_breaker() -> None:
    b = Breaker(threshold=2)
    for outcome in ("invalid", "client", "server", "invalid", "server"):
        b = b.record(outcome, 0.0)  # type: ignore[arg-type]
    assert b.state == "closed"


def test_rate_window_allows_per_minute_in_any_window() -> None:
    w = RateWindow(3)
    for t in (0.0, 1.0, 2.0):
        assert w.wait_s(t) == 0
        w.take(t)
    assert w.wait_s(30.0) == 30.0  # the oldest start leaves the window at 60
    assert w.wait_s(60.0) == 0
    w.hold(100.0)
    assert w.wait_s(61.0) == 39.0
    assert w.recent(61.0) == 1


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
    body = {"error": {"details": [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo"},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "12s"},
    ]}}  # fmt: skip
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
