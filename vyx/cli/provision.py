"""``vyx provision USER_ID`` and ``vyx machines status|start|stop|destroy USER_ID``.

Run by an operator with the app's configuration in the environment: ``FLY_API_TOKEN``,
``FLY_APP_NAME`` (or ``--app``), ``SUPABASE_URL`` and ``SUPABASE_SERVICE_KEY`` (the registry:
``user_subscriptions``, ``cloud_machines``, ``cloud_events``). The image defaults to
``registry.fly.io/<app>:latest``, what ``just deploy`` pushes; ``provision`` and ``start`` pin it
by digest (what the tag is now) in the machine's config. Exit status: 0 done, 1 refused or
failed (the reason on stderr), 2 bad configuration or arguments.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import click
import httpx
import trio

from vyx.config import Config, ConfigError
from vyx.fleet.fly_api import FlyError, FlyMachines
from vyx.fleet.image_ref import ImageError, pin_image
from vyx.fleet.machine_config import ProvisionSettings
from vyx.fleet.provision import (
    MachineStatusReport,
    Provisioner,
    ProvisionError,
    ProvisionResult,
)
from vyx.fleet.regions import DEFAULT_REGION
from vyx.fleet.registry import SupabaseRegistry
from vyx.store.records import MachineRecord

T = TypeVar("T")


def operator_config(user_id: str) -> Config:
    """The operator's configuration; ``USER_ID`` is the user being provisioned (cloud mode
    needs one). Raises :class:`~vyx.config.ConfigError`."""
    return Config.from_env({**os.environ, "USER_ID": user_id})


@asynccontextmanager
async def open_provisioner(
    cfg: Config,
    *,
    app: str | None = None,
    image: str | None = None,
    pin: bool = False,
    fly_transport: httpx.AsyncBaseTransport | None = None,
    supabase_transport: httpx.AsyncBaseTransport | None = None,
    registry_transport: httpx.AsyncBaseTransport | None = None,
) -> AsyncIterator[Provisioner]:
    """A :class:`Provisioner` on the configured Fly app and Supabase project; with ``pin`` the
    image is pinned by digest (:mod:`vyx.fleet.image_ref`; a tag that cannot be resolved is
    used as it is, with a warning).

    Raises ``ValueError`` naming what is missing (Supabase, app name) and
    :class:`~vyx.fleet.fly_api.FlyAuthError` without a Fly token."""
    if cfg.supabase is None:
        raise ValueError("provisioning needs SUPABASE_URL and SUPABASE_SERVICE_KEY")
    fly = FlyMachines.from_config(cfg.fly, app=app, transport=fly_transport)
    image = image or f"registry.fly.io/{fly.app}:latest"
    if pin:
        try:
            image = await pin_image(image, token=cfg.fly.api_token, transport=registry_transport)
        except ImageError as exc:
            click.echo(f"warning: {exc}; machines run the tag {image} (not pinned)", err=True)
    settings = ProvisionSettings(
        app=fly.app,
        image=image,
        supabase_url=cfg.supabase.url,
        kill_timeout_s=cfg.runtime.drain_timeout_s + 10,
    )
    async with fly, SupabaseRegistry.open(cfg.supabase, transport=supabase_transport) as reg:
        yield Provisioner(fly, reg, settings)


def _run(
    user_id: str,
    app: str | None,
    image: str | None,
    operation: Callable[[Provisioner, str], Awaitable[T]],
    *,
    pin: bool = False,
) -> T:
    """Run ``operation(provisioner, user id)``; the user id as one canonical UUID string;
    ``pin``: the image pinned by digest (provision, start)."""
    try:
        cfg = operator_config(user_id)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)

    async def main() -> T:
        async with open_provisioner(cfg, app=app, image=image, pin=pin) as provisioner:
            return await operation(provisioner, cfg.machine.user_id)

    try:
        return trio.run(main)
    except ValueError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except (ProvisionError, FlyError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


def describe(record: MachineRecord) -> str:
    """One line per field an operator looks at."""
    return "\n".join(
        [
            f"user:          {record.user_id}",
            f"machine:       {record.machine_id} ({record.fly_app_name}, {record.region})",
            f"status:        {record.status}",
            f"size:          {record.cpus} vCPU, {record.memory_mb} MB",
            f"websocket:     {record.websocket_url}",
            f"health:        {record.health_check_url} (header fly-force-instance-id: "
            f"{record.machine_id})",
            *([f"error:         {record.error_message}"] if record.error_message else []),
        ]
    )


_app_option = click.option("--app", help="Fly app of the user machines (default FLY_APP_NAME).")
_image_option = click.option(
    "--image",
    help="Image to run (default registry.fly.io/<app>:latest, pushed by just deploy); a tag "
    "is pinned by its current digest.",
)


@click.command("provision")
@click.argument("user_id")
@click.option(
    "--region",
    default=DEFAULT_REGION,
    show_default=True,
    help="Fly region of a new machine: one Binance serves (nrt: Tokyo, nearest to Binance).",
)
@click.option("--cpus", default=1, show_default=True, type=click.IntRange(1, 8))
@click.option(
    "--memory",
    "memory_mb",
    default=256,
    show_default=True,
    type=int,
    help="Memory in MB: a multiple of 256, 256..2048 per vCPU.",
)
@_app_option
@_image_option
def provision_command(
    user_id: str, region: str, cpus: int, memory_mb: int, app: str | None, image: str | None
) -> None:
    """Create (or reuse and start) USER_ID's machine and wait until it runs.

    Needs an active elite subscription. A stopped machine is started; one whose image or size
    differs is updated (Fly restarts it). A region Binance refuses (the United States, Canada)
    is refused: the machine would never see a candle."""

    async def op(p: Provisioner, user: str) -> ProvisionResult:
        return await p.provision(user, region, cpus, memory_mb)

    result = _run(user_id, app, image, op, pin=True)
    click.echo(f"{result.action}: machine {result.machine.id}")
    click.echo(describe(result.record))


@click.group("machines")
def machines_group() -> None:
    """Start, stop, destroy or inspect a user's machine."""


