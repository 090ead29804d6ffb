"""The machine's own rows: ``cloud_machines`` lifecycle and heartbeat, ``cloud_metrics``,
``cloud_events``.

- :func:`open_machine_lifecycle` (async context manager around the daemon's service nursery):
  sets the row ``running`` (update by ``user_id``, so a row the provisioner created is reused
  and its ``id`` kept, else insert) and on exit writes ``stopped`` (graceful: clean exit,
  cancellation, SIGINT) or ``error`` with ``error_message`` and ``error_count + 1`` (any
  other exception), each with a ``machine_started``/``machine_stopped``/``machine_error``
  event. It wraps the body so it sees the fatal exception itself (it has no nursery of its
  own, so the exception passes through unchanged); the final writes are shielded and bounded.
- :func:`run_heartbeat`: ``last_health_check`` every ``heartbeat_s``.

Every row here goes through the store's durable spool like signals do: the database is never
a start-up dependency, and what it misses lands, in order, when it is back.
- :func:`run_metrics_reporter`: a ``cloud_metrics`` row every ``interval_s`` (30 to 60 s) with the
  values of a callable the daemon passes in, queued through the store's spool.
- :class:`MachineEvents`: ``cloud_events`` rows with deterministic ids, through the spool.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, Literal

import attrs
import trio
from loguru import logger

from vyx.settings import MachineConfig
from vyx.store.errors import StoreError
from vyx.store.records import Severity, event_row, machine_row_id, metrics_row
from vyx.store.schema import COLUMNS
from vyx.store.supabase.store import SupabaseStore
from vyx.store.supabase.wire import iso_from_ms

EventType = Literal[
    "provision",
    "error",
    "stop",
    "start",
    "config_update",
    "machine_provisioned",
    "machine_started",
    "machine_stopped",
    "machine_scaled",
    "machine_error",
    "machine_retry",
    "config_synced",
    "trader_added",
    "trader_removed",
    "trader_updated",
    "signal_created",
    "analysis_completed",
    "websocket_connected",
    "websocket_disconnected",
    "health_check_failed",
]

#: Columns of ``cloud_metrics`` a sample may fill (every one but the row's own).
METRIC_COLUMNS = frozenset(COLUMNS["cloud_metrics"]) - {"id", "machine_id", "recorded_at"}


def _now_ms() -> int:
    return int(time.time() * 1000)


class MachineEvents:
    """Writes ``cloud_events`` rows for this machine through the store (spooled)."""

    def __init__(
        self,
        store: SupabaseStore,
        *,
        user_id: str,
        machine_id: str | None,
        now_ms: Callable[[], int] = _now_ms,
    ) -> None:
        self._store = store
        self.user_id = user_id
        #: ``cloud_machines.id``; None until the lifecycle knows it.
        self.machine_id = machine_id
        self._now_ms = now_ms

    async def emit(
        self,
        event_type: EventType,
        message: str,
        *,
        severity: Severity = "info",
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """Queue one event. Raises :class:`~vyx.store.errors.StoreClosed` after shutdown."""
        row = event_row(
            machine_id=self.machine_id or "",
            user_id=self.user_id,
            event_type=event_type,
            message=message,
            created_at=self._now_ms(),
            severity=severity,
            details=details,
        )
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
    #: Budget of each lifecycle write into the spool (it never waits for the database).
    final_write_s: float = 5.0
    websocket_url: str | None = None
    health_check_url: str | None = None
    fly_app_name: str | None = None
    fly_machine_version: str | None = None

    def row(self, status: str, at_ms: int, **fields: Any) -> dict[str, Any]:
        """A ``cloud_machines`` row in ``status``: the identity columns (so it can also create
        the row), ``updated_at`` and ``fields``. Unknown values (no region) are left out."""
        m = self.machine
        row: dict[str, Any] = {
            "user_id": m.user_id,
            "machine_id": m.machine_id,
            "region": m.region,
            "cpus": m.cpus,
            "memory_mb": m.memory_mb,
            "websocket_url": self.websocket_url,
            "health_check_url": self.health_check_url,
            "fly_app_name": self.fly_app_name,
            "fly_machine_version": self.fly_machine_version,
        }
        row = {k: v for k, v in row.items() if v is not None}
        return {**row, "status": status, "updated_at": iso_from_ms(at_ms), **fields}


def _graceful(exc: BaseException | None) -> bool:
    if exc is None or isinstance(exc, trio.Cancelled | KeyboardInterrupt | GeneratorExit):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return all(_graceful(e) for e in exc.exceptions)
    return False


async def _record(
    store: SupabaseStore,
    row: dict[str, Any],
    events: MachineEvents,
    event: EventType,
    message: str,
    severity: Severity,
    budget_s: float,
) -> None:
    """Queue a lifecycle row and its event, durable in the spool within ``budget_s``
    (shielded): the database is never waited for."""
    with trio.move_on_after(budget_s) as scope:
        scope.shield = True
        try:
            await store.save_machine(row)
            await events.emit(event, message, severity=severity)
            await store.flush()
        except StoreError as exc:
            logger.error("machine: could not record {}: {}", row["status"], exc)
    if scope.cancelled_caught:
        logger.error("machine: recording {} missed its deadline", row["status"])


@asynccontextmanager
async def open_machine_lifecycle(
    cfg: LifecycleConfig,
    store: SupabaseStore,
    *,
    now_ms: Callable[[], int] = _now_ms,
) -> AsyncIterator[MachineIdentity]:
    """Mark the machine ``running`` while the body runs, then ``stopped`` or ``error`` when
    the body ends. Yields the :class:`MachineIdentity` (its ``id`` is ``store.machine_id``).

    Every row goes through the store's spool, in order with the others: the database is not
    needed to start (what it has not received lands when it is back, the ``stopped`` of a
    stop during an outage included, at the next start at the latest). The row is updated by
    ``user_id`` (a row the provisioner created keeps its id) or created. ``error`` counts
    ``error_count + 1`` from the row as the database last showed it. Exceptions of the body
    propagate unchanged."""
    m = cfg.machine
    started = now_ms()
    stamp = iso_from_ms(started)
    identity = MachineIdentity(
        store.machine_id or machine_row_id(m.user_id), m.machine_id, m.user_id
    )
    events = MachineEvents(store, user_id=m.user_id, machine_id=identity.id, now_ms=now_ms)
    running = cfg.row(
        "running",
        started,
        started_at=stamp,
        stopped_at=None,
        last_health_check=stamp,
        error_message=None,
    )
    await _record(
        store,
        running,
        events,
        "machine_started",
        f"machine {m.machine_id} running",
        "info",
        cfg.final_write_s,
    )
    logger.info("machine: {} running (cloud_machines.id {})", m.machine_id, identity.id)
    failure: BaseException | None = None
    try:
        yield identity
    except BaseException as exc:
        failure = exc
        raise
    finally:
        at_ms = now_ms()
        at = iso_from_ms(at_ms)
        if _graceful(failure):
            final = cfg.row("stopped", at_ms, stopped_at=at)
            await _record(
                store,
                final,
                events,
                "machine_stopped",
                f"machine {m.machine_id} stopped",
                "info",
                cfg.final_write_s,
            )
        else:
            text = f"{type(failure).__name__}: {failure}"[:1000]
            final = cfg.row(
                "error",
                at_ms,
                stopped_at=at,
                error_message=text,
                error_count=store.machine_error_count + 1,
            )
            await _record(
                store,
                final,
                events,
                "machine_error",
                f"machine {m.machine_id} failed: {text}",
                "error",
                cfg.final_write_s,
            )


async def run_heartbeat(
    store: SupabaseStore,
    cfg: LifecycleConfig,
    *,
    heartbeat_s: float = 30.0,
    now_ms: Callable[[], int] = _now_ms,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Queue a ``running`` row with ``last_health_check`` every ``heartbeat_s`` (drift-free)
    until cancelled. While the database is unreachable beats are skipped (one landing late
    says nothing about the machine's health); the next one after it is back updates the row."""
    task_status.started()
    deadline = trio.current_time()
    while True:
        deadline += heartbeat_s
        await trio.sleep_until(deadline)
        if store.drain.statistics().state != "ok":
            continue
        at_ms = now_ms()
        beat = cfg.row("running", at_ms, last_health_check=iso_from_ms(at_ms))
        try:
            await store.save_machine(beat)
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
    """Queue a ``cloud_metrics`` row every ``interval_s`` (drift-free) until cancelled, and a
    last one then (the partial interval before a stop is reported too; shielded, bounded).

    ``sample()`` returns the values (keys from :data:`METRIC_COLUMNS`; others are dropped and
    logged once); ``machine_id`` is ``cloud_machines.id``. The first row is written one
    interval after start. A sample that raises is logged and skipped."""
    if not 30.0 <= interval_s <= 60.0:
        logger.warning("metrics: interval {} s is outside the 30 to 60 s contract", interval_s)
    task_status.started()
    warned = False

    async def report() -> None:
        nonlocal warned
        try:
            values = dict(sample())
        except Exception as exc:
            logger.error("metrics: sample failed: {!r}", exc)
            return
        unknown = values.keys() - METRIC_COLUMNS
        if unknown and not warned:
            logger.warning("metrics: dropping unknown columns {}", sorted(unknown))
            warned = True
        clean = {k: v for k, v in values.items() if k in METRIC_COLUMNS}
        await store.save_metrics(metrics_row(machine_id=machine_id, recorded_at=now_ms(), **clean))

    deadline = trio.current_time()
    try:
        while True:
            deadline += interval_s
            await trio.sleep_until(deadline)
            await report()
    finally:
        with trio.CancelScope(shield=True), trio.move_on_after(2):
            try:
                await report()
            except StoreError as exc:  # the store closed first: nothing to report into
                logger.warning("metrics: last sample not stored: {}", exc)
