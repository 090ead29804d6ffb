"""The history writer keeps rings contiguous under lost, repeated and late frames."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.ring import RingBuffer
from tests.vyx.market.fakes import FakeKlines, bar_values, kline
from vyx.market.backfill import fetch_newest, fetch_range
from vyx.market.history import History, KeyState, Repair

STEP = 60_000
T0 = 1_700_000_040_000 // STEP * STEP


def _history(capacity: int = 500) -> History:
    history = History({"1m": RingBuffer(STEP, capacity)})
    history.add_symbol("BTCUSDT")
    return history


async def _repair(history: History, fake: FakeKlines, repair: Repair | None) -> None:
    while repair is not None:
        fetched = await fetch_range(fake, repair.symbol, repair.timeframe, repair.start, repair.end)
        repair = history.complete_repair(repair.symbol, repair.timeframe, fetched.bars)


def _assert_exact(history: History, fake: FakeKlines, first: int, last: int) -> None:
    ring = history.rings["1m"]
    times, values = ring.window(ring.slot("BTCUSDT"))
    expected = list(range(first, last + 1, STEP))
    assert times.tolist() == expected
    for i, t in enumerate(expected):
        assert tuple(values[:, i]) == bar_values("BTCUSDT", "1m", t)


async def test_backfill_then_live_then_duplicate() -> None:
    fake = FakeKlines("1m", T0, T0 + 100 * STEP)
    history = _history()
    assert history.on_kline(kline("BTCUSDT", "1m", T0 + 99 * STEP)) is None  # loading: ignored
    fetched = await fetch_newest(fake, "BTCUSDT", "1m", 50)
    assert history.load("BTCUSDT", "1m", fetched.bars) == 50
    assert history.state("BTCUSDT", "1m") is KeyState.LIVE
    assert history.on_kline(kline("BTCUSDT", "1m", T0 + 100 * STEP)) is None
    assert history.on_kline(kline("BTCUSDT", "1m", T0 + 100 * STEP)) is None
    assert history.take_appended() == [("1m", T0 + 100 * STEP, "BTCUSDT")]
    assert history.counts().duplicates == 1
    _assert_exact(history, fake, T0 + 50 * STEP, T0 + 100 * STEP)


async def test_forming_frame_reveals_missed_closes() -> None:
    fake = FakeKlines("1m", T0, T0 + 10 * STEP)
    history = _history()
    history.load("BTCUSDT", "1m", (await fetch_newest(fake, "BTCUSDT", "1m", 5)).bars)
    fake.current = T0 + 14 * STEP
    repair = history.on_kline(kline("BTCUSDT", "1m", fake.current, closed=False))
    assert repair == Repair("BTCUSDT", "1m", T0 + 10 * STEP, T0 + 14 * STEP)
    await _repair(history, fake, repair)
    assert history.state("BTCUSDT", "1m") is KeyState.LIVE
    _assert_exact(history, fake, T0 + 5 * STEP, T0 + 13 * STEP)
    appended = [t for _, t, _ in history.take_appended()]
    assert appended == [T0 + i * STEP for i in range(10, 14)]
    assert history.counts().gaps_repaired == 1


async def test_the_exchange_clock_reveals_closes_no_frame_told() -> None:
    fake = FakeKlines("1m", T0, T0 + 10 * STEP)
    history = _history()
    history.load("BTCUSDT", "1m", (await fetch_newest(fake, "BTCUSDT", "1m", 5)).bars)
    # The bar opening at T0 + 10 is forming until T0 + 11: nothing is missing before that.
    assert history.closed_by(T0 + 11 * STEP - 1) == []
    assert history.state("BTCUSDT", "1m") is KeyState.LIVE
    # Three bars closed since without a frame saying so (the stream was not subscribed yet).
    fake.current = T0 + 13 * STEP
    repairs = history.closed_by(T0 + 13 * STEP + 5_000)
    assert repairs == [Repair("BTCUSDT", "1m", T0 + 10 * STEP, T0 + 13 * STEP)]
    assert history.closed_by(T0 + 13 * STEP + 5_000) == []  # already repairing
    # The first of them arrives meanwhile: held, and the fetch takes the rest.
    assert history.on_kline(kline("BTCUSDT", "1m", T0 + 10 * STEP)) is None
    await _repair(history, fake, history.pending_repair("BTCUSDT", "1m"))
    _assert_exact(history, fake, T0 + 5 * STEP, T0 + 12 * STEP)
    appended = [t for _, t, _ in history.take_appended()]
    assert appended == [T0 + i * STEP for i in range(10, 13)]
    assert history.counts().gaps_detected == history.counts().gaps_repaired == 1


async def test_the_exchange_clock_leaves_loading_keys_to_their_backfill() -> None:
    history = _history()
    assert history.closed_by(T0 + 100 * STEP) == []
    assert history.state("BTCUSDT", "1m") is KeyState.LOADING


async def test_exchange_hole_becomes_a_flat_bar() -> None:
    fake = FakeKlines("1m", T0, T0 + 10 * STEP, holes={T0 + 12 * STEP})
    history = _history()
    history.load("BTCUSDT", "1m", (await fetch_newest(fake, "BTCUSDT", "1m", 5)).bars)
    fake.current = T0 + 15 * STEP
    await _repair(history, fake, history.on_kline(kline("BTCUSDT", "1m", T0 + 14 * STEP)))
    ring = history.rings["1m"]
    times, values = ring.window(ring.slot("BTCUSDT"))
    assert times.tolist() == [T0 + i * STEP for i in range(5, 15)]
    hole = times.tolist().index(T0 + 12 * STEP)
    assert values[4, hole] == 0
    assert np.all(values[:4, hole] == values[3, hole - 1])
    assert history.counts().bars_synthesized == 1


async def test_missing_tail_is_fetched_again_not_invented() -> None:
    fake = FakeKlines("1m", T0, T0 + 10 * STEP)
    history = _history()
    history.load("BTCUSDT", "1m", (await fetch_newest(fake, "BTCUSDT", "1m", 5)).bars)
    repair = history.on_kline(kline("BTCUSDT", "1m", T0 + 13 * STEP, closed=False))
    assert repair is not None
    # REST lags: it only has bars up to 11 although the stream says 12 closed.
    fake.current = T0 + 11 * STEP
    fetched = await fetch_range(fake, "BTCUSDT", "1m", repair.start, repair.end)
    again = history.complete_repair("BTCUSDT", "1m", fetched.bars)
    assert again == Repair("BTCUSDT", "1m", T0 + 12 * STEP, T0 + 13 * STEP)
    assert history.counts().bars_synthesized == 0
    fake.current = T0 + 13 * STEP
    await _repair(history, fake, again)
    _assert_exact(history, fake, T0 + 5 * STEP, T0 + 12 * STEP)


@settings(max_examples=60, deadline=None)
@given(
    delivery=st.lists(
        st.sampled_from(["ok", "ok", "ok", "drop", "dup", "late"]), min_size=1, max_size=60
    ),
    forming=st.lists(st.booleans(), min_size=60, max_size=60),
    repair_lag=st.integers(0, 3),
)
async def test_every_closed_bar_exactly_once(
    delivery: list[str], forming: list[bool], repair_lag: int
) -> None:
    fake = FakeKlines("1m", T0, T0 + 20 * STEP)
    history = _history(capacity=1000)
    history.load("BTCUSDT", "1m", (await fetch_newest(fake, "BTCUSDT", "1m", 20)).bars)
    pending: list[Repair] = []
    late: list[int] = []

    async def deliver(open_time: int, closed: bool) -> None:
        repair = history.on_kline(kline("BTCUSDT", "1m", open_time, closed=closed))
        if repair is not None:
            pending.append(repair)

    for i, fate in enumerate(delivery):
        t = T0 + (20 + i) * STEP
        fake.current = t + STEP  # t has closed on the exchange
        if forming[i]:
            await deliver(t, False)
        if fate in ("ok", "dup"):
            await deliver(t, True)
        if fate == "dup":
            await deliver(t, True)
        if fate == "late":
            late.append(t)
        if late and i % 3 == 0:
            await deliver(late.pop(0), True)
        if len(pending) > repair_lag:
            await _repair(history, fake, history.pending_repair("BTCUSDT", "1m"))
            pending.clear()
    last = T0 + (19 + len(delivery)) * STEP
    await deliver(last + STEP, False)
    await _repair(history, fake, history.pending_repair("BTCUSDT", "1m"))
    _assert_exact(history, fake, T0, last)
    notified = [t for _, t, _ in history.take_appended()]
    assert notified == list(range(T0 + 20 * STEP, last + STEP, STEP))
