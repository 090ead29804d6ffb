"""Running totals of the market and the analyzer reach /metrics' counters, each counted once."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from vyx.daemon.status import CounterMirror
from vyx.telemetry.metrics import Metrics


def _market(**kw: int) -> Any:
    base = {"frames": 0, "reconnects": 0, "gaps_repaired": 0, "bars_repaired": 0}
    return SimpleNamespace(**{**base, **kw})


def _analyzer(**kw: int) -> Any:
    base = {"completed": 0, "failed": 0, "dropped": 0, "abandoned_budget": 0}
    return SimpleNamespace(**{**base, **kw})


def test_totals_become_counter_increments() -> None:
    metrics = Metrics()
    mirror = CounterMirror(metrics)
    mirror.market(_market(frames=10, reconnects=1))
    mirror.market(_market(frames=25, reconnects=1, gaps_repaired=2, bars_repaired=7))
    assert metrics.value("vyx_market_frames_total") == 25
    assert metrics.value("vyx_market_reconnects_total") == 1
    assert metrics.value("vyx_market_gaps_repaired_total") == 2
    assert metrics.value("vyx_market_bars_repaired_total") == 7
    mirror.analyzer(_analyzer(completed=3, failed=1))
    mirror.analyzer(_analyzer(completed=5, failed=1, dropped=2))
    assert metrics.value("vyx_analyses_total", {"outcome": "completed"}) == 5
    assert metrics.value("vyx_analyses_total", {"outcome": "failed"}) == 1
    assert metrics.value("vyx_analyses_total", {"outcome": "dropped"}) == 2
    assert metrics.value("vyx_analyses_total", {"outcome": "abandoned_budget"}) == 0


def test_a_total_that_goes_back_never_decrements_a_counter() -> None:
    """A restarted service (totals from zero again) continues the counter from where it is."""
    metrics = Metrics()
    mirror = CounterMirror(metrics)
    mirror.market(_market(frames=100))
    mirror.market(_market(frames=4))
    mirror.market(_market(frames=10))
    assert metrics.value("vyx_market_frames_total") == 106
