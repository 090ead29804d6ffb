"""The machine's own rows: ``cloud_machines`` lifecycle and heartbeat, ``cloud_metrics``,
``cloud_events``.

- :func:`open_machine_lifecycle` (async context manager around the daemon's service nursery):
  sets the row ``running`` (insert or update by ``user_id``, so a row the provisioner created is
  reused and its ``id`` kept) and on exit writes ``stopped`` (graceful: clean exit,
  cancellation, SIGINT) or ``error`` with ``error_message`` and ``error_count + 1`` (any
  other exception), each with a ``machine_started``/``machine_stopped``/``machine_error``
  event. It wraps the body so it sees the fatal exception itself (it has no nursery of its
  own, so the exception passes through unchanged); the final writes are shielded and bounded.
- :func:`run_heartbeat`: ``last_health_check`` every ``heartbeat_s``.
- :func:`run_metrics_reporter`: a ``cloud_metrics`` row every ``interval_s`` (30 to 60 s) with the
  values of a callable the daemon passes in, queued through the store's spool.
- :class:`MachineEvents`: ``cloud_events`` rows with deterministic ids, through the spool.
"""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, Literal

import attrs
import trio
from loguru import logger

from vyx.config import MachineConfig
from vyx.store.errors import StoreError
from vyx.store.records import Severity, event_row, metrics_row
from vyx.store.supabase.rest import Rest
from vyx.store.supabase.store import SupabaseStore
from vyx.store.supabase.wire import iso_from_ms

EventType = Literal[
    "provision", "error", "stop", "start", "config_update", "machine_provisioned",
    "machine_started", "machine_stopped", "machine_scaled", "machine_error", "machine_retry",
    "config_synced", "trader_added", "trader_removed", "trader_updated", "signal_created",
    "analysis_completed", "websocket_connected", "websocket_disconnected", "health_check_failed",
]  # fmt: skip

#: Columns of ``cloud_metrics`` a sample may fill.
METRIC_COLUMNS = frozenset({
    "cpu_usage_vcpus", "memory_used_mb", "memory_total_mb", "active_signals",
    "analysis_queue_depth", "websocket_latency_ms", "filter_execution_time_ms",
    "ai_analysis_time_ms", "signals_created_count", "analyses_completed_count", "errors_count",
})  # fmt: skip


def _now_ms() -> int:
    return int(time.time() * 1000)


class MachineEvents:
    """Writes ``cloud_events`` rows for this machine through the store (spooled)."""

    def __init__(self, store: SupabaseStore, *, user_id: str, machine_id: str | None,
                 now_ms: Callable[[], int] = _now_ms) -> None:  # fmt: skip
        self._store = store
        self.user_id = user_id
        #: ``cloud_machines.id``; None until the lifecycle knows it.
        self.machine_id = machine_id
        self._now_ms = now_ms

    async def emit(self, event_type: EventType, message: str, *, severity: Severity = "info",
                   details: Mapping[str, Any] | None = None) -> None:  # fmt: skip
        """Queue one event. Raises :class:`~vyx.store.errors.StoreClosed` after shutdown."""
        row = event_row(machine_id=self.machine_id or "", user_id=self.user_id,
                        event_type=event_type, message=message, created_at=self._now_ms(),
                        severity=severity, details=details)  # fmt: skip
        row["machine_id"] = self.machine_id
        await self._store.save_event(row)


@attrs.frozen
class MachineIdentity:
    """What the lifecycle learned: ``id`` is ``cloud_machines.id``, the value to put in
    ``signals.machine_id``, ``cloud_metrics.machine_id`` and ``cloud_events.machine_id``."""

    id: str
    machine_id: str
    user_id: str


@attrs.frozen
class LifecycleConfig:
    """Where the machine's row comes from."""

    machine: MachineConfig
    #: Budget of the final ``stopped``/``error`` write.
    final_write_s: float = 5.0
    websocket_url: str | None = None
    health_check_url: str | None = None
    fly_app_name: str | None = None
    fly_machine_version: str | None = None


def _graceful(exc: BaseException | None) -> bool:
    if exc is None or isinstance(exc, trio.Cancelled | KeyboardInterrupt | GeneratorExit):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return all(_graceful(e) for e in exc.exceptions)
    return False


