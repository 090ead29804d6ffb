"""The outcomes service over a real SQLite store: a restart in the middle of a horizon loses
nothing (the open outcomes come back from the store and are stepped through the rings), the
records come back too, and analysis levels from an ``analysis_completed`` message apply."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import trio

from kernels.backtest import run_backtest
from kernels.fire_outcomes import fire_outcomes
from kernels.outcomes import HORIZON
from kernels.program import Program
from kernels.ring import RingBuffer
from tests.vyx.outcomes.test_live import DIRECTION, STEP, TF, TRADERS, _market, _signal
from vyx.outcomes.live import LiveOutcomes, outcome_from_row
from vyx.outcomes.records import Records
from vyx.outcomes.service import Outcomes
from vyx.server.protocol import MAX_ITEMS_PER_MESSAGE
from vyx.settings import StoreConfig
from vyx.signal import signal_id
from vyx.store.service import run_store

N, RESTART = 160, 70


def _outcomes(store: Any, ring: RingBuffer, sent: list[dict[str, Any]]) -> Outcomes:
    return Outcomes(
        LiveOutcomes({TF: ring}),
        Records(lambda: 0),
        store,
        sent.append,
        user_id="u",
        direction_of=DIRECTION.__getitem__,
        now_ms=lambda: 0,
    )


def _items(sent: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The outcomes pushed, in order: a batch's in one ``signal_outcomes`` message."""
    assert {m["type"] for m in sent} <= {"signal_outcomes"}
    assert all(0 < len(m["data"]["outcomes"]) <= MAX_ITEMS_PER_MESSAGE for m in sent)
    return [o for m in sent for o in m["data"]["outcomes"]]


async def test_a_restart_in_the_middle_of_a_horizon_loses_nothing(tmp_path: Path) -> None:
    market = _market(21, N)
    fires = run_backtest(Program(TRADERS), {TF: market})
    truth = dict(
        zip(
            (signal_id(f.trader_id, f.symbol, TF, f.open_time) for f in fires),
            fire_outcomes(fires, {TF: market}, DIRECTION),
            strict=True,
        )
    )
    by_bar: dict[int, list[Any]] = {}
    for f in fires:
        k = market[f.symbol]
        t = int(k.open_time.searchsorted(f.open_time))
        by_bar.setdefault(t, []).append(_signal(f.trader_id, f.symbol, k, t))
    cfg = StoreConfig(data_dir=tmp_path, flush_interval_ms=5)
    sent: list[dict[str, Any]] = []
    screen = SimpleNamespace(timeframe=TF)
    open_at_restart = 0
    for life, bars in enumerate((range(RESTART), range(RESTART, N))):
        async with trio.open_nursery() as nursery:
            store = await nursery.start(run_store, cfg)
            ring = RingBuffer(STEP, 300, market)
            for s, k in market.items():  # the market's backfill at start
                for t in range(bars.start):
                    ring.append(ring.slot(s), int(k.open_time[t]), k.bars[t, :8])
            outcomes = _outcomes(store, ring, sent)
            await outcomes.restore()
            if life == 1:
                assert len(outcomes.live._pending) == open_at_restart > 0
                assert sum(outcomes.records.traders.values()) > 0
            for t in bars:
                for s, k in market.items():
                    ring.append(ring.slot(s), int(k.open_time[t]), k.bars[t, :8])
                outcomes.screened(screen)  # type: ignore[arg-type]
                await outcomes.catch_up()
                await outcomes.follow(by_bar.get(t, []))
            open_at_restart = len(outcomes.live)
            await store.flush()
            rows = await store.load_outcomes("u", complete=True, limit=10_000)
            nursery.cancel_scope.cancel()
    complete = {sid for sid, o in truth.items() if o.complete}
    assert {r["signal_id"] for r in rows} == complete
    for row in rows:
        assert outcome_from_row(row) == truth[row["signal_id"]]
    done = [o for o in _items(sent) if o["complete"]]
    # A close's outcomes in one message: fewer messages than outcomes.
    assert len(sent) < len(_items(sent))
    assert len(done) == len(complete)
    assert all(m["record"]["all"]["signals"] >= 1 for m in done)
    # Each trader's last complete message carries its record over all its complete signals
    # (restored from the store after the restart, then summed up once per batch).
    last = {m["traderId"]: m["record"]["all"]["signals"] for m in done}
    assert last == dict(Counter(m["traderId"] for m in done))


async def test_analysis_levels_apply_to_an_open_signal(tmp_path: Path) -> None:
    market = _market(2, 80)
    k = market["S0USDT"]
    async with trio.open_nursery() as nursery:
        store = await nursery.start(run_store, StoreConfig(data_dir=tmp_path))
        ring = RingBuffer(STEP, 300, market)
        for t in range(31):
            ring.append(ring.slot("S0USDT"), int(k.open_time[t]), k.bars[t, :8])
        sent: list[dict[str, Any]] = []
        outcomes = _outcomes(store, ring, sent)
        sig = _signal("up", "S0USDT", k, 30)
        await outcomes.follow([sig])
        assert sent == []  # a signal just followed is news to the store only
        for t in range(31, 34):
            ring.append(ring.slot("S0USDT"), int(k.open_time[t]), k.bars[t, :8])
            outcomes.screened(SimpleNamespace(timeframe=TF))  # type: ignore[arg-type]
            await outcomes.catch_up()
        entry = sig.price
        levels = {"entry": entry, "stopLoss": entry * 0.99, "takeProfit": [entry * 1.02]}
        outcomes.analysed(
            {"type": "analysis_completed", "data": {"signalId": sig.id, "keyLevels": levels}}
        )
        outcomes.analysed(
            {"type": "analysis_completed", "data": {"signalId": "other", "keyLevels": levels}}
        )
        await outcomes.catch_up()
        last = _items(sent)[-1]
        assert (last["levels"], last["stop"], last["target"]) == (
            "analysis",
            entry * 0.99,
            entry * 1.02,
        )
        # Levels on the wrong side of a long entry are not used.
        bad = {"stopLoss": entry * 1.01, "takeProfit": [entry * 1.02]}
        outcomes.analysed(
            {"type": "analysis_completed", "data": {"signalId": sig.id, "keyLevels": bad}}
        )
        await outcomes.catch_up()
        assert _items(sent)[-1]["levels"] == "analysis"
        await store.flush()
        [row] = await store.load_outcomes("u", complete=False, limit=10)
        assert (row["levels"], row["bars"]) == ("analysis", 3)
        assert row["bars"] < HORIZON
        nursery.cancel_scope.cancel()
