"""A mute holds back the alerts already queued too (a channel's outage, the quiet hours, the
store's rows of the last run): they end ``muted`` in the store's outbox, never sent later."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import trio
from trio.testing import MockClock

from tests.vyx.notify.conftest import serve
from tests.vyx.notify.fakes import FakeReceiver
from tests.vyx.notify.test_journal import life, received
from tests.vyx.store.factory import make_signal
from vyx.mutes import Mutes
from vyx.notify import TraderAlerts, parse_urls
from vyx.signal import Signal, signal_id


@pytest.fixture
def clock() -> MockClock:
    """Jumps after 20 ms of real idleness (the store's threads finish before time moves)."""
    return MockClock(autojump_threshold=0.02)


def on(symbol: str, n: int, trader: str = "t-1") -> Signal:
    """The n-th signal of ``trader``, on ``symbol``."""
    s = make_signal(n, trader=trader)
    return attrs.evolve(s, symbol=symbol, id=signal_id(trader, symbol, "5m", s.bar_open_time))


async def test_alerts_queued_during_an_outage_are_not_sent_once_muted(
    clock: MockClock, tmp_path: Path, http: httpx.AsyncClient, nursery: trio.Nursery
) -> None:
    receiver = FakeReceiver()
    url = f"json://{(await serve(nursery, receiver)).removeprefix('http://')}/hook"
    eth, btc = on("ETHUSDT", 1), on("BTCUSDT", 2)
    receiver.down = True
    async with life(tmp_path, url, http) as (store, notifier):
        await store.save_signals([eth, btc], notifier.signal_alerts([eth, btc]))
        row: dict[str, Any] = {"signal_id": eth.id, "trader_id": "t-1", "decision": "wait"}
        row |= {"confidence": 40, "reasoning": "No volume."}
        await store.save_analysis(
            {**row, "user_id": eth.user_id, "created_at": 1}, notifier.verdict_alerts(row, eth)
        )
        await store.flush()
        await trio.sleep(60.0)
        assert notifier.statistics().pending == 3
        notifier.set_mutes(Mutes(symbols=frozenset({"ETHUSDT"})))  # muted during the outage
        receiver.down = False
        await trio.sleep(700.0)  # the breaker's longest pause (600 s) plus a margin
        assert received(receiver) == [btc.id]
        assert all(not body["vyx"]["analyses"] for body in receiver.bodies)
        # the signal and its analysis: recorded, not lost silently
        assert await store.outbox.counts() == {"delivered": 1, "muted": 2}
        assert notifier.statistics().muted == 2


async def test_stored_alerts_of_a_muted_trader_are_not_sent_by_the_next_run(
    clock: MockClock, tmp_path: Path, http: httpx.AsyncClient, nursery: trio.Nursery
) -> None:
    receiver = FakeReceiver()
    url = f"json://{(await serve(nursery, receiver)).removeprefix('http://')}/hook"
    loud, user_muted, own_muted = on("ETHUSDT", 1), on("ETHUSDT", 2, "t-2"), on("BTCUSDT", 3, "t-3")
    receiver.down = True
    async with life(tmp_path, url, http) as (store, notifier):
        signals = [loud, user_muted, own_muted]
        await store.save_signals(signals, notifier.signal_alerts(signals))
        await store.flush()
        await trio.sleep(30.0)
    receiver.down = False
    # the next run: the owed rows are read at start, then the mutes and the traders arrive
    async with life(tmp_path, url, http) as (store, notifier):
        notifier.set_mutes(Mutes(traders=frozenset({"t-2"})))
        notifier.set_traders({"t-3": TraderAlerts(muted=True)})
        await trio.sleep(30.0)
        assert received(receiver) == [loud.id]
        assert await store.outbox.counts() == {"delivered": 1, "muted": 2}
    # and a third run owes nothing (the muted rows are settled)
    async with life(tmp_path, url, http) as (store, notifier):
        await trio.sleep(30.0)
        assert len(receiver.bodies) == 1
        assert notifier.statistics().pending == 0


async def test_stored_alerts_read_after_the_mute_are_held_back_when_read(
    clock: MockClock, tmp_path: Path, http: httpx.AsyncClient, nursery: trio.Nursery
) -> None:
    """A trader's own channel's stored rows are queued only once the traders are installed,
    after the mutes: they are checked as they are read."""
    machine, own = FakeReceiver(), FakeReceiver()
    machine_url = f"json://{(await serve(nursery, machine)).removeprefix('http://')}/m"
    own_url = f"json://{(await serve(nursery, own)).removeprefix('http://')}/own"
    traders = {"t-1": TraderAlerts(channels=parse_urls(own_url))}
    eth, btc = on("ETHUSDT", 1), on("BTCUSDT", 2)
    own.down = True
    async with life(tmp_path, machine_url, http, traders) as (store, notifier):
        await store.save_signals([eth, btc], notifier.signal_alerts([eth, btc]))
        await trio.sleep(30.0)
        assert received(machine) == sorted([eth.id, btc.id])
    own.down = False
    async with life(tmp_path, machine_url, http) as (store, notifier):
        notifier.set_mutes(Mutes(symbols=frozenset({"ETHUSDT"})))
        await trio.sleep(30.0)
        assert own.bodies == []  # its channel is not open yet: the rows wait
        notifier.set_traders(traders)
        await trio.sleep(30.0)
        assert received(own) == [btc.id]
        assert await store.outbox.counts() == {"delivered": 3, "muted": 1}
