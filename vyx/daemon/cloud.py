"""Cloud mode: the user's Supabase project is the store, the source of traders and the record of
this machine (``cloud_machines`` running → heartbeat → stopped/error, ``cloud_metrics`` every
30 s, ``cloud_events``). A machine serves only an active elite subscription: without one,
screening pauses (and resumes when the subscription is active again).

The database is never a start-up dependency: every row goes through the store's spool, and the
traders come from the last successful load when the database does not answer at start.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from functools import partial

import attrs
import trio
from loguru import logger

from vyx.cloud.machine import (
    LifecycleConfig,
    MachineIdentity,
    open_machine_lifecycle,
    run_heartbeat,
    run_metrics_reporter,
)
from vyx.cloud.traders import TraderSync, TraderSyncConfig, TraderUpdate, run_trader_sync
from vyx.config import Config
from vyx.daemon.control import Control
from vyx.daemon.drain import DrainBudget
from vyx.server.interface import CommandRejected
from vyx.server.protocol import ErrorCode, error
from vyx.store.supabase import SupabaseStore
from vyx.traders import TraderInfo, TraderRejected, from_record

#: The last trader load, beside the spool in ``VYX_DATA_DIR`` (run when the database is down
#: at start).
TRADERS_CACHE = "traders.json"


def to_infos(update: TraderUpdate) -> tuple[list[TraderInfo], list[TraderRejected]]:
    """The traders to run (as the sync admitted them) and the rejected ones of a trader-sync
    update."""
    infos: list[TraderInfo] = []
    rejected = list(update.current.rejected)
    admitted = update.current.admitted
    for row in update.current.traders:
        try:
            # A set made elsewhere than by the sync's classify_traders is admitted here.
            infos.append(admitted[row.id] if row.id in admitted else from_record(row))
        except TraderRejected as exc:
            rejected.append(exc)
    return infos, rejected


@attrs.define
class TraderBridge:
    """Hands the trader sync's updates to :class:`Control` once the daemon is ready."""

    latest: TraderUpdate | None = None
    control: Control | None = None
    paused_for_subscription: bool = False

    async def on_update(self, update: TraderUpdate) -> None:
        """The trader sync's callback."""
        self.latest = update
        if self.control is not None:
            await self._apply(update)

    async def attach(self, control: Control) -> None:
        """Start applying updates to ``control`` (the latest one right away)."""
        self.control = control
        if self.latest is not None:
            await self._apply(self.latest)

    async def synced(self) -> None:
        """The trader sync loaded the table: read the user's mutes again too (changed by
        another machine or the web app; never raises)."""
        if self.control is not None and self.control.mutes is not None:
            await self.control.mutes.refresh()

    def current(self) -> tuple[list[TraderInfo], list[TraderRejected]]:
        """The traders of the latest update."""
        return to_infos(self.latest) if self.latest is not None else ([], [])

    async def _apply(self, update: TraderUpdate) -> None:
        assert self.control is not None
        try:
            await self.control.apply(*to_infos(update))
        except CommandRejected as exc:
            # Whatever the table holds, the machine keeps running the traders it has.
            self.control.broadcast(error(exc.message, exc.code))
        except Exception:
            logger.exception(
                "traders from the database could not be applied; keeping the running ones"
            )
            self.control.broadcast(
                error(
                    "the traders could not be updated; the running ones are unchanged",
                    ErrorCode.TRADER_ERROR,
                )
            )
        screener = self.control.screener
        if not update.entitled and not self.paused_for_subscription:
            self.paused_for_subscription = True
            screener.pause()
            logger.warning("no active elite subscription: screening paused")
            self.control.broadcast(
                error("no active elite subscription: screening is paused", ErrorCode.UNAVAILABLE)
            )
        elif update.entitled and self.paused_for_subscription:
            self.paused_for_subscription = False
            screener.resume()
            logger.info("elite subscription active: screening resumed")


@attrs.define(eq=False)
class CloudMachine:
    """What cloud mode adds to the daemon."""

    identity: MachineIdentity
    sync: TraderSync
    traders: TraderBridge
    store: SupabaseStore

    async def reload(self) -> tuple[list[TraderInfo], list[TraderRejected]]:
        """``config_update``: load the traders from the database now."""
        await self.sync.reload("config_update")
        return self.traders.current()

    async def run_metrics(
        self,
        sample: Callable[[], Mapping[str, float | int]],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Report ``cloud_metrics`` rows of ``sample()`` every 30 s until cancelled (the daemon
        starts it once the services it samples run)."""
        await run_metrics_reporter(
            self.store,
            machine_id=self.identity.id,
            sample=sample,
            interval_s=30,
            task_status=task_status,
        )


@asynccontextmanager
async def cloud_machine(
    cfg: Config, store: SupabaseStore, budget: DrainBudget
) -> AsyncIterator[CloudMachine]:
    """Mark the machine running (stopped or error when the body ends), load the traders and
    keep them in sync and heartbeat while the body runs."""
    lifecycle = LifecycleConfig(
        cfg.machine,
        # Its share of the drain budget: the whole stop fits DRAIN_TIMEOUT_S. The lifecycle
        # rows go through the spool: nothing here waits for the database.
        final_write_s=budget.cloud_final_write_s,
        fly_app_name=cfg.fly.app_name,
        fly_machine_version=cfg.fly.machine_version,
    )
    async with open_machine_lifecycle(lifecycle, store) as me:
        bridge = TraderBridge()
        async with trio.open_nursery() as nursery:
            sync_cfg = TraderSyncConfig(
                user_id=me.user_id, machine_id=me.id, cache=cfg.store.data_dir / TRADERS_CACHE
            )
            sync: TraderSync = await nursery.start(
                partial(
                    run_trader_sync,
                    sync_cfg,
                    store.rest,
                    store,
                    on_update=bridge.on_update,
                    on_synced=bridge.synced,
                )
            )
            nursery.start_soon(partial(run_heartbeat, store, lifecycle, heartbeat_s=30))
            yield CloudMachine(me, sync, bridge, store)
            nursery.cancel_scope.cancel()