@machines_group.command("status")
@click.argument("user_id")
@_app_option
def status_command(user_id: str, app: str | None) -> None:
    """The user's cloud_machines row and Fly's state of the machine."""
    report: MachineStatusReport = _run(user_id, app, None, lambda p, user: p.status(user))
    click.echo(describe(report.record))
    fly_state = report.machine.state if report.machine else "unknown to Fly (destroyed?)"
    click.echo(f"fly state:     {fly_state}")


@machines_group.command("start")
@click.argument("user_id")
@_app_option
@_image_option
def start_command(user_id: str, app: str | None, image: str | None) -> None:
    """Start the user's stopped machine with its recorded size."""
    result = _run(user_id, app, image, lambda p, user: p.start(user), pin=True)
    click.echo(f"{result.action}: machine {result.machine.id}")


@machines_group.command("stop")
@click.argument("user_id")
@_app_option
def stop_command(user_id: str, app: str | None) -> None:
    """Stop the user's machine (the daemon drains on SIGTERM) and wait until it stopped."""
    record = _run(user_id, app, None, lambda p, user: p.stop(user))
    click.echo(f"stopped: machine {record.machine_id}")


@machines_group.command("destroy")
@click.argument("user_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@_app_option
def destroy_command(user_id: str, yes: bool, app: str | None) -> None:
    """Destroy the user's machine and remove its cloud_machines row (its volume is kept)."""
    if not yes:
        click.confirm(f"Destroy the machine of user {user_id}?", abort=True)
    result = _run(user_id, app, None, lambda p, user: p.destroy(user))
    click.echo(f"destroyed: machine {result.record.machine_id}")
    if result.volume_id is not None:
        click.echo(
            f"kept: volume {result.volume_id} (its data: spool, store, catch-up mark); the next "
            f"`vyx provision` in {result.record.region} reuses it, `fly volumes destroy "
            f"{result.volume_id}` deletes it"
        )
