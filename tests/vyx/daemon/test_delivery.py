"""The delivery: a service consuming a bounded channel of screens' signals, each screen queued
for the store, then one message to the browsers; backpressure to the screener; flushed on
demand (the marks and the stop wait for it)."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import trio

from tests.vyx.store.factory import USER, make_signal
from vyx.config import StoreConfig
from vyx.daemon.control import RunningTraders
from vyx.daemon.delivery import Delivery
from vyx.history import history_page
from vyx.mutes import Mutes
from vyx.notify import Notifier, NotifySettings
from vyx.screener.marks import MarkKeeper, load_marks
from vyx.server.protocol import MAX_SIGNALS_PER_MESSAGE
from vyx.signal import Signal
from vyx.store.service import SqliteStore, run_store
from vyx.telemetry.metrics import Metrics


class _Outcomes:
    """Records what the delivery tells the outcomes service, in order with the broadcasts."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def follow(self, signals: list[Signal]) -> None:
        self.log.append(f"follow {len(signals)}")

    def screened(self, result: Any) -> None:
        self.log.append(f"screened {result}")


@asynccontextmanager
async def _delivering(
    tmp_path: Path, *, capacity: int = 64, run: bool = True
) -> AsyncIterator[tuple[Delivery, SqliteStore, list[str], trio.Nursery]]:
    log: list[str] = []
    async with trio.open_nursery() as nursery:
        store: SqliteStore = await nursery.start(run_store, StoreConfig(tmp_path))

        def broadcast(message: dict[str, Any]) -> None:
            data = message["data"]
            log.append(f"{message['type']} {len(data.get('signals', [data]))}")

        delivery = Delivery(
            store=store,
            broadcast=broadcast,
            metrics=Metrics(),
            analyzer=None,
            rings={},
            running=RunningTraders(),
            outcomes=_Outcomes(log),  # type: ignore[arg-type]
            capacity=capacity,
        )
        if run:
            await nursery.start(delivery.run)
        yield delivery, store, log, nursery
        nursery.cancel_scope.cancel()


async def test_a_screens_signals_are_stored_then_pushed_in_one_message(tmp_path: Path) -> None:
    signals = [make_signal(i) for i in range(MAX_SIGNALS_PER_MESSAGE + 1)]
    provisional = attrs.evolve(make_signal(500), provisional=True)
    async with _delivering(tmp_path) as (delivery, store, log, _):
        pending: list[int] = []
        delivery.broadcast = lambda m: pending.append(store.statistics().pending_rows)
        await delivery.handle([*signals, provisional], ["gone"])
        # The store was given the confirmed signals before any browser heard of them.
        assert pending == [len(signals)] * 3
        delivery.broadcast = lambda m: log.append(m)  # type: ignore[arg-type,func-returns-value]
        await delivery.handle([*signals, provisional], ["gone"])
        await store.flush()
        stored = await store.recent_signals(USER, limit=500)
    sent = [m for m in log if isinstance(m, dict)]
    assert [m["type"] for m in sent] == ["signals_created", "signals_created", "signal_cancelled"]
    pushed = [s for m in sent[:2] for s in m["data"]["signals"]]
    assert [s["signalId"] for s in pushed] == [s.id for s in [*signals, provisional]]
    assert pushed[-1]["provisional"] is True
    assert sent[2]["data"] == {"signalId": "gone"}
    # Only confirmed signals are stored, followed and kept for a joining browser's snapshot.
    assert {r["id"] for r in stored} == {s.id for s in signals}
    assert f"follow {len(signals)}" in log
    assert [d["signalId"] for d in delivery.recent] == [s.id for s in reversed(signals)][:100]


async def test_batches_are_delivered_in_order_and_flush_waits_for_them(tmp_path: Path) -> None:
    async with _delivering(tmp_path) as (delivery, store, log, _):
        delivery.screened("5m#1")  # type: ignore[arg-type]
        await delivery.deliver([make_signal(1), make_signal(2)], [])
        delivery.screened("5m#2")  # type: ignore[arg-type]
        await delivery.deliver([make_signal(3)], [])
        await delivery.flush()
        assert store.statistics().pending_rows + store.statistics().rows_written == 3
        # A screen's notice reaches the outcomes only once the signals queued with it are out.
        assert log.index("screened 5m#1") > log.index("signals_created 2")
        assert log.index("signals_created 2") < log.index("signals_created 1")
        await store.flush()
        assert len(await store.recent_signals(USER)) == 3


