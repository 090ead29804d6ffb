"""The delivery of a screen's signals: queued for the store, then one message to the browsers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import trio

from tests.vyx.store.factory import USER, make_signal
from vyx.config import StoreConfig
from vyx.daemon.control import RunningTraders
from vyx.daemon.delivery import Delivery
from vyx.server.protocol import MAX_SIGNALS_PER_MESSAGE
from vyx.store.service import run_store
from vyx.telemetry.metrics import Metrics


async def test_a_screens_signals_are_stored_and_pushed_in_one_message(tmp_path: Path) -> None:
    sent: list[dict[str, Any]] = []
    signals = [make_signal(i) for i in range(MAX_SIGNALS_PER_MESSAGE + 1)]
    provisional = attrs.evolve(make_signal(500), provisional=True)
    async with trio.open_nursery() as nursery:
        store = await nursery.start(run_store, StoreConfig(tmp_path))

        def broadcast(message: dict[str, Any]) -> None:
            # The store has been given the signals before any browser hears of them.
            assert store.statistics().pending_rows == len(signals)
            sent.append(message)

        delivery = Delivery(
            store=store,
            broadcast=broadcast,
            metrics=Metrics(),
            analyzer=None,
            rings={},
            running=RunningTraders(),
        )
        await delivery.deliver([*signals, provisional], ["gone"])
        await store.flush()
        stored = await store.recent_signals(USER, limit=500)
        nursery.cancel_scope.cancel()
    assert [m["type"] for m in sent] == ["signals_created", "signals_created", "signal_cancelled"]
    pushed = [s for m in sent[:2] for s in m["data"]["signals"]]
    assert [s["signalId"] for s in pushed] == [s.id for s in [*signals, provisional]]
    assert pushed[-1]["provisional"] is True
    assert sent[2]["data"] == {"signalId": "gone"}
    # Only confirmed signals are stored and kept for a joining browser's snapshot.
    assert {r["id"] for r in stored} == {s.id for s in signals}
    assert [d["signalId"] for d in delivery.recent] == [s.id for s in reversed(signals)][:100]
