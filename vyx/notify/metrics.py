"""The notifier in ``/metrics`` and ``/health``: per channel (its ``service:hash``, never a URL)
sent, delivered, failed, retried, pending, dead and the breaker's state.

:class:`AlertsCollector` reads :class:`~vyx.notify.stats.NotifierStatistics` when scraped (no
counters to keep in step); :func:`health_of` turns the same numbers into the ``alerts``
component of ``/health`` (degraded while a channel keeps failing; never critical: a daemon
whose Telegram is down still screens and stores) and :func:`health_numbers` into its numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from vyx.notify.stats import ChannelStatistics, NotifierStatistics
from vyx.telemetry.health import HealthRegistry
from vyx.telemetry.metrics import Metrics

_COUNTERS = (
    ("sent", "Messages the service acknowledged (a digest is one)."),
    ("delivered", "Alerts those messages carried."),
    ("failed", "Attempts that failed."),
    ("retried", "Attempts that repeated a failed one."),
    ("digests", "Messages that were digests of several alerts."),
    ("dead", "Alerts given up (rejected again and again, too old, over the pending limit)."),
)
_BREAKER = {"closed": 0.0, "half_open": 1.0, "open": 2.0}


class AlertsCollector(Collector):
    """``vyx_alerts_*`` series, read from ``statistics()`` at each scrape."""

    def __init__(self, statistics: Callable[[], NotifierStatistics]) -> None:
        self._statistics = statistics

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        """One family per number, one sample per channel."""
        stats = self._statistics()
        labels = ["channel", "service"]
        for name, doc in _COUNTERS:
            family = CounterMetricFamily(f"vyx_alerts_{name}", doc, labels=labels)
            for c in stats.channels:
                family.add_metric([c.channel, c.service], float(getattr(c, name)))
            yield family
        pending = GaugeMetricFamily("vyx_alerts_pending", "Alerts waiting.", labels=labels)
        breaker = GaugeMetricFamily(
            "vyx_alerts_breaker", "Circuit breaker: 0 closed, 1 half open, 2 open.", labels=labels
        )
        for c in stats.channels:
            pending.add_metric([c.channel, c.service], float(c.pending))
            breaker.add_metric([c.channel, c.service], _BREAKER.get(c.breaker, 2.0))
        yield pending
        yield breaker
        muted = CounterMetricFamily(
            "vyx_alerts_muted", "Alerts not sent: trader muted or notifications off."
        )
        muted.add_metric([], float(stats.muted))
        yield muted


def _line(c: ChannelStatistics) -> str:
    line = f"{c.channel} {c.sent} sent, {c.failed} failed, {c.pending} pending"
    if c.breaker != "closed":
        line += f", breaker {c.breaker}"
    if c.failing and c.last_error:
        line += f" ({c.last_error[:120]})"
    return line


def health_of(stats: NotifierStatistics) -> tuple[str, str]:
    """``(state, detail)`` of the ``alerts`` component."""
    if not stats.channels:
        return "disabled", "no channels (NOTIFY_URLS, a trader's notify)"
    failing = stats.failing
    detail = "; ".join(_line(c) for c in stats.channels)
    if failing:
        names = ", ".join(c.channel for c in failing)
        return "degraded", f"failing: {names}; {detail}"
    return "ok", detail


def health_numbers(stats: NotifierStatistics) -> dict[str, Any]:
    """Per channel numbers for ``/health``'s ``metrics`` (JSON)."""
    return {
        "alerts": {
            c.channel: {
                "sent": c.sent,
                "delivered": c.delivered,
                "failed": c.failed,
                "pending": c.pending,
                "breaker": c.breaker,
            }
            for c in stats.channels
        }
    }


def alerts_reporter(health: HealthRegistry) -> Callable[[NotifierStatistics], None]:
    """The notifier's ``report``: its state as the ``alerts`` component of ``/health``."""

    def report(stats: NotifierStatistics) -> None:
        state, detail = health_of(stats)
        health.report("alerts", state, detail)

    return report


def watch_alerts(
    statistics: Callable[[], NotifierStatistics], metrics: Metrics, health: HealthRegistry
) -> None:
    """``/metrics`` and ``/health`` show the notifier's channels (``statistics``: its own)."""
    metrics.registry.register(AlertsCollector(statistics))
    health.add_metrics_source(lambda: health_numbers(statistics()))
