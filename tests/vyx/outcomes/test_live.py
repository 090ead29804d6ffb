"""Outcomes followed live over the rings equal the backtest's over the same candles, through
restarts in the middle of a horizon (rebuilt from the stored rows and the rings), late
analysis levels and bars that arrive several at a time."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.backtest import run_backtest
from kernels.fire_outcomes import fire_outcomes
from kernels.klines_csv import Klines
from kernels.outcomes import HORIZON, Levels, OutcomeTracker, atr_levels
from kernels.program import Program, TraderDef
from kernels.ring import RingBuffer
from kernels.timeframes import timeframe_ms
from tests.kernels.synthetic import random_klines
from vyx.outcomes.live import LiveOutcomes, OutcomeUpdate, outcome_from_row
from vyx.signal import Signal, signal_id

TF = "5m"
STEP = timeframe_ms(TF)
TRADERS = [
    TraderDef("up", "crosses_above(close, sma(close, 5))", TF, "up"),
    TraderDef("down", "crosses_below(close, sma(close, 5))", TF, "down", direction="short"),
]
DIRECTION = {t.id: t.direction for t in TRADERS}


def _market(seed: int, n: int) -> dict[str, Klines]:
    return {f"S{i}USDT": random_klines(seed + i, n, STEP) for i in range(2)}


def _signal(trader: str, symbol: str, k: Klines, t: int) -> Signal:
    opened = int(k.open_time[t])
    return Signal(
        signal_id(trader, symbol, TF, opened),
        trader,
        "u",
        symbol,
        TF,
        float(k.bars[t, 3]),
        opened,
        (),
        {},
        0,
    )


class Store:
    """The rows as a store keeps them (upserted by signal id)."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}

    def save(self, updates: list[OutcomeUpdate]) -> None:
        for u in updates:
            self.rows[u.signal_id] = u.to_row(0)

    def open_rows(self) -> list[Mapping[str, Any]]:
        return [r for r in self.rows.values() if not r["complete"]]


def _live_run(
    market: dict[str, Klines], restarts: set[int], capacity: int = 300
) -> dict[str, dict[str, Any]]:
    """The daemon's way: bars appended to a ring one close at a time, the backtest's signals
    followed as their bar closes, stepped after every close; at each bar of ``restarts`` the
    process "dies" (unsaved state gone) and a new one is rebuilt from the stored rows and a
    ring backfilled with the same candles (like the market's backfill at start)."""
    data = {TF: market}
    fires = run_backtest(Program(TRADERS), data)
    by_bar: dict[int, list[Signal]] = {}
    for f in fires:
        t = int(np.searchsorted(market[f.symbol].open_time, f.open_time))
        by_bar.setdefault(t, []).append(_signal(f.trader_id, f.symbol, market[f.symbol], t))
    n = len(next(iter(market.values())))
    ring = RingBuffer(STEP, capacity, market)
    live = LiveOutcomes({TF: ring})
    store = Store()
    for t in range(n):
        if t in restarts:
            ring = RingBuffer(STEP, capacity, market)
            for s, k in market.items():
                for u in range(max(0, t - capacity), t):
                    ring.append(ring.slot(s), int(k.open_time[u]), k.bars[u, :8])
            live = LiveOutcomes({TF: ring})
            live.restore(store.open_rows())
        for s, k in market.items():
            ring.append(ring.slot(s), int(k.open_time[t]), k.bars[t, :8])
        store.save(live.advance(TF))
        for sig in by_bar.get(t, []):
            store.save(live.follow(sig, DIRECTION[sig.trader_id]))
    return store.rows


