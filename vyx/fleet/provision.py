"""Provisioning: a user's Vyx machine on Fly — create or reuse, start, stop, destroy, status.

One machine per user (``cloud_machines.user_id`` is unique), served only with an active
**elite** subscription. :func:`provision_machine` reuses the user's machine when there is one
(found by the Fly machine id recorded in ``cloud_machines``, else by the ``vyx_user_id`` key of
the machine's metadata, so a machine created by an attempt whose answer was lost is adopted, not
duplicated): a stopped machine is started, one whose config differs
(:mod:`vyx.fleet.machine_config`) is updated (Fly restarts it). Otherwise it creates one, records
it and waits for ``started``. A region Binance refuses is refused (:mod:`vyx.fleet.regions`).
Every machine mounts the user's volume at ``/data`` (:mod:`vyx.fleet.fly_volumes`); destroying a
machine keeps it and says so.

How the browser reaches its machine: every user machine is in one Fly app behind
``https://{app}.fly.dev``; the Fly proxy sends a request to a given machine when it carries the
header ``fly-force-instance-id: <fly machine id>``. The recorded ``websocket_url`` is
``wss://{app}.fly.dev/ws?instance=<fly machine id>``: clients that can set headers (server side,
CLI) send the header; a browser cannot set headers on a WebSocket, so the daemon answers a
request whose ``instance`` names another machine with ``fly-replay: instance=<id>`` and the proxy
replays it to the right machine (see docs/cloud.md, "Provisioning users").

Where the database side comes from: a :class:`MachineRegistry` (``user_subscriptions`` reads,
``cloud_machines`` and ``cloud_events`` writes). :mod:`vyx.fleet.registry` implements it
over Supabase's REST API; tests use an in-memory one.

Exceptions::

    ProvisionError             provisioning could not do what was asked
     ├── NotEntitled           the user has no active elite subscription
     ├── NoMachine             the user has no machine (stop/start/destroy/status)
     └── RegistryError         cloud_machines / user_subscriptions could not be read or written
    vyx.fleet.fly_api.FlyError a Machines API failure (its own tree); recorded first as the
                               row's error and a ``machine_error`` event where a row exists
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal, Protocol

import attrs
from loguru import logger

from vyx.fleet.fly_api import FlyError, FlyMachines, FlyNotFound, Guest, Machine, utc_now_ms
from vyx.fleet.fly_volumes import ensure_volume, mounted_volume
from vyx.fleet.machine_config import (
    USER_KEY,
    ProvisionSettings,
    canonical_user_id,
    differs,
    guest_for,
    machine_config,
    machine_row_id,
    websocket_url,
)
from vyx.fleet.regions import DEFAULT_REGION, RegionRefused, check_region, region_of
from vyx.store.records import (
    EpochMs,
    MachineRecord,
    MachineStatus,
    Severity,
    event_row,
)

Action = Literal["created", "started", "updated", "running"]


class ProvisionError(Exception):
    """Provisioning could not do what was asked."""


class NotEntitled(ProvisionError):
    """The user has no active elite subscription."""


class NoMachine(ProvisionError):
    """The user has no machine."""


class RegistryError(ProvisionError):
    """The machine registry (database) could not be read or written."""


@attrs.frozen
class Subscription:
    """A ``user_subscriptions`` row."""

    user_id: str
    tier: str
    status: str

    @property
    def serves_machine(self) -> bool:
        """A machine serves an active elite subscription."""
        return self.tier == "elite" and self.status == "active"


class MachineRegistry(Protocol):
    """What provisioning reads and writes in the database (the Supabase backend provides it).

    Every method raises :class:`RegistryError` when the database cannot be used."""

    async def subscription(self, user_id: str) -> Subscription | None:
        """The user's subscription (an active elite one if the user has several rows)."""
        ...

    async def machine_of_user(self, user_id: str) -> MachineRecord | None:
        """The user's ``cloud_machines`` row, if any."""
        ...

    async def save_machine(self, record: MachineRecord) -> None:
        """Insert or replace the user's ``cloud_machines`` row (by ``user_id``), durably."""
        ...

    async def delete_machine(self, user_id: str) -> None:
        """Remove the user's ``cloud_machines`` row (after a destroy)."""
        ...

    async def save_event(self, row: Mapping[str, Any]) -> None:
        """Write a ``cloud_events`` row built by :func:`~vyx.store.records.event_row`."""
        ...