@asynccontextmanager
async def open_machine_lifecycle(
    cfg: LifecycleConfig,
    rest: Rest,
    store: SupabaseStore,
    *,
    now_ms: Callable[[], int] = _now_ms,
) -> AsyncIterator[MachineIdentity]:
    """Mark the machine ``running`` while the body runs, then mark it ``stopped`` or
    ``error`` when the body ends. Yields the :class:`MachineIdentity` and sets
    ``store.machine_id`` (quarantine events carry it).

    Raises :class:`~vyx.store.supabase.rest.SupabaseUnavailable` if the row cannot be written
    at start (bounded retries). Exceptions of the body propagate unchanged."""
    m = cfg.machine
    started = now_ms()
    row: dict[str, Any] = {
        "user_id": m.user_id, "machine_id": m.machine_id, "status": "running",
        "region": m.region, "cpus": m.cpus, "memory_mb": m.memory_mb,
        "started_at": iso_from_ms(started), "stopped_at": None,
        "last_health_check": iso_from_ms(started), "error_message": None,
        "updated_at": iso_from_ms(started),
    }  # fmt: skip
    for key in ("websocket_url", "health_check_url", "fly_app_name", "fly_machine_version"):
        if getattr(cfg, key) is not None:
            row[key] = getattr(cfg, key)
    # On conflict with the user's row (unique user_id): the provisioner's row is updated and
    # keeps its id; a fresh project gets a new row.
    written = await rest.call("machine running", lambda: rest.upsert(
        "cloud_machines", [row], on_conflict="user_id", returning=True))  # fmt: skip
    identity = MachineIdentity(str(written[0]["id"]), m.machine_id, m.user_id)
    error_count = int(written[0].get("error_count") or 0)
    store.machine_id = identity.id
    events = MachineEvents(store, user_id=m.user_id, machine_id=identity.id, now_ms=now_ms)
    await events.emit(
        "machine_started",
        f"machine {m.machine_id} running",
        details={"region": m.region, "cpus": m.cpus, "memory_mb": m.memory_mb},
    )
    logger.info("machine: {} running (cloud_machines.id {})", m.machine_id, identity.id)
    where = {"id": identity.id}
    failure: BaseException | None = None
    try:
        yield identity
    except BaseException as exc:
        failure = exc
        raise
    finally:
        at = iso_from_ms(now_ms())
        final: dict[str, Any]
        if _graceful(failure):
            final = {"status": "stopped", "stopped_at": at, "updated_at": at}
            kind: EventType = "machine_stopped"
            message = f"machine {m.machine_id} stopped"
        else:
            text = f"{type(failure).__name__}: {failure}"[:1000]
            final = {"status": "error", "error_message": text, "stopped_at": at,
                     "updated_at": at, "error_count": error_count + 1}  # fmt: skip
            kind = "machine_error"
            message = f"machine {m.machine_id} failed: {text}"
        with trio.move_on_after(cfg.final_write_s) as scope:
            scope.shield = True
            try:
                await rest.call(
                    "machine " + final["status"],
                    lambda: rest.update("cloud_machines", final, eq=where),
                )
                await events.emit(kind, message, severity="info" if kind == "machine_stopped"
                                  else "error")  # fmt: skip
            except StoreError as exc:
                logger.error("machine: could not record {}: {}", final["status"], exc)
        if scope.cancelled_caught:
            logger.error("machine: recording {} missed its deadline", final["status"])


async def run_heartbeat(
    rest: Rest,
    identity: MachineIdentity,
    *,
    heartbeat_s: float = 30.0,
    now_ms: Callable[[], int] = _now_ms,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Set ``cloud_machines.last_health_check`` every ``heartbeat_s`` (drift-free) until
    cancelled. A failed beat is logged; the next one tries again."""
    task_status.started()
    deadline = trio.current_time()
    while True:
        deadline += heartbeat_s
        await trio.sleep_until(deadline)
        at = iso_from_ms(now_ms())
        values = {"last_health_check": at, "updated_at": at}
        try:
            await rest.call("heartbeat", functools.partial(
                rest.update, "cloud_machines", values, eq={"id": identity.id}))  # fmt: skip
        except StoreError as exc:
            logger.warning("machine: heartbeat failed: {}", exc)


async def run_metrics_reporter(
    store: SupabaseStore,
    *,
    machine_id: str,
    sample: Callable[[], Mapping[str, float | int]],
    interval_s: float = 30.0,
    now_ms: Callable[[], int] = _now_ms,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Queue a ``cloud_metrics`` row every ``interval_s`` (drift-free) until cancelled.

    ``sample()`` returns the values (keys from :data:`METRIC_COLUMNS`; others are dropped and
    logged once); ``machine_id`` is ``cloud_machines.id``. The first row is written one
    interval after start. A sample that raises is logged and skipped."""
    if not 30.0 <= interval_s <= 60.0:
        logger.warning("metrics: interval {} s is outside the 30 to 60 s contract", interval_s)
    task_status.started()
    warned = False
    deadline = trio.current_time()
    while True:
        deadline += interval_s
        await trio.sleep_until(deadline)
        try:
            values = dict(sample())
        except Exception as exc:
            logger.error("metrics: sample failed: {!r}", exc)
            continue
        unknown = values.keys() - METRIC_COLUMNS
        if unknown and not warned:
            logger.warning("metrics: dropping unknown columns {}", sorted(unknown))
            warned = True
        clean = {k: v for k, v in values.items() if k in METRIC_COLUMNS}
        await store.save_metrics(metrics_row(machine_id=machine_id, recorded_at=now_ms(), **clean))