@settings(max_examples=12, deadline=None)
@given(st.integers(0, 10_000), st.sets(st.integers(1, 199), max_size=4))
def test_live_with_restarts_equals_the_backtest(seed: int, restarts: set[int]) -> None:
    market = _market(seed, 200)
    rows = _live_run(market, restarts)
    fires = run_backtest(Program(TRADERS), {TF: market})
    expected = fire_outcomes(fires, {TF: market}, DIRECTION)
    assert len(fires) > 5
    assert set(rows) == {signal_id(f.trader_id, f.symbol, TF, f.open_time) for f in fires}
    for f, o in zip(fires, expected, strict=True):
        row = rows[signal_id(f.trader_id, f.symbol, TF, f.open_time)]
        assert row["complete"] == o.complete
        if o.complete:
            assert outcome_from_row(row) == o
        else:  # the data ends first: the row says how far it got at its last horizon
            assert row["bars"] <= o.bars
        assert (row["trader_id"], row["symbol"], row["bar_open_time"]) == (
            f.trader_id,
            f.symbol,
            f.open_time,
        )


def test_late_analysis_levels_rescore_from_the_signal_bar() -> None:
    market = _market(3, 120)
    k = market["S0USDT"]
    ring = RingBuffer(STEP, 300, market)
    live = LiveOutcomes({TF: ring})
    t0 = 40
    for t in range(t0 + 1):
        ring.append(ring.slot("S0USDT"), int(k.open_time[t]), k.bars[t, :8])
    sig = _signal("up", "S0USDT", k, t0)
    first = live.follow(sig, "long")
    assert [u.outcome.bars for u in first] == [0]
    assert first[0].outcome.levels == "atr"
    for t in range(t0 + 1, t0 + 8):
        ring.append(ring.slot("S0USDT"), int(k.open_time[t]), k.bars[t, :8])
        live.advance(TF)
    entry = float(k.bars[t0, 3])
    levels = Levels(entry * 0.999, entry * 1.001, "analysis")
    moved = live.set_levels(sig.id, levels)
    assert moved[-1].outcome.levels == "analysis"
    assert moved[-1].outcome.bars == 7
    # The same as a tracker given those levels from the start.
    tracker = OutcomeTracker(1)
    row = tracker.open(entry, "long", levels)
    for t in range(t0 + 1, t0 + 8):
        tracker.advance(
            np.asarray([row]), k.bars[t : t + 1, 1], k.bars[t : t + 1, 2], k.bars[t : t + 1, 3]
        )
    assert moved[-1].outcome == tracker.outcome(row)


def test_updates_come_at_the_first_bar_a_touch_and_completion_then_it_is_let_go() -> None:
    market = _market(5, 80)
    k = market["S1USDT"]
    ring = RingBuffer(STEP, 300, market)
    live = LiveOutcomes({TF: ring})
    slot = ring.slot("S1USDT")
    for t in range(21):
        ring.append(slot, int(k.open_time[t]), k.bars[t, :8])
    live.follow(_signal("up", "S1USDT", k, 20), "long")
    reported = []
    for t in range(21, 21 + HORIZON + 3):
        ring.append(slot, int(k.open_time[t]), k.bars[t, :8])
        reported += [u.outcome for u in live.advance(TF)]
    assert reported[0].bars == 1
    assert reported[-1].bars == HORIZON
    assert reported[-1].complete
    # In between, only the first touch of a level.
    between = reported[1:-1]
    assert len(between) <= 1
    assert all(o.touch != "none" and o.touch_bar == o.bars for o in between)
    assert len(live) == 0
    assert len(live.tracker) == 0


def test_a_signal_whose_bars_left_the_rings_is_given_up() -> None:
    market = _market(9, 400)
    k = market["S0USDT"]
    ring = RingBuffer(STEP, 300, market)
    live = LiveOutcomes({TF: ring})
    row = {
        "signal_id": "x",
        "trader_id": "up",
        "user_id": "u",
        "symbol": "S0USDT",
        "interval": TF,
        "bar_open_time": int(k.open_time[10]),
        "direction": "long",
        "entry": float(k.bars[10, 3]),
        "stop_level": None,
        "target_level": None,
        "levels": "none",
    }
    for t in range(390):  # the ring keeps the last 300: bar 10 and those after it are gone
        ring.append(ring.slot("S0USDT"), int(k.open_time[t]), k.bars[t, :8])
    live.restore([row])
    assert live.advance(TF) == []
    assert live.lost == 1
    assert len(live.tracker) == 0


