"""A dashboard in front of the daemon's browser side, for the Playwright tests: the real server,
``Control`` with its authoring desk, a screener over synthetic candles, a SQLite store, the
delivery, the notifier and the mutes (see ``test_dashboard_browser``'s docstring)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import trio

from tests.vyx.control_harness import control_over
from tests.vyx.screener.rings import ScreenerRun, filled_rings
from vyx.daemon.control import Control
from vyx.daemon.delivery import Delivery
from vyx.daemon.muting import MuteKeeper
from vyx.notify.channels import parse_urls
from vyx.notify.service import Notifier
from vyx.notify.settings import NotifySettings
from vyx.server import AuthConfig, ServerDeps, ServerHandle, run_server
from vyx.signal import Signal
from vyx.telemetry.metrics import Metrics

from .browser import Browser
from .harness import config

USER = "local"
WAIT_MS = 15_000


def open_page(b: Browser, url: str, width: int = 1280) -> Any:
    page = b.new_page(url.split("/?", 1)[0], width=width)
    page.goto(url)
    page.wait_for_selector("#conn:has-text('live')", timeout=WAIT_MS)
    return page


@attrs.define
class Machine:
    """The daemon's browser side over a screener of synthetic candles."""

    handle: ServerHandle
    control: Control
    run: ScreenerRun
    store: Any
    delivery: Delivery
    mutes: MuteKeeper

    async def close(self, *, up: bool) -> list[Signal]:
        """One more candle closes; its signals go the daemon's way to the browsers, and the
        traders' new states as the status loop sends them."""
        before = len(self.run.signals)
        await self.run.close_next(up=up)
        fired = self.run.signals[before:]
        await self.delivery.deliver(fired, [])  # as the screener hands them on
        await self.delivery.flush()
        for update in self.control.trader_changes():
            self.handle.broadcast(update)
        return fired


@asynccontextmanager
async def dashboard_machine(tmp_path: Path) -> AsyncIterator[Machine]:
    run = ScreenerRun(filled_rings(symbols=4, bars=400))
    metrics = Metrics()
    status = {
        "status": "running",
        "market": "streaming",
        "symbols": 4,
        "timeframes": ["5m"],
        "cooldownBars": 0,
    }
    async with (
        control_over(run, tmp_path, user_id=USER, persist=True, status=lambda: status) as (
            control,
            store,
        ),
        trio.open_nursery() as nursery,
    ):
        await run.load()
        deps = ServerDeps(commands=control.handle, snapshot=control.snapshot, metrics=metrics)
        cfg = config(auth=AuthConfig(local_token=True))
        handle = await nursery.start(run_server, cfg, deps)
        control.broadcast = handle.broadcast
        # Alerts go to a machine channel (never sent here: the outbox shows what is owed).
        notifier = Notifier(NotifySettings(channels=parse_urls("json://127.0.0.1:9/hook")))
        mutes = MuteKeeper(store, USER, on_change=notifier.set_mutes, broadcast=handle.broadcast)
        await mutes.load()
        control.mutes = mutes
        delivery = Delivery(
            store=store,
            broadcast=handle.broadcast,
            metrics=metrics,
            analyzer=None,
            rings=run.rings,
            running=control.running,
            notifier=notifier,
        )
        delivering = trio.CancelScope()

        async def deliver() -> None:
            with delivering:
                await delivery.run()

        nursery.start_soon(deliver)
        try:
            yield Machine(handle, control, run, store, delivery, mutes)
        finally:
            handle.shutdown()
            delivering.cancel()  # the delivery runs until cancelled
