"""The market's start-up as the daemon reports it: its phase (``/health``, the browsers'
``status_update``) and, once it runs, its handle."""

from __future__ import annotations

import math
from collections.abc import Callable

import attrs
import trio

from vyx.market.service import MarketHandle
from vyx.telemetry.health import ComponentState, HealthRegistry


@attrs.define
class MarketPhase:
    """How far the market's start-up is: ``connecting``, ``unreachable``, ``backfilling`` or
    ``streaming``; or ``restricted`` (Binance refuses the location, the market is stopped) —
    see :data:`vyx.market.service.PhaseCallback`."""

    name: str = "connecting"
    detail: str = ""
    #: The running market, once it is backfilled and streaming (None before): the status
    #: counts its symbols.
    market: MarketHandle | None = None


_PHASE_HEALTH = {
    "connecting": ComponentState.STARTING,
    "backfilling": ComponentState.STARTING,
    "unreachable": ComponentState.DEGRADED,
    "streaming": ComponentState.OK,
    "restricted": ComponentState.DOWN,
}


@attrs.define
class PhaseReporter:
    """The market's :data:`~vyx.market.service.PhaseCallback`: keeps ``phase``, reports it to
    ``/health`` and has the browsers told (``push``) at each new phase and at most once a
    second within one (backfill progress)."""

    phase: MarketPhase
    health: HealthRegistry
    push: Callable[[], object]
    pushed_at: float = -math.inf

    def __call__(self, name: str, detail: str) -> None:
        changed = name != self.phase.name
        self.phase.name, self.phase.detail = name, detail[:300]
        self.health.report(
            "market", _PHASE_HEALTH.get(name, ComponentState.STARTING), self.phase.detail
        )
        now = trio.current_time()
        if changed or now - self.pushed_at >= 1.0:
            self.pushed_at = now
            self.push()
