"""What a user's machine is: the settings every machine gets, its size, its ids and its Fly
config (``fly.MachineConfig``): image, size, environment, the service on port 8080 with its
``/health`` check, restarts, the stop signal, the ``/data`` volume mount, swap and metrics.

Pure values and functions; :mod:`vyx.fleet.provision` does the Machines API calls with them.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import attrs

from vyx.fleet.fly_api import Guest, Machine
from vyx.fleet.fly_volumes import DEFAULT_SIZE_GB, MOUNT_PATH
from vyx.store.records import ROW_NAMESPACE

#: Port the daemon serves on inside the machine (``/ws``, ``/health``, ``/metrics``).
INTERNAL_PORT = 8080
#: Metadata key naming the user a machine serves.
USER_KEY = "vyx_user_id"


@attrs.frozen
class ProvisionSettings:
    """What every user machine gets.

    Secrets: by default a machine takes ``SUPABASE_SERVICE_KEY``, ``GEMINI_API_KEY`` and
    ``FLY_API_TOKEN`` from the app's secrets (``just secrets``), which Fly injects into every
    machine of the app. ``secret_env`` puts narrower, per-user credentials into the machine's own
    config instead (they win over app secrets of the same name); the trade-off is in docs/cloud.md.
    """

    #: The Fly app holding every user machine.
    app: str
    #: Image to run, e.g. ``registry.fly.io/{app}:latest`` (pushed by ``just deploy``).
    image: str
    #: ``SUPABASE_URL`` of the machines (cloud mode); None leaves it to the app's secrets.
    supabase_url: str | None = None
    #: Public host of the app; ``{app}.fly.dev`` by default.
    public_host: str | None = None
    #: Extra non-secret environment (``KLINE_INTERVAL``, ``SYMBOL_COUNT`` ...).
    env: Mapping[str, str] = attrs.field(factory=dict)
    #: Per-machine secrets put into the machine's config env (never logged).
    secret_env: Mapping[str, str] = attrs.field(factory=dict, repr=False)
    #: Fly's ``on-failure`` restarts before a crashing machine is left stopped.
    restart_retries: int = 10
    #: Deadline for a machine to reach ``started``.
    start_timeout_s: float = 180.0
    #: Deadline for a machine to reach ``stopped``.
    stop_timeout_s: float = 60.0
    #: SIGTERM → SIGKILL budget on stop: longer than the daemon's drain (``DRAIN_TIMEOUT_S``).
    kill_timeout_s: float = 20.0
    #: Size of a new ``/data`` volume.
    volume_size_gb: int = DEFAULT_SIZE_GB
    #: Swap of a machine (``init.swap_size_mb``): a 256 MB machine survives a spike; 0 = none.
    swap_size_mb: int = 512

    @property
    def host(self) -> str:
        """The app's public host name."""
        return self.public_host or f"{self.app}.fly.dev"


def guest_for(cpus: int, memory_mb: int) -> Guest:
    """A shared-CPU size, checked: 1..8 vCPUs, memory a multiple of 256 MB, 256 MB per vCPU at
    least and 2048 MB per vCPU at most (Fly's shared-CPU limits). Raises ``ValueError``."""
    if not 1 <= cpus <= 8:
        raise ValueError(f"cpus must be 1..8, not {cpus}")
    if memory_mb % 256 or not 256 * cpus <= memory_mb <= 2048 * cpus:
        raise ValueError(
            f"memory must be a multiple of 256 MB in {256 * cpus}..{2048 * cpus} for {cpus} "
            f"shared vCPU(s), not {memory_mb}"
        )
    return Guest(cpus, memory_mb)


def canonical_user_id(raw: str) -> str:
    """The user id as one spelling (``str(uuid.UUID(raw))``): braces, capitals, ``urn:uuid:``
    or no dashes would otherwise give one user several machine names and rows.

    Raises:
        ValueError: not a UUID.
    """
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise ValueError(f"user id {raw[:64]!r} is not a UUID") from None


def machine_row_id(user_id: str) -> str:
    """The ``cloud_machines.id`` of a user's machine (derived, so retries agree on it)."""
    return str(uuid.uuid5(ROW_NAMESPACE, f"machine|{canonical_user_id(user_id)}"))


def websocket_url(settings: ProvisionSettings, fly_machine_id: str) -> str:
    """Where the browser connects (see the module docstring)."""
    return f"wss://{settings.host}/ws?instance={fly_machine_id}"


def machine_config(
    settings: ProvisionSettings,
    *,
    user_id: str,
    machine_id: str | None,
    region: str,
    guest: Guest,
    volume_id: str | None = None,
) -> dict[str, Any]:
    """The ``fly.MachineConfig`` of a user's machine. ``MACHINE_ID`` (the Fly machine id the
    daemon writes into ``cloud_machines.machine_id``) is set once the id is known; ``volume_id``
    is mounted at ``/data``."""
    env = {
        **settings.env,
        "USER_ID": user_id,
        **({"MACHINE_ID": machine_id} if machine_id else {}),
        "MACHINE_REGION": region,
        "MACHINE_CPUS": str(guest.cpus),
        "MACHINE_MEMORY": str(guest.memory_mb),
        "FLY_APP_NAME": settings.app,
        **({"SUPABASE_URL": settings.supabase_url} if settings.supabase_url else {}),
        **settings.secret_env,
    }
    return {
        "image": settings.image,
        "guest": guest.to_api(),
        "env": env,
        "services": [
            {
                "protocol": "tcp",
                "internal_port": INTERNAL_PORT,
                # Always on: the proxy neither stops it when idle nor wakes a stopped one.
                "autostop": False,
                "autostart": False,
                "ports": [
                    {"port": 443, "handlers": ["tls", "http"]},
                    {"port": 80, "handlers": ["http"], "force_https": True},
                ],
            }
        ],
        "checks": {
            "health": {
                "type": "http",
                "port": INTERNAL_PORT,
                "method": "GET",
                "path": "/health",
                "interval": "15s",
                "timeout": "5s",
                "grace_period": "30s",
            }
        },
        "restart": {"policy": "on-failure", "max_retries": settings.restart_retries},
        "stop_config": {"signal": "SIGTERM", "timeout": f"{int(settings.kill_timeout_s)}s"},
        "metadata": {USER_KEY: user_id},
        "metrics": {"port": INTERNAL_PORT, "path": "/metrics"},
        **({"init": {"swap_size_mb": settings.swap_size_mb}} if settings.swap_size_mb else {}),
        **({"mounts": [{"volume": volume_id, "path": MOUNT_PATH}]} if volume_id else {}),
    }


def differs(current: Machine, wanted: Mapping[str, Any]) -> bool:
    """Does the running config differ in what provisioning manages (image, size, env, the
    volume, swap, metrics)?"""
    have = current.config
    guest = current.guest
    return (
        have.get("image") != wanted["image"]
        or guest is None
        or guest.to_api() != wanted["guest"]
        or dict(have.get("env") or {}) != wanted["env"]
        or any(have.get(key) != wanted.get(key) for key in ("mounts", "init", "metrics"))
    )
