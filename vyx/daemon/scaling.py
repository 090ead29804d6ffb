"""The daemon's side of the DynamicScaler: what it measures and how it acts.

Worker threads change at once within the current vCPUs; with ``FLY_API_TOKEN``,
``FLY_APP_NAME`` and ``FLY_MACHINE_ID`` (set by Fly inside a machine) the vCPUs change through
the Machines API (a restart: the store is flushed first, and the new daemon rebuilds its state
from Binance history, so no signal is lost or repeated).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import trio
from loguru import logger

from kernels.executor import ScreenResult
from kernels.timeframes import timeframe_ms
from vyx.daemon.scaler import (
    CpuMeter,
    LoadStats,
    ScalerConfig,
    ScalerDeps,
    ScreenLoad,
    run_scaler,
    state_after_restart,
)
from vyx.daemon.services import Services

if TYPE_CHECKING:
    from vyx.fleet.fly_api import FlyMachines


def note_screen(load: ScreenLoad, result: ScreenResult) -> None:
    """A :attr:`~vyx.screener.service.ScreenerHooks.on_screen` hook: ``result``'s share of its
    bar interval, into ``load``."""
    load.note(result.duration_s, timeframe_ms(result.timeframe))


async def run_daemon_scaler(
    services: Services, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    """Measure screen load (``services.load``, fed by the screener's :func:`note_screen` hook),
    analyzer queue and CPU; scale threads (and vCPUs on Fly)."""
    cfg, screener, store, server = services.cfg, services.screener, services.store, services.server
    analyzer, row_id, load = services.analyzer, services.row_id, services.load
    cpu = CpuMeter(cfg.machine.cpus)
    fly: FlyMachines | None = None
    machine = None
    if cfg.fly.api_token and cfg.fly.app_name and cfg.fly.machine_id:
        from vyx.fleet.fly_api import FlyError, FlyMachines

        fly = FlyMachines.from_config(cfg.fly)
        try:
            machine = await fly.get(cfg.fly.machine_id)
        except FlyError as exc:
            logger.warning("scaler: Machines API unavailable ({}); vCPU changes off", exc)
            await fly.aclose()
            fly = None
    state = state_after_restart(
        machine,
        workers=cfg.runtime.workers,
        cpus=cfg.machine.cpus,
        memory_mb=cfg.machine.memory_mb,
        now=trio.current_time(),
        wall_ms=int(time.time() * 1000),
    )

    def sample() -> LoadStats:
        queue = analyzer.statistics().queue_depth if analyzer is not None else 0
        return LoadStats(load.take(), queue, cpu.read())

    async def broadcast(message: Mapping[str, Any]) -> None:
        server.broadcast(message)

    deps = ScalerDeps(
        sample=sample,
        set_workers=screener.set_workers,
        save_event=store.save_event,
        broadcast=broadcast,
        prepare_restart=store.flush,
        user_id=cfg.machine.user_id,
        row_id=row_id,
        fly=fly,
        fly_machine_id=cfg.fly.machine_id,
    )
    try:
        await run_scaler(
            ScalerConfig(vcpu_enabled=fly is not None), state, deps, task_status=task_status
        )
    finally:
        if fly is not None:
            with trio.move_on_after(2) as scope:
                scope.shield = True
                await fly.aclose()
