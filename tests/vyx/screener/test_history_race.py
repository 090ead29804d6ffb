"""A symbol's history is loaded, then the stream appends its next closed bar before the
screener has taken the load's event: that bar is a close, screened with its signals — not
history stepped silently (the daemon lost such signals when a close followed a backfill
quickly)."""

from __future__ import annotations

from kernels.program import TraderDef
from tests.vyx.screener.rings import ScreenerRun, filled_rings
from vyx.market.closes import BarClosed, HistoryLoaded

#: The harness's next candle closes 2% above its open; the synthetic history rarely does.
JUMP = TraderDef("jump", "close > open * 1.019", "5m", "jump")


async def test_a_bar_appended_after_the_load_is_screened_as_a_close() -> None:
    rings = filled_rings(symbols=3, bars=300)
    ring = rings["5m"]
    run = ScreenerRun(rings)
    await run.screener.set_traders([JUMP])
    loaded = tuple(ring.last_open_time(ring.slot(s)) for s in ring.symbols)
    open_time = await run.close_next(up=True, announce=False)
    await run.screener.handle(HistoryLoaded("5m", ring.symbols, loaded))
    assert run.signals == [], "history fires nothing"
    await run.screener.handle(BarClosed("5m", open_time, ring.symbols, complete=True))
    assert sorted(s.symbol for s in run.signals) == sorted(ring.symbols)
    assert {s.bar_open_time for s in run.signals} == {open_time}


async def test_without_the_loads_extent_the_ring_is_history() -> None:
    """An event without ``upto`` (as the tests' harnesses send) takes the ring as it is."""
    rings = filled_rings(symbols=2, bars=300)
    ring = rings["5m"]
    run = ScreenerRun(rings)
    await run.screener.set_traders([JUMP])
    open_time = await run.close_next(up=True, announce=False)
    await run.screener.handle(HistoryLoaded("5m", ring.symbols))
    await run.screener.handle(BarClosed("5m", open_time, ring.symbols, complete=True))
    assert run.signals == []
