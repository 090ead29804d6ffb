"""The notifier over the store's outbox: alerts are rows written with their signals, sent from
there, marked delivered there; a restart sends what was owed and nothing acknowledged."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from trio.testing import MockClock

from tests.vyx.notify.conftest import HOOK_ID, HOOK_TOKEN, TOKEN, serve
from tests.vyx.notify.fakes import FakeDiscord, FakeReceiver, FakeTelegram
from tests.vyx.notify.test_service import accounted
from tests.vyx.store.factory import make_signal
from vyx.notify import Notifier, NotifySettings, TraderAlerts, parse_urls
from vyx.settings import StoreConfig
from vyx.store import SqliteStore, run_store


@pytest.fixture
def clock() -> MockClock:
    """Jumps after 20 ms of real idleness (the store's threads finish before time moves)."""
    return MockClock(autojump_threshold=0.02)


@asynccontextmanager
async def life(
    data: Path,
    urls: str,
    http: httpx.AsyncClient,
    traders: dict[str, TraderAlerts] | None = None,
    **options: str,
) -> AsyncIterator[tuple[SqliteStore, Notifier]]:
    """One run of the daemon's alert path: the store, then the notifier following its outbox."""
    async with trio.open_nursery() as nursery:
        store: SqliteStore = await nursery.start(run_store, StoreConfig(data_dir=data))
        notifier = Notifier(NotifySettings(channels=parse_urls(urls), **options))
        await nursery.start(notifier.serve, http, store.outbox)
        if traders is not None:
            notifier.set_traders(traders)
        yield store, notifier
        nursery.cancel_scope.cancel()


def received(receiver: FakeReceiver) -> list[str]:
    return sorted(s["signalId"] for body in receiver.bodies for s in body["vyx"]["signals"])


async def test_owed_alerts_cross_a_restart_and_acknowledged_ones_never_repeat(
    clock: MockClock, tmp_path: Path, http: httpx.AsyncClient, nursery: trio.Nursery
) -> None:
    receiver = FakeReceiver()
    url = f"json://{(await serve(nursery, receiver)).removeprefix('http://')}/hook"
    signals = [make_signal(i) for i in range(5)]
    receiver.down = True
    async with life(tmp_path, url, http) as (store, notifier):
        await store.save_signals(signals, notifier.signal_alerts(signals, {"t-1": "RSI dip"}))
        await store.flush()
        await trio.sleep(120.0)
        assert receiver.bodies == []
        assert notifier.statistics().pending == 5
    # stopped during the outage: the next run sends them (one digest), each once
    receiver.down = False
    async with life(tmp_path, url, http) as (store, notifier):
        await trio.sleep(30.0)
        assert received(receiver) == sorted(s.id for s in signals)
        assert "RSI dip" in receiver.bodies[0]["message"]
        assert await store.outbox.counts() == {"delivered": 5}
        # its analysis follows (a failed analysis announces nothing)
        row: dict[str, Any] = {
            "signal_id": signals[0].id,
            "trader_id": "t-1",
            "decision": "enter_trade",
        }
        row |= {"confidence": 80, "reasoning": "Bounce off support."}
        assert (
            notifier.verdict_alerts({**row, "technical_indicators": {"analysis_status": "failed"}})
            == []
        )
        await store.save_analysis(
            {**row, "user_id": signals[0].user_id, "created_at": 1}, notifier.verdict_alerts(row)
        )
        await trio.sleep(30.0)
        (follow_up,) = receiver.bodies[1:]
        assert follow_up["vyx"]["analyses"][0]["signalId"] == signals[0].id
    # a third run: nothing owed; the same signals saved again (a replay) queue nothing
    async with life(tmp_path, url, http) as (store, notifier):
        await store.save_signals(signals, notifier.signal_alerts(signals))
        await store.flush()
        await trio.sleep(60.0)
        assert len(receiver.bodies) == 2
        assert await store.outbox.counts() == {"delivered": 6}


async def test_a_traders_own_channel_gets_its_stored_alerts_once_the_traders_are_installed(
    clock: MockClock, tmp_path: Path, http: httpx.AsyncClient, nursery: trio.Nursery
) -> None:
    machine, own = FakeReceiver(), FakeReceiver()
    machine_url = f"json://{(await serve(nursery, machine)).removeprefix('http://')}/m"
    own_url = f"json://{(await serve(nursery, own)).removeprefix('http://')}/own"
    traders = {"t-1": TraderAlerts(channels=parse_urls(own_url)), "quiet": TraderAlerts(muted=True)}
    loud, muted = make_signal(1), make_signal(2, trader="quiet")
    own.down = True
    async with life(tmp_path, machine_url, http, traders) as (store, notifier):
        await store.save_signals([loud, muted], notifier.signal_alerts([loud, muted]))
        await trio.sleep(60.0)
        assert received(machine) == [loud.id]
        assert notifier.statistics().muted == 1
    own.down = False
    # the next run reads the store before the traders (and their channels) are installed
    async with life(tmp_path, machine_url, http) as (store, notifier):
        await trio.sleep(30.0)
        assert own.bodies == []
        notifier.set_traders(traders)
        await trio.sleep(30.0)
        assert received(own) == [loud.id]
        assert received(machine) == [loud.id]
        assert await store.outbox.counts() == {"delivered": 2}


async def test_ten_minutes_down_with_a_restart_inside_then_each_signal_once_per_channel(
    clock: MockClock,
    tmp_path: Path,
    http: httpx.AsyncClient,
    nursery: trio.Nursery,
    telegram: FakeTelegram,
    discord: FakeDiscord,
    receiver: FakeReceiver,
) -> None:
    """Telegram, Discord and a webhook down for 10 minutes (a signal a minute, a close of 120
    signals, a restart at minute 5), then back: every signal reaches every channel once, the
    outbox says so, and no rate limit was broken on the way."""
    urls = (
        f"tgram://{TOKEN}/-1001234567890 discord://{HOOK_ID}/{HOOK_TOKEN} "
        f"json://{(await serve(nursery, receiver)).removeprefix('http://')}/hook"
    )
    apis = {"telegram_url": await serve(nursery, telegram)}
    apis["discord_url"] = await serve(nursery, discord) + "/api"
    fakes = (telegram, discord, receiver)
    for fake in fakes:
        fake.down = True
    fired: list[str] = []

    async def minutes(store: SqliteStore, notifier: Notifier, first: int, last: int) -> None:
        for minute in range(first, last):
            batch = [make_signal(minute, trader=f"t-{minute % 3}")]
            if minute == 2:  # a market-wide close
                batch += [make_signal(1000 + i, trader=f"t-{i % 7}") for i in range(120)]
            fired.extend(s.id for s in batch)
            await store.save_signals(batch, notifier.signal_alerts(batch))
            await trio.sleep(60.0)

    async with life(tmp_path, urls, http, **apis) as (store, notifier):
        await minutes(store, notifier, 0, 5)
        assert all(c.failed and c.delivered == 0 for c in notifier.statistics().channels)
    async with life(tmp_path, urls, http, **apis) as (store, notifier):
        await minutes(store, notifier, 5, 10)
        assert notifier.statistics().pending == 3 * len(fired)
        for fake in fakes:
            fake.down = False
        await trio.sleep(700.0)  # the breaker's longest pause (600 s) plus a margin
        assert await store.outbox.counts() == {"delivered": 3 * len(fired)}
    assert received(receiver) == sorted(fired)
    assert sum(accounted(m["visible"]) for m in telegram.sent()) == len(fired)
    assert sum(accounted(m["content"]) for m in discord.sent()) == len(fired)
    assert telegram.limit_violations == discord.limit_violations == 0
