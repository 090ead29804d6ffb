"""The DynamicScaler: worker threads now, vCPUs through the Fly Machines API when they run out.

:func:`scale_decision` is the pure rule; :func:`run_scaler` samples the load on a drift-free
period, applies the decision and reports it. Load (:class:`LoadStats`) is judged on three
signals:

- **screen share**: the longest screen since the last sample as a share of its candle interval
  (a 5 m screen of 30 s is 0.1);
- **analyzer queue depth** (signals waiting for Gemini);
- **CPU**: the process's CPU time as a share of the machine's vCPUs.

*High* when any signal is at or above its ``up`` threshold; *low* when all are at or below their
``down`` thresholds; in between nothing changes (hysteresis). A change needs ``up_samples``
consecutive high (``down_samples`` low) samples. Then, in order:

- high: one more worker thread while workers < vCPUs (immediate, ``worker_cooldown_s`` apart);
  else double the vCPUs (1 → 2 → 4 → 8, at most ``max_cpus``);
- low: one worker thread fewer while workers > 1; else halve the vCPUs (at least ``min_cpus``).

A vCPU change restarts the machine (Fly applies a new guest by restarting it), so it happens at
most once per ``cpu_cooldown_s`` and only when ``vcpu_enabled`` (a Fly token, app and machine id
are configured). Memory grows with the vCPUs to at least 256 MB each (Fly's shared-CPU minimum).

What survives the restart: before the update the shell flushes the store (``prepare_restart``:
the local spool is on the machine's ephemeral disk) and records a ``machine_scaled`` event; the
update writes the new ``MACHINE_CPUS``/``MACHINE_MEMORY`` into the machine's env and the time of
the change and the count of scale restarts into its metadata (``vyx_scaled_at_ms``,
``vyx_scale_restarts``), which :func:`state_after_restart` reads back so the cooldown holds across
the restart. Signal edge state is rebuilt from history at start (a condition already true does
not fire again) and signal ids are deterministic, so the restart neither loses nor duplicates
signals.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

import attrs
import psutil
import trio
from loguru import logger

from vyx.fleet.fly_api import FlyError, FlyMachines, Guest, Machine
from vyx.store.records import event_row

SCALED_AT_KEY = "vyx_scaled_at_ms"
RESTARTS_KEY = "vyx_scale_restarts"


@attrs.frozen
class LoadStats:
    """One load sample."""

    #: Longest screen since the last sample / its candle interval.
    screen_share: float
    #: Signals waiting for analysis.
    queue_depth: int
    #: Process CPU time / (wall time × vCPUs), 0..1 (more when over-committed).
    cpu: float


@attrs.frozen
class ScalerConfig:
    """Thresholds, bounds and cooldowns."""

    min_cpus: int = attrs.field(
        default=1, validator=[attrs.validators.ge(1), attrs.validators.le(8)]
    )
    max_cpus: int = attrs.field(
        default=8, validator=[attrs.validators.ge(1), attrs.validators.le(8)]
    )
    up_share: float = 0.10
    down_share: float = 0.02
    up_queue: int = 50
    down_queue: int = 5
    up_cpu: float = 0.80
    down_cpu: float = 0.30
    up_samples: int = 3
    down_samples: int = 10
    worker_cooldown_s: float = 60.0
    cpu_cooldown_s: float = 1800.0
    #: vCPU changes through the Machines API (needs FLY_API_TOKEN, the app and machine id).
    vcpu_enabled: bool = False
    #: Seconds between samples.
    interval_s: float = 15.0


@attrs.frozen
class ScalerState:
    """What the rule remembers between samples (times on the shell's monotonic clock)."""

    workers: int
    cpus: int
    memory_mb: int = 256
    high_streak: int = 0
    low_streak: int = 0
    last_worker_change_s: float | None = None
    last_cpu_change_s: float | None = None


@attrs.frozen
class ScaleDecision:
    """What to do now, and the state to keep."""

    action: Literal["none", "workers", "vcpus"]
    state: ScalerState
    reason: str


def pressure(stats: LoadStats, cfg: ScalerConfig) -> Literal["high", "low", "steady"]:
    """High if any signal is at/above its up threshold, low if all are at/below their down
    thresholds, steady in between."""
    if (
        stats.screen_share >= cfg.up_share
        or stats.queue_depth >= cfg.up_queue
        or stats.cpu >= cfg.up_cpu
    ):
        return "high"
    if (
        stats.screen_share <= cfg.down_share
        and stats.queue_depth <= cfg.down_queue
        and stats.cpu <= cfg.down_cpu
    ):
        return "low"
    return "steady"


def _cooled(last: float | None, now: float, cooldown: float) -> bool:
    return last is None or now - last >= cooldown


def scale_decision(
    stats: LoadStats, state: ScalerState, cfg: ScalerConfig, now: float
) -> ScaleDecision:
    """The scaling rule (see the module docstring). Pure; ``now`` is the shell's clock."""
    level = pressure(stats, cfg)
    high = state.high_streak + 1 if level == "high" else 0
    low = state.low_streak + 1 if level == "low" else 0
    kept = attrs.evolve(state, high_streak=high, low_streak=low)
    if level == "high" and high >= cfg.up_samples:
        if state.workers < state.cpus:
            if _cooled(state.last_worker_change_s, now, cfg.worker_cooldown_s):
                return ScaleDecision(
                    "workers",
                    _moved(kept, now, workers=state.workers + 1),
                    f"high load: {state.workers + 1} worker threads",
                )
            return ScaleDecision("none", kept, "high load: worker cooldown")
        cpus = min(cfg.max_cpus, state.cpus * 2)
        if not cfg.vcpu_enabled or cpus <= state.cpus:
            return ScaleDecision("none", kept, "high load: no more vCPUs")
        if not _cooled(state.last_cpu_change_s, now, cfg.cpu_cooldown_s):
            return ScaleDecision("none", kept, "high load: vCPU cooldown")
        return ScaleDecision("vcpus", _resized(kept, now, cpus), f"high load: {cpus} vCPUs")
    if level == "low" and low >= cfg.down_samples:
        if state.workers > 1:
            if _cooled(state.last_worker_change_s, now, cfg.worker_cooldown_s):
                return ScaleDecision(
                    "workers",
                    _moved(kept, now, workers=state.workers - 1),
                    f"low load: {state.workers - 1} worker threads",
                )
            return ScaleDecision("none", kept, "low load: worker cooldown")
        cpus = max(cfg.min_cpus, state.cpus // 2)
        if not cfg.vcpu_enabled or cpus >= state.cpus:
            return ScaleDecision("none", kept, "low load: at the minimum")
        if not _cooled(state.last_cpu_change_s, now, cfg.cpu_cooldown_s):
            return ScaleDecision("none", kept, "low load: vCPU cooldown")
        return ScaleDecision("vcpus", _resized(kept, now, cpus), f"low load: {cpus} vCPUs")
    return ScaleDecision("none", kept, level)


def _moved(state: ScalerState, now: float, *, workers: int) -> ScalerState:
    return attrs.evolve(
        state, workers=workers, high_streak=0, low_streak=0, last_worker_change_s=now
    )


def _resized(state: ScalerState, now: float, cpus: int) -> ScalerState:
    return attrs.evolve(
        state,
        cpus=cpus,
        memory_mb=max(state.memory_mb, 256 * cpus),
        workers=min(state.workers, cpus),
        high_streak=0,
        low_streak=0,
        last_cpu_change_s=now,
    )


def state_after_restart(
    machine: Machine | None, *, workers: int, cpus: int, memory_mb: int, now: float, wall_ms: int
) -> ScalerState:
    """The state at start: the last vCPU change read from the machine's metadata, so the
    cooldown holds across the restart that change caused."""
    last: float | None = None
    if machine is not None and machine.metadata.get(SCALED_AT_KEY, "").isdigit():
        last = now - (wall_ms - int(machine.metadata[SCALED_AT_KEY])) / 1000
    return ScalerState(
        workers=min(workers, cpus), cpus=cpus, memory_mb=memory_mb, last_cpu_change_s=last
    )


def resized_config(machine: Machine, guest: Guest, wall_ms: int) -> dict[str, Any]:
    """The machine's config with a new guest, matching env, and the scale bookkeeping."""
    config = dict(machine.config)
    meta = dict(machine.metadata)
    restarts = int(meta.get(RESTARTS_KEY, "0") or 0) + 1
    meta.update({SCALED_AT_KEY: str(wall_ms), RESTARTS_KEY: str(restarts)})
    env = {
        **dict(config.get("env") or {}),
        "MACHINE_CPUS": str(guest.cpus),
        "MACHINE_MEMORY": str(guest.memory_mb),
    }
    return {**config, "guest": guest.to_api(), "env": env, "metadata": meta}


class CpuMeter:
    """Process CPU use as a share of ``cpus`` since the previous reading."""

    def __init__(self, cpus: int, process: psutil.Process | None = None) -> None:
        self.cpus = cpus
        self._process = process or psutil.Process()
        self._last = (time.monotonic(), self._cpu_seconds())

    def _cpu_seconds(self) -> float:
        times = self._process.cpu_times()
        return float(times.user + times.system)

    def read(self) -> float:
        """Share of the vCPUs used since the last call."""
        now, cpu = time.monotonic(), self._cpu_seconds()
        wall = now - self._last[0]
        used = cpu - self._last[1]
        self._last = (now, cpu)
        return used / (wall * self.cpus) if wall > 0 else 0.0


@attrs.define
class ScreenLoad:
    """The longest screen share since the last :meth:`take` (the screener calls :meth:`note`
    with ``ScreenResult.duration_s`` and the timeframe's interval)."""

    worst: float = 0.0

    def note(self, duration_s: float, interval_ms: int) -> None:
        self.worst = max(self.worst, duration_s * 1000 / interval_ms)

    def take(self) -> float:
        worst, self.worst = self.worst, 0.0
        return worst


@attrs.frozen
class ScalerDeps:
    """What the daemon passes to :func:`run_scaler`."""

    #: Current load (e.g. ``ScreenLoad.take()``, the analyzer's queue depth, ``CpuMeter.read()``).
    sample: Callable[[], LoadStats]
    #: Change the screener's worker threads now.
    set_workers: Callable[[int], None]
    #: Queue a ``cloud_events`` row (``Store.save_event``).
    save_event: Callable[[Mapping[str, Any]], Awaitable[None]]
    #: Send a message to every browser of the user (``{"type": "machine_scaled", ...}``).
    broadcast: Callable[[Mapping[str, Any]], Awaitable[None]]
    #: Make everything durable before the restart (the store's flush), bounded by the caller.
    prepare_restart: Callable[[], Awaitable[None]]
    user_id: str
    #: ``cloud_machines.id`` (events' ``machine_id``).
    row_id: str
    #: The Machines API client and this machine's Fly id; None disables vCPU changes.
    fly: FlyMachines | None = None
    fly_machine_id: str | None = None
    wall_ms: Callable[[], int] = lambda: int(time.time() * 1000)


async def run_scaler(
    cfg: ScalerConfig,
    state: ScalerState,
    deps: ScalerDeps,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Sample every ``cfg.interval_s`` (drift-free) and apply :func:`scale_decision`.

    vCPU changes need ``cfg.vcpu_enabled`` and ``deps.fly``/``deps.fly_machine_id``; a failed
    Machines API call is reported (``machine_error`` event) and retried no sooner than the
    cooldown. Runs until cancelled."""
    if cfg.vcpu_enabled and (deps.fly is None or deps.fly_machine_id is None):
        cfg = attrs.evolve(cfg, vcpu_enabled=False)
    task_status.started()
    deadline = trio.current_time()
    while True:
        deadline += cfg.interval_s
        await trio.sleep_until(deadline)
        before = state
        decision = scale_decision(deps.sample(), state, cfg, trio.current_time())
        state = decision.state
        if decision.action == "workers":
            deps.set_workers(state.workers)
            await _report(deps, "workers", before, state, decision.reason)
        elif decision.action == "vcpus" and deps.fly and deps.fly_machine_id:
            await _report(deps, "vcpus", before, state, decision.reason)
            if not await _resize(deps, deps.fly, deps.fly_machine_id, state):
                # Still the old size; the attempt counts for the cooldown.
                state = attrs.evolve(
                    before, high_streak=0, low_streak=0, last_cpu_change_s=state.last_cpu_change_s
                )


async def _resize(deps: ScalerDeps, fly: FlyMachines, machine_id: str, state: ScalerState) -> bool:
    """Ask Fly for the new size; False (reported) when that failed."""
    try:
        with trio.fail_after(30):
            await deps.prepare_restart()
        machine = await fly.get(machine_id)
        guest = Guest(state.cpus, state.memory_mb)
        config = resized_config(machine, guest, deps.wall_ms())
        # Fly restarts this machine with the new size: SIGTERM, the daemon drains.
        await fly.update(machine_id, config, current_version=machine.instance_id)
        return True
    except (FlyError, trio.TooSlowError) as exc:
        message = f"vCPU change to {state.cpus} failed: {exc}"
        logger.error("scaler: {}", message)
        await deps.save_event(
            event_row(
                machine_id=deps.row_id,
                user_id=deps.user_id,
                event_type="machine_error",
                severity="error",
                message=message,
                created_at=deps.wall_ms(),
                details={"operation": "scale", "cpus": state.cpus},
            )
        )
        return False


async def _report(
    deps: ScalerDeps, kind: str, before: ScalerState, after: ScalerState, reason: str
) -> None:
    details = {
        "kind": kind,
        "reason": reason,
        "workers": after.workers,
        "cpus": after.cpus,
        "memory_mb": after.memory_mb,
        "previous_workers": before.workers,
        "previous_cpus": before.cpus,
        "restart": kind == "vcpus",
    }
    logger.info("scaler: {}", reason)
    await deps.save_event(
        event_row(
            machine_id=deps.row_id,
            user_id=deps.user_id,
            event_type="machine_scaled",
            message=reason,
            created_at=deps.wall_ms(),
            details=details,
        )
    )
    await deps.broadcast({"type": "machine_scaled", "data": details})