def test_the_atr_levels_live_are_the_backtests() -> None:
    market = _market(4, 60)
    k = market["S0USDT"]
    ring = RingBuffer(STEP, 300, market)
    for t in range(50):
        ring.append(ring.slot("S0USDT"), int(k.open_time[t]), k.bars[t, :8])
    live = LiveOutcomes({TF: ring})
    update = live.follow(_signal("up", "S0USDT", k, 30), "long")[0]
    expected = atr_levels(k.bars[:, 1].copy(), k.bars[:, 2].copy(), k.bars[:, 3].copy(), 30, "long")
    assert (update.outcome.stop, update.outcome.target) == (expected.stop, expected.target)
    assert update.outcome.bars == 19  # the bars after it already in the ring (a catch-up)


@settings(max_examples=10, deadline=None)
@given(
    st.integers(0, 10_000),
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 72)), min_size=1, max_size=12),
)
def test_a_screens_signals_followed_together_are_followed_as_one_by_one(
    seed: int, picks: list[tuple[int, int]]
) -> None:
    """``follow_all`` (the delivery's way: a screen's signals at once, their ATR levels in one
    kernel call) gives each signal the updates and the tracker row ``follow`` gives it alone:
    signals screened late (``behind``: bars between the signal's bar and the ring's newest),
    too early in the ring for an ATR, of a symbol the ring does not hold, given twice."""
    market = _market(seed, 80)
    ring = RingBuffer(STEP, 200, market)
    for s, k in market.items():
        for t in range(80):
            ring.append(ring.slot(s), int(k.open_time[t]), k.bars[t, :8])
    pairs = []
    for i, (which, behind) in enumerate(picks * 2):  # each signal given twice
        symbol = ("S0USDT", "S1USDT", "S1USDT", "S9USDT")[which]
        signal = _signal(TRADERS[i % 2].id, symbol, market[f"S{which % 2}USDT"], 79 - behind)
        if behind >= HORIZON and any(s.id == signal.id for s, _ in pairs):
            # Complete at once, it is not open any more: one by one, it would be followed a
            # second time; a batch (as before it was one) follows each signal once.
            continue
        pairs.append((signal, DIRECTION[signal.trader_id]))
    one, together = LiveOutcomes({TF: ring}), LiveOutcomes({TF: ring})
    single = [u for s, d in pairs for u in one.follow(s, d)]
    batched = together.follow_all(pairs)
    # Compared as text: a row may hold NaN (not yet known), which equals nothing.
    assert sorted(repr(u.to_row(0)) for u in batched) == sorted(repr(u.to_row(0)) for u in single)
    assert {k: f.last_time for k, f in one.open.items()} == {
        k: f.last_time for k, f in together.open.items()
    }


def test_rows_opened_at_once_are_the_rows_opened_one_by_one() -> None:
    """``OutcomeTracker.open_many`` gives the rows, state and level sources ``open`` gives one
    by one, and stops when the tracker is full."""
    levels = [Levels(90.0, 120.0, "atr"), Levels.none(), Levels(110.0, 80.0, "analysis")]
    entries, directions = [100.0, 50.5, 100.0], ["long", "long", "short"]
    one, many = OutcomeTracker(5), OutcomeTracker(5)
    one.release(one.open(1.0, "long", Levels.none()))  # a row freed before: reused first
    many.release(many.open(1.0, "long", Levels.none()))
    rows = [one.open(e, d, lv) for e, d, lv in zip(entries, directions, levels, strict=True)]
    got = many.open_many(
        np.asarray(entries),
        np.asarray([1.0, 1.0, -1.0]),
        np.asarray([lv.stop for lv in levels]),
        np.asarray([lv.target for lv in levels]),
        [lv.source for lv in levels],
    )
    assert got == rows
    assert np.array_equal(one.state, many.state, equal_nan=True)
    assert [one.outcome(r) for r in rows] == [many.outcome(r) for r in got]
    more = many.open_many(*(np.asarray([1.0, 2.0, 3.0]),) * 4, ["none"] * 3)
    assert (len(more), len(many)) == (2, 5)