async def test_a_full_channel_makes_the_screener_wait_and_loses_nothing(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    async with _delivering(tmp_path, capacity=1, run=False) as (delivery, store, log, nursery):
        await delivery.deliver([make_signal(1)], [])
        with trio.move_on_after(60) as waited:
            await delivery.deliver([make_signal(2)], [])
        assert waited.cancelled_caught  # the channel was full: the screener waited
        with trio.move_on_after(60) as flushed:
            await delivery.flush()
        assert flushed.cancelled_caught  # nothing handled without the service
        await nursery.start(delivery.run)
        await delivery.deliver([make_signal(2)], [])
        await delivery.flush()
        await store.flush()
        assert {r["id"] for r in await store.recent_signals(USER)} == {
            make_signal(1).id,
            make_signal(2).id,
        }
        assert log.count("signals_created 1") == 2


#: A 5m bar's close time (epoch ms), as the screener's progress names it.
CLOSE = 6_000_000 * 300_000


async def test_a_mark_never_passes_signals_still_in_the_channel(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    """A stop with a screen's signals still queued in the delivery's channel: the screener's
    progress (the restart mark) is not saved past them until the delivery has handed them to
    the store; so a stop that cannot wait leaves them to the next start's screens, and one
    that can stores them. Either way nothing is lost."""
    async with _delivering(tmp_path, run=False) as (delivery, store, _, nursery):
        marks = MarkKeeper(tmp_path, store, {}, handed_on=delivery.flush)
        await delivery.deliver([make_signal(1), make_signal(2)], [])
        marks.poke({"5m": CLOSE})  # the screener handed that screen on
        with trio.move_on_after(60) as stuck:
            await marks.save()
        assert stuck.cancelled_caught  # the delivery is not running: its batch is not stored
        assert load_marks(tmp_path) == {}  # and the mark did not move past it
        await nursery.start(delivery.run)
        await marks.save()
        assert load_marks(tmp_path) == {"5m": CLOSE}
        assert store.statistics().pending_rows == 0  # flushed before the mark moved
        stored = {r["id"] for r in await store.recent_signals(USER)}
        assert stored == {make_signal(1).id, make_signal(2).id}


async def test_the_close_delay_counts_to_the_push(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    async with _delivering(tmp_path, run=False) as (delivery, _, _, nursery):
        await delivery.deliver([make_signal(1)], [])
        delivery.close_delay(0.5)  # the screener: announced 0.5 s before it was handed on
        await trio.sleep(2.0)  # the delivery is busy meanwhile
        await nursery.start(delivery.run)
        await delivery.flush()
        histogram = delivery.metrics.close_to_signals.collect()[0]
        (total,) = [s.value for s in histogram.samples if s.name.endswith("_sum")]
        assert math.isclose(total, 2.5)


async def test_the_slower_work_waits_until_the_browsers_were_sent_the_signals(
    tmp_path: Path,
) -> None:
    async with _delivering(tmp_path) as (delivery, _, log, _):

        async def pushed() -> None:
            await trio.lowlevel.checkpoint()
            log.append("sent to the browsers")

        delivery.pushed = pushed
        await delivery.handle([make_signal(1), make_signal(2)], [])
    assert log == ["signals_created 2", "sent to the browsers", "follow 2"]


async def test_a_signal_keeps_the_alert_state_it_was_made_with(tmp_path: Path) -> None:
    """Muted or not is what happened when the signal was made: a signal alerted before a mute
    stays alerted (in the browser's message, the store and the history), a muted one stays
    muted after an unmute."""
    before, during, after = make_signal(1), make_signal(2), make_signal(3)
    async with _delivering(tmp_path) as (delivery, store, _, _):
        notifier = Notifier(NotifySettings())
        delivery.notifier = notifier
        pushed: list[dict[str, Any]] = []
        delivery.broadcast = lambda m: pushed.extend(m["data"]["signals"])  # type: ignore[assignment]
        await delivery.handle([before], [])
        notifier.set_mutes(Mutes(symbols=frozenset({"BTCUSDT"})))
        await delivery.handle([during], [])
        notifier.set_mutes(Mutes())
        await delivery.handle([after], [])
        await store.flush()
        page = await history_page(store, USER, after=None, trader_id=None, symbol=None, limit=10)
    assert [(s["signalId"], s["muted"]) for s in pushed] == [
        (before.id, False),
        (during.id, True),
        (after.id, False),
    ]
    kept = {s["signalId"]: s["muted"] for s in page["signals"]}
    assert kept == {before.id: False, during.id: True, after.id: False}
    assert [d["muted"] for d in delivery.recent] == [False, True, False]
