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

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import trio
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
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from kernels.timeframes import timeframe_ms

if TYPE_CHECKING:
    from kernels.executor import ScreenResult
    from kernels.track_record import TrackRecord

#: Screen durations in seconds: the buckets resolve 0.5 ms to 2.5 s (finely below 50 ms, where
#: screens are, so quantiles read from the histogram are meaningful).
SCREEN_BUCKETS = (
    0.0005,
    0.001,
    0.0015,
    0.002,
    0.003,
    0.004,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.02,
    0.03,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)

__all__ = ["CONTENT_TYPE_LATEST", "SCREEN_BUCKETS", "Metrics", "trio_task_count"]


def trio_task_count() -> float:
    """Tasks alive in the calling thread's Trio run (NaN outside one): a leak shows as growth."""
    try:
        root = trio.lowlevel.current_root_task()
    except RuntimeError:
        return math.nan
    if root is None:
        return math.nan
    count, stack = 0, [root]
    while stack:
        task = stack.pop()
        count += 1
        for nursery in task.child_nurseries:
            stack.extend(nursery.child_tasks)
    return float(count)


class Metrics:
    """Every metric of the daemon, registered on ``self.registry``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        # The ``*_created`` timestamp series only add noise to a single daemon's scrape.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self._screened_upto: dict[str, int] = {}
        #: Per trader, its labelled record gauges (:meth:`observe_record`).
        self._record_gauges: dict[str, tuple[Gauge, ...]] = {}
        #: Per trader, its newest record not yet in its gauges.
        self._records: dict[str, TrackRecord] = {}
        # First of all collectors: the records' gauges are set before they are read.
        r.register(_BeforeCollecting(self._set_record_gauges))
        self._market(r)
        self._screener(r)
        self._outcomes(r)
        self._services(r)
        self._server(r)
        # process: RSS, CPU seconds, open fds (standard ``process_*`` names; Linux only)
        ProcessCollector(registry=r)
        # runtime: read when scraped (``/metrics`` is served on the event loop's thread)
        self.trio_tasks = Gauge("vyx_trio_tasks", "Trio tasks alive in the daemon.", registry=r)
        self.trio_tasks.set_function(trio_task_count)

    def _market(self, r: CollectorRegistry) -> None:
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

    def _screener(self, r: CollectorRegistry) -> None:
        self.screens = Counter(
            "vyx_screens", "Screens run, by timeframe.", ["timeframe"], registry=r
        )
        self.close_to_signals = Histogram(
            "vyx_close_to_signals_seconds",
            "From a close announced (every symbol's bar in) to its signals stored and pushed.",
            buckets=SCREEN_BUCKETS,
            registry=r,
        )
        self.screen_duration = Histogram(
            "vyx_screen_duration_seconds",
            "Wall time of one screen (all plans, all symbols), by timeframe.",
            ["timeframe"],
            buckets=SCREEN_BUCKETS,
            registry=r,
        )
        self.bars_screened = Counter(
            "vyx_screened_bars",
            "Closed bars stepped by screens, by timeframe.",
            ["timeframe"],
            registry=r,
        )
        self.screened_upto = Gauge(
            "vyx_screened_upto_ms",
            "Close time (epoch ms) of the newest bar screened, by timeframe.",
            ["timeframe"],
            registry=r,
        )
        self.signals = Counter("vyx_signals", "Signals created.", registry=r)

    def _outcomes(self, r: CollectorRegistry) -> None:
        """Each trader's record over its newest complete signals (docs/outcomes.md)."""
        self.outcomes_open = Gauge(
            "vyx_outcomes_open", "Signals whose outcome is being followed.", registry=r
        )
        self.outcomes_unscored = Gauge(
            "vyx_outcomes_unscored",
            "Signals not scored (every tracker row taken) or given up (bars left the rings).",
            registry=r,
        )
        self.trader_scored = Gauge(
            "vyx_trader_outcomes",
            "Complete signal outcomes in a trader's record.",
            ["trader"],
            registry=r,
        )
        self.trader_hit_rate = Gauge(
            "vyx_trader_hit_rate",
            "Share of a trader's signals with a positive return at +N bars.",
            ["trader", "horizon"],
            registry=r,
        )
        self.trader_mean_return = Gauge(
            "vyx_trader_mean_return",
            "Mean return at +N bars (a fraction).",
            ["trader", "horizon"],
            registry=r,
        )
        self.trader_expectancy = Gauge(
            "vyx_trader_expectancy",
            "Mean trade return (out at target, stop or +24 bars).",
            ["trader"],
            registry=r,
        )
        self.trader_profit_factor = Gauge(
            "vyx_trader_profit_factor",
            "Trade gains over losses (+Inf without a loss).",
            ["trader"],
            registry=r,
        )
        self.trader_worst_mae = Gauge(
            "vyx_trader_worst_mae",
            "Worst adverse excursion of a trader's signals.",
            ["trader"],
            registry=r,
        )
        self.trader_touches = Gauge(
            "vyx_trader_touches",
            "Signals whose target or stop was touched first.",
            ["trader", "level"],
            registry=r,
        )

    def _services(self, r: CollectorRegistry) -> None:
        """The analyzer, the store and every bounded queue."""
        self.analyses = Counter(
            "vyx_analyses", "Signal analyses completed, by outcome.", ["outcome"], registry=r
        )
        self.queue_depth = Gauge(
            "vyx_queue_depth", "Items waiting in a bounded queue, by queue.", ["queue"], registry=r
        )
        self.errors = Counter("vyx_errors", "Errors, by component.", ["component"], registry=r)

    def _server(self, r: CollectorRegistry) -> None:
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

    def observe_screen(self, result: ScreenResult) -> None:
        """Count one screen at close (a :attr:`Screener.listeners` callback)."""
        tf = result.timeframe
        self.screens.labels(tf).inc()
        self.screen_duration.labels(tf).observe(result.duration_s)
        self.bars_screened.labels(tf).inc(result.bars_stepped)
        upto = result.open_time + timeframe_ms(tf)
        # Kept here: reading it back through the registry collects every metric (the process
        # collector reads /proc), ~1-2 ms per screen.
        if upto > self._screened_upto.get(tf, -1):
            self._screened_upto[tf] = upto
            self.screened_upto.labels(tf).set(upto)

    def observe_record(self, trader_id: str, record: TrackRecord) -> None:
        """A trader's record, for its gauges (NaN where a figure has no signal yet): they are
        set when the registry is next read (a scrape of ``/metrics``, :meth:`value`), from
        the newest record each trader had then (a record changes at every close with a
        complete signal of the trader; its 15 gauges cost ~6 µs to set)."""
        self._records[trader_id] = record

    def _set_record_gauges(self) -> None:
        records, self._records = self._records, {}
        for trader_id, record in records.items():
            self._set_record(trader_id, record)

    def _set_record(self, trader_id: str, record: TrackRecord) -> None:
        # Its labelled gauges are looked up once per trader (a look-up is ~4 µs).
        gauges = self._record_gauges.get(trader_id)
        if gauges is None:
            gauges = self._record_gauges[trader_id] = self._record_gauges_of(trader_id)
        values = (
            record.signals,
            *record.hit_rate,
            *record.mean_return,
            record.expectancy,
            record.profit_factor,
            record.worst_mae,
            record.targets,
            record.stops,
        )
        for gauge, v in zip(gauges, values, strict=True):
            gauge.set(math.nan if v is None else v)

    def _record_gauges_of(self, trader_id: str) -> tuple[Gauge, ...]:
        """A trader's record gauges, in :meth:`observe_record`'s order of values."""
        from kernels.outcomes import HORIZONS

        return (
            self.trader_scored.labels(trader_id),
            *(self.trader_hit_rate.labels(trader_id, str(h)) for h in HORIZONS),
            *(self.trader_mean_return.labels(trader_id, str(h)) for h in HORIZONS),
            self.trader_expectancy.labels(trader_id),
            self.trader_profit_factor.labels(trader_id),
            self.trader_worst_mae.labels(trader_id),
            self.trader_touches.labels(trader_id, "target"),
            self.trader_touches.labels(trader_id, "stop"),
        )

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


class _BeforeCollecting(Collector):
    """A collector of no metric that calls ``before()`` whenever the registry is collected
    (registered first, it runs before every other collector)."""

    def __init__(self, before: Callable[[], None]) -> None:
        self._before = before

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> list[Metric]:
        self._before()
        return []
