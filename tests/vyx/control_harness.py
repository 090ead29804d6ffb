"""The daemon's :class:`~vyx.control.Control` over a screener of synthetic candles (no market),
with a SQLite store and the authoring desk (the offline drafter), for tests of the browser
side."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio

from tests.vyx.screener.rings import ScreenerRun
from vyx.authoring.desk import AuthoringDesk
from vyx.authoring.phrasebook import OfflineDrafter
from vyx.daemon.control import Control
from vyx.settings import StoreConfig
from vyx.store.service import SqliteStore, run_store
from vyx.traders import TraderInfo, TraderRejected


@asynccontextmanager
async def control_over(
    run: ScreenerRun,
    data_dir: Path,
    *,
    user_id: str,
    persist: bool,
    status: Callable[[], Mapping[str, Any]] = dict,
) -> AsyncIterator[tuple[Control, SqliteStore]]:
    """A Control for ``run``'s screener; the traders it runs are its own source."""

    async def reload() -> tuple[list[TraderInfo], list[TraderRejected]]:
        return list(control.traders.values()), []

    async with trio.open_nursery() as nursery:
        store = await nursery.start(run_store, StoreConfig(data_dir))
        control = Control(
            user_id=user_id,
            store=store,
            screener=run.screener,
            reload=reload,
            persist_browser_edits=persist,
            status=status,
            desk=AuthoringDesk(run.rings, OfflineDrafter),
        )
        yield control, store
        nursery.cancel_scope.cancel()
