"""Backfill paging and range fetching against a fake with Binance's paging semantics."""

from __future__ import annotations

import itertools
import math

import pytest

from tests.vyx.market.fakes import FakeKlines, kline
from vyx.market.backfill import fetch_newest, fetch_range, fill_holes

STEP = 300_000
T0 = 1_700_000_100_000 // STEP * STEP


@pytest.mark.parametrize(
    ("wanted", "requests"), [(1, 1), (999, 1), (1000, 2), (2500, 3), (3000, 4), (3001, 4)]
)
async def test_newest_bars_are_paged_without_overlap(wanted: int, requests: int) -> None:
    fake = FakeKlines("5m", T0, T0 + 5000 * STEP)
    fetched = await fetch_newest(fake, "BTCUSDT", "5m", wanted)
    times = [b.open_time for b in fetched.bars]
    assert len(times) == wanted
    assert times[-1] == fake.current - STEP  # newest closed bar included, forming one not
    assert all(b - a == STEP for a, b in itertools.pairwise(times))
    assert fetched.requests == requests == len(fake.calls)
    assert fetched.current_open_time == fake.current
    assert all(call["limit"] <= 1000 for call in fake.calls)


async def test_young_symbol_returns_what_exists() -> None:
    fake = FakeKlines("5m", T0, T0 + 1500 * STEP)
    fetched = await fetch_newest(fake, "NEWUSDT", "5m", 2500)
    assert len(fetched.bars) == 1500
    assert fetched.bars[0].open_time == T0
    assert fetched.requests <= 3
    empty = FakeKlines("5m", T0, T0 - STEP)
    assert (await fetch_newest(empty, "X", "5m", 10)).bars == ()


async def test_range_pages_forward() -> None:
    fake = FakeKlines("5m", T0, T0 + 5000 * STEP)
    start, end = T0 + 10 * STEP, T0 + 2510 * STEP
    fetched = await fetch_range(fake, "BTCUSDT", "5m", start, end)
    times = [b.open_time for b in fetched.bars]
    assert times == list(range(start, end, STEP))
    assert fetched.requests == 3


def test_fill_holes_carries_the_close() -> None:
    bars = [kline("A", "5m", T0), kline("A", "5m", T0 + 3 * STEP)]
    filled, synth = fill_holes(bars, "A", "5m", T0, T0 + 4 * STEP, math.nan)
    assert [b.open_time for b in filled] == [T0 + i * STEP for i in range(4)]
    assert synth == 2
    assert filled[1].values == (bars[0].close,) * 4 + (0.0,) * 4
    leading, synth = fill_holes(bars[1:], "A", "5m", T0, T0 + 4 * STEP, math.nan)
    assert [b.open_time for b in leading] == [T0 + 3 * STEP]
    assert synth == 0
