"""The circuit breaker and the request-rate window: pure decisions, no clock."""

from __future__ import annotations

from vyx.breaker import Breaker, RateWindow


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
