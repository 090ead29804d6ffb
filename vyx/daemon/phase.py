"""The market as the daemon runs it: its start-up's phase (``/health``, the browsers'
``status_update``), once it runs its handle, and its run until the daemon stops it
(:func:`run_market_until`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import attrs
import trio

from kernels.ring import RingBuffer
from vyx.market.closes import MarketEvent
from vyx.market.service import MarketConfig, MarketHandle, PhaseCallback, run_market
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


async def run_market_until(
    scope: trio.CancelScope,
    cfg: MarketConfig,
    rings: Mapping[str, RingBuffer],
    events: trio.MemorySendChannel[MarketEvent],
    on_phase: PhaseCallback,
    *,
    task_status: trio.TaskStatus[MarketHandle] = trio.TASK_STATUS_IGNORED,
) -> None:
    """:func:`~vyx.market.service.run_market` until ``scope`` is cancelled (the drain's first
    stage), then close ``events``: the screener then knows no more events will come."""
    async with events:
        with scope:
            await run_market(cfg, rings, events, on_phase=on_phase, task_status=task_status)
