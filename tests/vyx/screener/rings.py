"""Rings filled with deterministic synthetic candles, and a screener over them, for tests that
change traders on a screener without a market."""

from __future__ import annotations

from collections.abc import Sequence

from kernels.ring import RingBuffer
from kernels.timeframes import timeframe_ms
from tests.kernels.synthetic import random_klines
from vyx.market.closes import BarClosed, HistoryLoaded
from vyx.screener.service import Screener, ScreenerConfig
from vyx.signal import Signal


def filled_rings(
    symbols: int = 3, bars: int = 400, timeframes: Sequence[str] = ("5m",)
) -> dict[str, RingBuffer]:
    """One ring per timeframe holding ``bars`` closed candles of each of ``symbols`` pairs."""
    rings = {}
    for tf in timeframes:
        ring = RingBuffer(timeframe_ms(tf), bars)
        for i in range(symbols):
            slot = ring.add_symbol(f"S{i}USDT")
            k = random_klines(i, bars, timeframe_ms(tf))
            for t, row in zip(k.open_time.tolist(), k.bars, strict=True):
                ring.append(slot, t, row[:8])
        rings[tf] = ring
    return rings


class ScreenerRun:
    """A screener over :func:`filled_rings` whose signals are collected."""

    def __init__(self, rings: dict[str, RingBuffer]) -> None:
        self.rings = rings
        self.signals: list[Signal] = []

        async def sink(signals: Sequence[Signal], cancelled: Sequence[str]) -> None:
            self.signals += signals

        self.screener = Screener(ScreenerConfig(user_id="u"), rings, sink)

    async def load(self) -> None:
        """Every ring's history is loaded (state, no signals)."""
        for tf, ring in self.rings.items():
            await self.screener.handle(HistoryLoaded(tf, ring.symbols))

    async def close_next(self, up: bool = True, tf: str = "5m", *, announce: bool = True) -> int:
        """One more candle closes for every symbol: 2% up from the last close (or down); its
        open time. Without ``announce`` it is only appended (the market has not announced it)."""
        ring = self.rings[tf]
        step = timeframe_ms(tf)
        open_time = -1
        for symbol in ring.symbols:
            slot = ring.slot(symbol)
            times, values = ring.window(slot, 1)
            open_time = int(times[-1]) + step
            bar = values[:, -1].copy()
            last = bar[3]
            bar[0], bar[3] = last, last * (1.02 if up else 0.98)
            bar[1], bar[2] = max(bar[0], bar[3]), min(bar[0], bar[3])
            ring.append(slot, open_time, bar)
        if announce:
            await self.screener.handle(BarClosed(tf, open_time, ring.symbols, complete=True))
        return open_time
