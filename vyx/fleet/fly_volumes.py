"""A user machine's Fly volume: what it is called, which one to reuse, how it is mounted.

Fly resets a machine's root filesystem at every restart, update and deploy; ``/data`` (the
daemon's ``VYX_DATA_DIR``: the durable spool, the SQLite store, the catch-up mark) must be a
volume. Each user has one, named :func:`volume_name`, in the machine's region (a volume lives in
one region and attaches to one machine at a time). :func:`pick_volume` chooses the one to reuse:
the volume the machine already mounts, else an unattached one of the user's name in the region
(left by a destroyed machine), else none (create one). Destroying a machine keeps its volume.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import attrs
from loguru import logger

#: Where the volume is mounted (the image's ``VYX_DATA_DIR``).
MOUNT_PATH = "/data"
#: Size of a new volume; the spool and the store of one user stay far below it.
DEFAULT_SIZE_GB = 1
#: Volume states that are on their way out (never reused).
_GONE = ("pending_destroy", "destroying", "destroyed")


@attrs.frozen
class Volume:
    """A volume as the Machines API describes it (the fields Vyx reads)."""

    id: str
    name: str
    region: str | None = None
    state: str | None = None
    size_gb: int | None = None
    attached_machine_id: str | None = None
    created_at: str | None = None

    @classmethod
    def from_api(cls, body: Mapping[str, Any]) -> Volume:
        """Read a ``Volume`` answer; ``ValueError`` when it has no id."""
        if not isinstance(body.get("id"), str):
            raise ValueError("the Machines API answered a volume without an id")
        size = body.get("size_gb")
        return cls(
            id=body["id"],
            name=str(body.get("name") or ""),
            region=body.get("region"),
            state=body.get("state"),
            size_gb=size if isinstance(size, int) else None,
            attached_machine_id=body.get("attached_machine_id") or None,
            created_at=body.get("created_at"),
        )


def volume_name(user_id: str) -> str:
    """The user's volume name: ``vyx_`` and 26 hex digits of the user id (Fly's names are at
    most 30 lowercase letters, digits and underscores)."""
    return "vyx_" + uuid.UUID(user_id).hex[:26]


def mounted_volume(config: Mapping[str, Any]) -> str | None:
    """The id of the volume a machine config mounts at :data:`MOUNT_PATH`, if any."""
    for mount in config.get("mounts") or ():
        if isinstance(mount, Mapping) and mount.get("path") == MOUNT_PATH:
            volume = mount.get("volume")
            return volume if isinstance(volume, str) and volume else None
    return None


def pick_volume(
    volumes: Iterable[Volume], *, name: str, region: str, machine_id: str | None
) -> Volume | None:
    """The user's volume to reuse in ``region``: one of ``name`` not being destroyed and not
    attached to another machine (the oldest first); None when there is none."""
    usable = [
        v
        for v in volumes
        if v.name == name
        and v.region == region
        and (v.state or "") not in _GONE
        and v.attached_machine_id in (None, machine_id)
    ]
    usable.sort(key=lambda v: (v.attached_machine_id != machine_id, v.created_at or "", v.id))
    return usable[0] if usable else None


def create_request(name: str, region: str, size_gb: int = DEFAULT_SIZE_GB) -> dict[str, Any]:
    """The ``CreateVolumeRequest`` of a user's volume (encrypted, any zone of the region)."""
    return {
        "name": name,
        "region": region,
        "size_gb": size_gb,
        "encrypted": True,
        "require_unique_zone": False,
    }


class VolumeApi(Protocol):
    """What :func:`ensure_volume` needs of the Machines API client
    (:class:`~vyx.fleet.fly_api.FlyMachines` has it; this module does not import the client)."""

    async def list_volumes(self) -> tuple[Volume, ...]:
        """The app's volumes."""
        ...

    async def create_volume(self, request: Mapping[str, Any]) -> Volume:
        """Create one from a ``CreateVolumeRequest`` body."""
        ...


async def ensure_volume(
    fly: VolumeApi,
    user_id: str,
    region: str,
    *,
    machine_id: str | None = None,
    size_gb: int = DEFAULT_SIZE_GB,
) -> Volume:
    """The user's volume in ``region``: reused (:func:`pick_volume`) or created.

    Raises :class:`~vyx.fleet.fly_api.FlyError` when the API fails."""
    name = volume_name(user_id)
    found = pick_volume(await fly.list_volumes(), name=name, region=region, machine_id=machine_id)
    if found is not None:
        logger.info("user {}: reusing volume {} ({}, {})", user_id, found.id, name, region)
        return found
    volume = await fly.create_volume(create_request(name, region, size_gb))
    logger.info(
        "user {}: created volume {} ({}, {}, {} GB)", user_id, volume.id, name, region, size_gb
    )
    return volume