@attrs.frozen
class ProvisionResult:
    """What :func:`provision_machine` did."""

    record: MachineRecord
    machine: Machine
    action: Action


@attrs.frozen
class DestroyResult:
    """What :meth:`Provisioner.destroy` did: the removed row and the volume it kept (if any)."""

    record: MachineRecord
    volume_id: str | None


@attrs.frozen
class MachineStatusReport:
    """The database row and what Fly says (None when Fly does not know the machine)."""

    record: MachineRecord
    machine: Machine | None


class Provisioner:
    """Provisioning operations over one Fly app and one registry.

    Args:
        fly: the Machines API client of the app.
        registry: ``cloud_machines`` / ``user_subscriptions`` / ``cloud_events``.
        settings: what every machine gets.
        now_ms: the wall clock (epoch ms) of rows; tests pass a fixed one.
    """

    def __init__(
        self,
        fly: FlyMachines,
        registry: MachineRegistry,
        settings: ProvisionSettings,
        *,
        now_ms: Callable[[], int] = utc_now_ms,
    ) -> None:
        self.fly = fly
        self.registry = registry
        self.settings = settings
        self._clock = now_ms

    def now_ms(self) -> EpochMs:
        """Epoch ms for row timestamps."""
        return EpochMs(self._clock())

    async def provision(
        self, user_id: str, region: str, cpus: int, memory_mb: int
    ) -> ProvisionResult:
        """Create or reuse the user's machine, record it, wait for ``started``.

        Raises ``ValueError`` (size; :class:`~vyx.fleet.regions.RegionRefused` for a region Fly
        does not have or Binance refuses, also the region of an existing machine),
        :class:`NotEntitled`, :class:`RegistryError` or :class:`~vyx.fleet.fly_api.FlyError`.
        Cancellation: a machine already created stays and is adopted by the next call."""
        user_id = canonical_user_id(user_id)
        guest = guest_for(cpus, memory_mb)
        region = check_region(region).code
        await self._require_elite(user_id)
        record = await self.registry.machine_of_user(user_id)
        machine = await self._find(user_id, record)
        row_id = record.id if record is not None else machine_row_id(user_id)
        if machine is not None:
            region = machine.region or region  # a machine never moves region
            _refuse_restricted(machine, user_id)
        action: Action = "created"
        try:
            if machine is None:
                machine = await self._create(user_id, region, guest)
            else:
                machine, action = await self._reuse(user_id, region, guest, machine)
        except FlyError as exc:
            await self._failed(user_id, row_id, record, "provision", exc)
            raise
        now = self.now_ms()
        record = MachineRecord(
            id=row_id,
            user_id=user_id,
            machine_id=machine.id,
            status="running" if action == "running" else "starting",
            region=machine.region or region,
            cpus=guest.cpus,
            memory_mb=guest.memory_mb,
            websocket_url=websocket_url(self.settings, machine.id),
            health_check_url=f"https://{self.settings.host}/health",
            provisioned_at=(record.provisioned_at if record and action != "created" else now),
            started_at=record.started_at if record else None,
            error_count=record.error_count if record else 0,
            fly_app_name=self.settings.app,
            fly_machine_version=machine.instance_id,
            created_at=record.created_at if record else now,
            updated_at=now,
        )
        await self.registry.save_machine(record)
        if action != "running":
            try:
                await self.fly.wait(
                    machine.id,
                    "started",
                    instance_id=machine.instance_id,
                    timeout_s=self.settings.start_timeout_s,
                )
            except FlyError as exc:
                await self._failed(user_id, row_id, record, "wait for started", exc)
                raise
            record = attrs.evolve(
                record,
                status="running",
                started_at=self.now_ms(),
                error_message=None,
                updated_at=self.now_ms(),
            )
            await self.registry.save_machine(record)
        event = "machine_provisioned" if action == "created" else "machine_started"
        size = {"cpus": guest.cpus, "memory_mb": guest.memory_mb}
        details = {"action": action, "fly_machine_id": machine.id, **size}
        message = f"machine {machine.id} {action} in {record.region}"
        await self._event(record, event, message, details=details)
        logger.info("user {}: {} ({} vCPU, {} MB)", user_id, message, guest.cpus, guest.memory_mb)
        return ProvisionResult(record, machine, action)

    async def start(self, user_id: str) -> ProvisionResult:
        """Start the user's machine with its recorded size (:class:`NoMachine` without one)."""
        user_id = canonical_user_id(user_id)
        record = await self._record(user_id)
        cpus = record.cpus or 1
        return await self.provision(
            user_id, record.region or DEFAULT_REGION, cpus, record.memory_mb or 256 * cpus
        )

    async def stop(self, user_id: str) -> MachineRecord:
        """Stop the user's machine (SIGTERM, the daemon drains) and wait for ``stopped``."""
        user_id = canonical_user_id(user_id)
        record = await self._record(user_id)
        try:
            machine = await self.fly.get(record.machine_id)
            if machine.state not in ("stopped", "suspended", "created"):
                record = await self._save(record, "stopping")
                await self.fly.stop(machine.id, timeout_s=self.settings.kill_timeout_s)
                await self.fly.wait(
                    machine.id,
                    "stopped",
                    instance_id=machine.instance_id,
                    timeout_s=self.settings.stop_timeout_s,
                )
        except FlyError as exc:
            await self._failed(user_id, record.id, record, "stop", exc)
            raise
        now = self.now_ms()
        record = attrs.evolve(record, status="stopped", stopped_at=now, updated_at=now)
        await self.registry.save_machine(record)
        await self._event(record, "machine_stopped", f"machine {record.machine_id} stopped")
        return record

    async def destroy(self, user_id: str) -> DestroyResult:
        """Destroy the user's machine and remove its ``cloud_machines`` row; its volume stays
        (the next :meth:`provision` in that region reuses it)."""
        user_id = canonical_user_id(user_id)
        record = await self._record(user_id)
        volume: str | None = None
        try:
            volume = mounted_volume((await self.fly.get(record.machine_id)).config)
            await self.fly.delete(record.machine_id, force=True)
        except FlyNotFound:
            pass  # already gone: still remove the row
        except FlyError as exc:
            await self._failed(user_id, record.id, record, "destroy", exc)
            raise
        details = {"destroyed": True, "volume_kept": volume}
        message = f"machine {record.machine_id} destroyed"
        await self._event(record, "machine_stopped", message, details=details)
        await self.registry.delete_machine(user_id)
        return DestroyResult(record, volume)

    async def status(self, user_id: str) -> MachineStatusReport:
        """The user's row and Fly's view of the machine."""
        user_id = canonical_user_id(user_id)
        record = await self._record(user_id)
        try:
            machine: Machine | None = await self.fly.get(record.machine_id)
        except FlyNotFound:
            machine = None
        return MachineStatusReport(record, machine)

    # -- internals -----------------------------------------------------------------------------

    async def _require_elite(self, user_id: str) -> None:
        sub = await self.registry.subscription(user_id)
        if sub is None or not sub.serves_machine:
            have = "no subscription" if sub is None else f"a {sub.status} {sub.tier} subscription"
            raise NotEntitled(f"user {user_id} has {have}; a machine needs an active elite one")

    async def _record(self, user_id: str) -> MachineRecord:
        record = await self.registry.machine_of_user(user_id)
        if record is None:
            raise NoMachine(f"user {user_id} has no machine (provision one first)")
        return record

    async def _find(self, user_id: str, record: MachineRecord | None) -> Machine | None:
        gone = ("destroying", "destroyed")
        if record is not None:
            try:
                machine = await self.fly.get(record.machine_id)
            except FlyNotFound:
                machine = None
            if machine is not None and machine.state not in gone:
                return machine
        for machine in await self.fly.list():
            if machine.metadata.get(USER_KEY) == user_id and machine.state not in gone:
                logger.info("user {}: adopting machine {}", user_id, machine.id)
                return machine
        return None

    async def _create(self, user_id: str, region: str, guest: Guest) -> Machine:
        """Create without launching, give the machine its own id (``MACHINE_ID``), start it:
        the daemon must know its Fly id from its first start."""
        volume = await self._volume(user_id, region, None)
        draft = machine_config(
            self.settings,
            user_id=user_id,
            machine_id=None,
            region=region,
            guest=guest,
            volume_id=volume,
        )
        request = {"name": f"vyx-{user_id}", "region": region, "config": draft, "skip_launch": True}
        machine = await self.fly.create(request)
        config = machine_config(
            self.settings,
            user_id=user_id,
            machine_id=machine.id,
            region=machine.region or region,
            guest=guest,
            volume_id=volume,
        )
        machine = await self.fly.update(machine.id, config, skip_launch=True)
        await self.fly.start(machine.id)
        return machine

    async def _volume(self, user_id: str, region: str, machine_id: str | None) -> str:
        """The id of the user's ``/data`` volume in ``region`` (reused or created)."""
        size = self.settings.volume_size_gb
        volume = await ensure_volume(self.fly, user_id, region, machine_id=machine_id, size_gb=size)
        return volume.id

    async def _reuse(
        self, user_id: str, region: str, guest: Guest, machine: Machine
    ) -> tuple[Machine, Action]:
        """Bring the user's existing machine to the wanted config and running: updated (Fly
        restarts it), started, or left running."""
        machine = await self._settle(machine)
        volume = mounted_volume(machine.config) or await self._volume(user_id, region, machine.id)
        wanted = machine_config(
            self.settings,
            user_id=user_id,
            machine_id=machine.id,
            region=region,
            guest=guest,
            volume_id=volume,
        )
        if differs(machine, wanted):
            return await self.fly.update(machine.id, wanted), "updated"
        if machine.state == "started":
            return machine, "running"
        await self.fly.start(machine.id)
        return machine, "started"

    async def _settle(self, machine: Machine) -> Machine:
        """Wait out a transition, so the machine is started or stopped before acting on it."""
        if machine.state in ("created", "starting", "replacing"):
            await self.fly.wait(
                machine.id,
                "started",
                instance_id=machine.instance_id,
                timeout_s=self.settings.start_timeout_s,
            )
            return await self.fly.get(machine.id)
        if machine.state in ("stopping", "suspending"):
            await self.fly.wait(
                machine.id,
                "stopped",
                instance_id=machine.instance_id,
                timeout_s=self.settings.stop_timeout_s,
            )
            return await self.fly.get(machine.id)
        return machine

    async def _save(self, record: MachineRecord, status: MachineStatus) -> MachineRecord:
        record = attrs.evolve(record, status=status, updated_at=self.now_ms())
        await self.registry.save_machine(record)
        return record

    async def _failed(
        self,
        user_id: str,
        row_id: str,
        record: MachineRecord | None,
        what: str,
        exc: FlyError,
    ) -> None:
        message = f"{what} failed: {exc}"
        logger.error("user {}: {}", user_id, message)
        if record is not None:
            record = attrs.evolve(
                record,
                status="error",
                error_message=message,
                error_count=record.error_count + 1,
                updated_at=self.now_ms(),
            )
            await self.registry.save_machine(record)
        await self.registry.save_event(
            event_row(
                machine_id=row_id,
                user_id=user_id,
                event_type="machine_error",
                severity="error",
                message=message,
                created_at=self.now_ms(),
                details={"operation": what},
            )
        )

    async def _event(
        self,
        record: MachineRecord,
        event_type: str,
        message: str,
        *,
        severity: Severity = "info",
        details: Mapping[str, Any] | None = None,
    ) -> None:
        await self.registry.save_event(
            event_row(
                machine_id=record.id,
                user_id=record.user_id,
                event_type=event_type,
                severity=severity,
                message=message,
                created_at=self.now_ms(),
                details=details,
            )
        )


def _refuse_restricted(machine: Machine, user_id: str) -> None:
    """A machine made before regions were checked cannot be reused where Binance refuses."""
    where = region_of(machine.region)
    if where is not None and where.restricted:
        raise RegionRefused(
            f"machine {machine.id} of user {user_id} is in {where.describe()}, where Binance "
            f"refuses to serve (HTTP 451); a machine never moves: destroy it (vyx machines "
            f"destroy {user_id}) and provision again in {DEFAULT_REGION}"
        )


async def provision_machine(
    user_id: str,
    region: str,
    cpus: int,
    memory_mb: int,
    *,
    fly: FlyMachines,
    registry: MachineRegistry,
    settings: ProvisionSettings,
) -> ProvisionResult:
    """Create or reuse ``user_id``'s machine and wait until it is started (see
    :meth:`Provisioner.provision` for errors)."""
    return await Provisioner(fly, registry, settings).provision(user_id, region, cpus, memory_mb)
