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
from vyx.config import Config
from vyx.daemon.scaler import (
    CpuMeter,
    LoadStats,
    ScalerConfig,
    ScalerDeps,
    ScreenLoad,
    run_scaler,
    state_after_restart,
)
from vyx.screener.service import Screener
from vyx.server.service import ServerHandle
from vyx.store.api import Store

if TYPE_CHECKING:
    from vyx.analysis import ConcurrentAnalyzer
    from vyx.fleet.fly_api import FlyMachines


async def run_daemon_scaler(
    cfg: Config,
    screener: Screener,
    store: Store,
    server: ServerHandle,
    analyzer: ConcurrentAnalyzer | None,
    row_id: str,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Measure screen load, analyzer queue and CPU; scale threads (and vCPUs on Fly)."""
    load, cpu = ScreenLoad(), CpuMeter(cfg.machine.cpus)

    def note(result: ScreenResult) -> None:
        load.note(result.duration_s, timeframe_ms(result.timeframe))

    screener.listeners.append(note)
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
