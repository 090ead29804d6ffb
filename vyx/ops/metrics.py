"""The daemon's Prometheus metrics, defined once; every service updates the same objects.

One :class:`Metrics` per daemon, each with its own ``CollectorRegistry`` (never the global
default), so tests can run many daemons in one process. The daemon creates it and hands it to
the services::

    metrics = Metrics()
    metrics.frames.inc()                                  # market: one WS frame parsed
    with metrics.screen_duration.labels("5m").time():     # screener: one screen
        ...
    metrics.queue_depth.labels("analysis").set(n)

``/metrics`` serves :meth:`Metrics.render`; ``/health`` shows :meth:`Metrics.headline`.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)

#: Screen durations are milliseconds; the buckets resolve 0.5 ms to 2.5 s.
SCREEN_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

__all__ = ["CONTENT_TYPE_LATEST", "SCREEN_BUCKETS", "Metrics"]


class Metrics:
    """Every metric of the daemon, registered on ``self.registry``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        # The ``*_created`` timestamp series only add noise to a single daemon's scrape.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        # market
        self.frames = Counter(
            "vyx_market_frames", "Exchange WebSocket frames received.", registry=r
        )
        self.reconnects = Counter(
            "vyx_market_reconnects", "Exchange WebSocket reconnects.", registry=r
        )
        self.gaps_repaired = Counter(
            "vyx_market_gaps_repaired",
            "Candle gaps repaired from REST after a reconnect.",
            registry=r,
        )
        self.bars_repaired = Counter(
            "vyx_market_bars_repaired", "Closed candles fetched by gap repair.", registry=r
        )
        # screener
        self.screens = Counter(
            "vyx_screens", "Screens run, by timeframe.", ["timeframe"], registry=r
        )
        self.screen_duration = Histogram(
            "vyx_screen_duration_seconds",
            "Wall time of one screen (all plans, all symbols), by timeframe.",
            ["timeframe"],
            buckets=SCREEN_BUCKETS,
            registry=r,
        )
        self.signals = Counter("vyx_signals", "Signals created.", registry=r)
        # analyzer / store
        self.analyses = Counter(
            "vyx_analyses", "Signal analyses completed, by outcome.", ["outcome"], registry=r
        )
        self.queue_depth = Gauge(
            "vyx_queue_depth", "Items waiting in a bounded queue, by queue.", ["queue"], registry=r
        )
        self.errors = Counter("vyx_errors", "Errors, by component.", ["component"], registry=r)
        # server
        self.ws_clients = Gauge(
            "vyx_ws_clients", "Authenticated browser WebSocket clients.", registry=r
        )
        self.ws_messages_sent = Counter(
            "vyx_ws_messages_sent", "Messages queued to browser clients.", registry=r
        )
        self.ws_dropped = Counter(
            "vyx_ws_clients_dropped",
            "Browser clients closed by the server, by reason.",
            ["reason"],
            registry=r,
        )
        self.ws_auth_failures = Counter(
            "vyx_ws_auth_failures", "Rejected WebSocket authentications.", registry=r
        )
        # process: RSS, CPU seconds, open fds (standard ``process_*`` names; Linux only)
        ProcessCollector(registry=r)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)

    def value(self, name: str, labels: dict[str, str] | None = None) -> float:
        """The current value of one sample (0.0 when it does not exist yet)."""
        value = self.registry.get_sample_value(name, labels or {})
        return 0.0 if value is None else value

    def headline(self) -> dict[str, Any]:
        """A few numbers for ``/health`` (JSON values)."""
        return {
            "frames": int(self.value("vyx_market_frames_total")),
            "reconnects": int(self.value("vyx_market_reconnects_total")),
            "signals": int(self.value("vyx_signals_total")),
            "ws_clients": int(self.value("vyx_ws_clients")),
            "rss_mb": round(self.value("process_resident_memory_bytes") / 2**20, 1),
        }
