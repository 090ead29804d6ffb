"""Trader changes are installed off the event loop, all at once, or not at all."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import trio

from kernels.program import TraderDef
from kernels.ring import RingBuffer
from tests.vyx.screener.rings import ScreenerRun, filled_rings
from vyx.screener.install import InstallFailed, vet

BASE = [
    TraderDef("up", "close > open", "5m", "up"),
    TraderDef("rising", "close > sma(close, 20)", "5m", "rising"),
]


def _heavy(n: int) -> list[TraderDef]:
    """Traders whose warm-up over the rings' history takes a while."""
    return [
        TraderDef(
            f"h{k}",
            f"rsi({5 + k}) < 50 and close > ema(close, {20 + k}) and "
            f"macd({10 + k}, {30 + k}, 9).hist > 0 and atr({7 + k}) > 0",
            "5m",
        )
        for k in range(n)
    ]


async def test_a_trader_change_is_installed_in_a_worker_thread() -> None:
    """The event loop keeps running while a change compiles and warms up (finding 1): a probe
    task that only yields gets scheduled many times during the install. Installed on the event
    loop, it could run at most at the lock's checkpoints."""
    run = ScreenerRun(filled_rings(symbols=40, bars=600))
    await run.screener.set_traders(BASE)
    installing = False
    during = 0

    async def probe() -> None:
        nonlocal during
        while True:
            await trio.lowlevel.checkpoint()
            during += installing

    async with trio.open_nursery() as nursery:
        nursery.start_soon(probe)
        installing = True
        problems = await run.screener.set_traders([*BASE, *_heavy(12)])
        installing = False
        nursery.cancel_scope.cancel()
    assert problems == {}
    assert set(run.screener.executor.traders) == {"up", "rising"} | {f"h{k}" for k in range(12)}
    assert during >= 20, f"the event loop ran {during} times during the install"


async def test_a_trader_on_a_timeframe_without_candles_is_reported() -> None:
    """Finding 9: a 1h trader on a machine streaming 5m is reported, not dropped silently."""
    run = ScreenerRun(filled_rings())
    problems = await run.screener.set_traders(
        iter([*BASE, TraderDef("hourly", "close > open", "1h", "hourly")])
    )
    assert problems.keys() == {"hourly"}
    streams = "timeframe '1h' is not streamed here (streamed: 5m)"
    assert streams in problems["hourly"]
    assert run.screener.statistics().traders["hourly"].error == problems["hourly"]
    assert set(run.screener.executor.traders) == {"up", "rising"}


async def test_on_of_an_unstreamed_timeframe_is_refused_and_the_rest_runs() -> None:
    """Finding 4: ``on("4h", ...)`` on a 5m-only machine raised KeyError out of the install."""
    run = ScreenerRun(filled_rings())
    mtf = TraderDef("mtf", 'close > open and on("4h", close > open)', "5m", "mtf")
    problems = await run.screener.set_traders([*BASE, mtf])
    await run.load()
    assert "timeframe '4h' is not streamed here" in problems["mtf"]
    assert set(run.screener.executor.traders) == {"up", "rising"}
    for up in (False, True, True):
        await run.close_next(up=up)
    assert {s.trader_id for s in run.signals} == {"up", "rising"}
    assert run.screener.statistics().traders["rising"].last_run_ms > 0


async def test_a_trader_that_needs_more_history_than_the_ring_keeps_warms_up_live() -> None:
    """It runs, warming up over the candles that close from then on (its statistics say how
    many it still needs); the filter budget bounds how many that can be."""
    run = ScreenerRun(filled_rings(bars=300))
    await run.load()
    assert await run.screener.set_traders([TraderDef("long", "close > sma(close, 302)")]) == {}
    await run.close_next()
    warming = run.screener.statistics().traders["long"]
    assert warming.warming == 3
    assert 1 <= warming.bars_needed <= 3
    for _ in range(warming.bars_needed):
        await run.close_next()
    assert run.screener.statistics().traders["long"].warming == 0


