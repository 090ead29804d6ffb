"""What the daemon says about itself: status and metrics for browsers, health, cloud_metrics."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import psutil
import trio

from vyx import __version__
from vyx.config import Config
from vyx.daemon.control import Control
from vyx.daemon.phase import MarketPhase
from vyx.daemon.services import Services
from vyx.market.service import MarketHandle
from vyx.market.statistics import MarketStatistics
from vyx.screener.service import Screener
from vyx.telemetry.health import ComponentState
from vyx.telemetry.metrics import Metrics

if TYPE_CHECKING:
    from vyx.analysis import ConcurrentAnalyzer
    from vyx.analysis.stats import AnalyzerStatistics

STATUS_PERIOD_S = 5.0
_ANALYZER_HEALTH = {
    "disabled": ComponentState.DISABLED,
    "offline": ComponentState.OK,
    "running": ComponentState.OK,
}


def status_update(control: Control) -> dict[str, Any]:
    """The ``status_update`` message."""
    return {"type": "status_update", "data": dict(control.status())}


def status(
    cfg: Config, screener: Screener, started_at: float, phase: MarketPhase
) -> dict[str, Any]:
    """The ``status_update`` data; ``market`` says how its start-up goes until it streams (or
    that Binance refuses the location), ``marketDetail`` says it in words."""
    market = phase.market
    stats = screener.statistics()
    uptime_s = round(time.monotonic() - started_at, 1)
    return {
        "status": "paused" if stats.paused else "running",
        "market": phase.name,
        "marketDetail": phase.detail,
        "cpus": cfg.machine.cpus,
        "uptime_s": uptime_s,
        "uptime": uptime_s,  # the original web app's name for it (seconds)
        "traders": len([t for t in stats.traders.values() if t.error is None]),
        "symbols": len(market.symbols) if market is not None else 0,
        "version": __version__,
        "machineId": cfg.machine.machine_id,
        # What a new trader may use (the editor's choices).
        "timeframes": list(screener.rings),
        "cooldownBars": cfg.market.cooldown_bars,
    }


class CounterMirror:
    """Copies services' running totals into the Prometheus counters (which only count up)."""

    MARKET = ("frames", "reconnects", "gaps_repaired", "bars_repaired")
    ANALYZER = ("completed", "failed", "dropped", "abandoned_budget")

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.seen: dict[str, int] = {}

    def _add(self, key: str, value: int) -> int:
        delta = max(0, value - self.seen.get(key, 0))
        self.seen[key] = value
        return delta

    def market(self, ms: MarketStatistics) -> None:
        """The market's counters, into the counters of the same names."""
        for name in self.MARKET:
            getattr(self.metrics, name).inc(self._add(name, getattr(ms, name)))

    def analyzer(self, an: AnalyzerStatistics) -> None:
        """The analyzer's outcomes, into ``vyx_analyses{outcome}``."""
        for outcome in self.ANALYZER:
            self.metrics.analyses.labels(outcome).inc(
                self._add("analyses." + outcome, getattr(an, outcome))
            )


async def status_loop(services: Services, market: MarketHandle) -> None:
    """Every few seconds: health reports, status and metrics to the browsers (drift-free)."""
    s = services
    cfg, analyzer, control, screener = s.cfg, s.analyzer, s.control, s.screener
    store, server, health, metrics = s.store, s.server, s.health, s.metrics
    started_at, phase = s.started_at, s.phase
    process = psutil.Process()
    process.cpu_percent()
    next_at = trio.current_time()
    mirror = CounterMirror(metrics)
    first = True
    while True:
        # The first report at once: /health says "ready" when the daemon is, not a period later.
        if not first:
            next_at += STATUS_PERIOD_S
            await trio.sleep_until(next_at)
        first = False
        ms = market.statistics()
        mirror.market(ms)
        age = ms.last_frame_age_s
        if ms.restricted is not None:
            health.report("market", ComponentState.DOWN, ms.restricted)
        elif age is None and time.monotonic() - started_at < 90:
            health.report("market", ComponentState.STARTING, "waiting for the first frame")
        elif age is None or age > 90:
            health.report("market", ComponentState.DEGRADED, f"no frame for {age}s")
        else:
            health.report(
                "market", ComponentState.OK, f"{ms.symbols} symbols, {ms.frames_per_s:.1f} frames/s"
            )
        ss = screener.statistics()
        health.report(
            "screener", ComponentState.OK, f"{ss.screens} screens, last {ss.last_screen_ms:.2f} ms"
        )
        st = store.statistics()
        store_state = (
            ComponentState.DEGRADED if st.quarantined or st.last_error else ComponentState.OK
        )
        health.report(
            "store", store_state, f"{st.pending_rows} pending, {st.quarantined} quarantined"
        )
        metrics.queue_depth.labels("store").set(st.pending_rows)
        queued, analyses = 0, 0
        if analyzer is not None:
            an = analyzer.statistics()
            queued, analyses = an.queue_depth, an.completed
            mirror.analyzer(an)
            health.report(
                "analyzer",
                _ANALYZER_HEALTH.get(an.state, ComponentState.DEGRADED),
                f"{an.state}: {an.completed} done, {an.queue_depth} queued",
            )
        metrics.queue_depth.labels("analysis").set(queued)
        metrics.ws_clients.set(server.statistics().clients)
        rss_mb = process.memory_info().rss / 2**20
        server.broadcast(
            {"type": "status_update", "data": status(cfg, screener, started_at, phase)}
        )
        for update in control.trader_changes():  # starting, warming up, running
            server.broadcast(update)
        server.broadcast(
            {
                "type": "metrics_update",
                "data": {
                    "activeSignals": len(control.recent),
                    "queueDepth": queued,
                    "storeQueue": st.pending_rows,
                    "analyses": analyses,
                    "cpuUsage": process.cpu_percent(),
                    "memoryUsage": round(rss_mb, 1),
                    "screens": ss.screens,
                    "lastScreenMs": round(ss.last_screen_ms, 3),
                    "framesPerS": round(ms.frames_per_s, 2),
                    "signals": ss.signals,
                },
            }
        )


def cloud_metrics(
    cfg: Config, screener: Screener, analyzer: ConcurrentAnalyzer | None, control: Control
) -> dict[str, float | int]:
    """The ``cloud_metrics`` row's values, measured now."""
    process = psutil.Process()
    ss = screener.statistics()
    return {
        "cpu_usage_vcpus": round(process.cpu_percent() / 100.0, 3),
        "memory_used_mb": round(process.memory_info().rss / 2**20, 1),
        "memory_total_mb": cfg.machine.memory_mb,
        "active_signals": len(control.recent),
        "analysis_queue_depth": analyzer.statistics().queue_depth if analyzer else 0,
        "analyses_completed_count": analyzer.statistics().completed if analyzer else 0,
        "filter_execution_time_ms": round(ss.last_screen_ms, 3),
        "signals_created_count": ss.signals,
        "errors_count": len(control.errors),
    }
