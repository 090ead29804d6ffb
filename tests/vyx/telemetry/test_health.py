"""Health evaluation rules."""

from __future__ import annotations

from vyx.telemetry.health import ComponentState, HealthRegistry, Status


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _all_ok(registry: HealthRegistry) -> None:
    for name in ("market", "screener", "store", "analyzer", "server"):
        registry.report(name, ComponentState.OK)


def test_rules() -> None:
    clock = FakeClock()
    registry = HealthRegistry(clock=clock)
    assert registry.evaluate().status is Status.DEGRADED  # nothing reported yet
    _all_ok(registry)
    assert registry.evaluate().status is Status.HEALTHY
    registry.report("analyzer", ComponentState.DISABLED, "no GEMINI_API_KEY")
    assert registry.evaluate().status is Status.HEALTHY
    registry.report("analyzer", ComponentState.DOWN, "429")
    assert registry.evaluate().status is Status.DEGRADED
    assert registry.evaluate().status.http_status == 200
    registry.report("market", "down", "418: banned")
    report = registry.evaluate()
    assert report.status is Status.UNHEALTHY
    assert report.status.http_status == 503
    assert report.to_json()["components"]["market"] == {
        "state": "down",
        "detail": "418: banned",
        "age_s": 0.0,
    }


def test_stale_reports_degrade_and_uptime_counts() -> None:
    clock = FakeClock()
    registry = HealthRegistry(clock=clock)
    _all_ok(registry)
    registry.report("market", ComponentState.OK, "streaming", stale_after_s=90)
    registry.add_metrics_source(lambda: {"signals": 3})
    clock.now += 120
    report = registry.evaluate()
    assert report.status is Status.DEGRADED
    assert report.components["market"]["state"] == "degraded"
    assert report.components["market"]["detail"].startswith("stale: no report for 120 s")
    assert report.uptime_s == 120
    assert report.metrics == {"signals": 3}