async def test_a_trader_of_a_timeframe_nobody_screened_at_start_is_screened() -> None:
    """History came in before any trader of its timeframe (a machine started without
    traders): a trader added later is warmed from the ring and fires on the next closes."""
    run = ScreenerRun(filled_rings(bars=300))
    await run.load()
    assert await run.screener.set_traders([TraderDef("up", "close > open")]) == {}
    for up in (False, True, False, True):
        await run.close_next(up=up)
    assert [s.trader_id for s in run.signals] == ["up"] * 6
    assert list(run.screener.executor.states["5m"].count[:3]) == [304] * 3


async def test_removed_traders_leave_the_statistics() -> None:
    run = ScreenerRun(filled_rings())
    await run.screener.set_traders(BASE)
    await run.load()
    await run.close_next()
    assert set(run.screener.statistics().traders) == {"up", "rising"}
    await run.screener.set_traders(BASE[:1])
    assert set(run.screener.statistics().traders) == {"up"}


def _nothing() -> None:
    pass


class _Appender:
    """Appends a candle to every symbol of a ring, round after round (the market writing),
    until told. Between rounds the event loop waits once on a thread (no sleep): like the
    real market's loop it lets go of the GIL, so the install's worker thread progresses (a
    loop that never lets go starves it: each GIL hand-off then waits the switch interval)."""

    def __init__(self, ring: RingBuffer) -> None:
        self.ring = ring
        self.scope = trio.CancelScope()

    async def run(self, until: Callable[[], bool] = lambda: False) -> None:
        with self.scope:
            while not until():
                for symbol in self.ring.symbols:
                    slot = self.ring.slot(symbol)
                    times, values = self.ring.window(slot, 1)
                    self.ring.append(slot, int(times[-1]) + self.ring.timeframe_ms, values[:, -1])
                await trio.to_thread.run_sync(_nothing)


async def test_a_stage_that_saw_the_rings_change_is_staged_again() -> None:
    """The market writes until a stage was found stale, then stops: the next stage installs."""
    run = ScreenerRun(filled_rings(symbols=40, bars=600))
    await run.screener.set_traders(BASE)
    appender = _Appender(run.rings["5m"])
    async with trio.open_nursery() as nursery:
        nursery.start_soon(appender.run, lambda: run.screener.statistics().stale_stages > 0)
        problems = await run.screener.set_traders([*BASE, *_heavy(8)])
    assert run.screener.statistics().stale_stages >= 1
    assert problems == {}
    assert len(run.screener.executor.traders) == 10


async def test_a_change_that_cannot_be_installed_leaves_the_running_traders() -> None:
    """The market writes all along: every stage is stale, the change is given up, and what
    runs is untouched."""
    run = ScreenerRun(filled_rings(symbols=40, bars=600))
    await run.screener.set_traders(BASE)
    executor = run.screener.executor
    state = executor.states["5m"]
    mem = state.mem.copy()
    appender = _Appender(run.rings["5m"])
    async with trio.open_nursery() as nursery:
        nursery.start_soon(appender.run)
        with pytest.raises(InstallFailed, match="the market kept writing candles"):
            await run.screener.set_traders([*BASE, *_heavy(8)])
        appender.scope.cancel()
    assert set(executor.traders) == {"up", "rising"}
    assert executor.states["5m"] is state
    np.testing.assert_array_equal(state.mem, mem)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("close >", "does not compile:\n1:8: "),
        ('on("1h", close > open)', "does not compile:\n1:4: timeframe '1h' is not streamed"),
        ("rsi(1000) < 30", "does not compile:\n1:1: filter needs too much history"),
    ],
)
def test_vet_says_why_a_trader_cannot_run(source: str, expected: str) -> None:
    problem = vet(TraderDef("t", source, "5m"), {"5m"})
    assert problem is not None
    assert problem.startswith(expected) or expected in problem
    assert vet(TraderDef("t", "close > open", "5m"), {"5m"}) is None
