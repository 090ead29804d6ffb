"""Fetching closed bars over REST: the newest N (backfill) and a range (gap repair).

``/api/v3/klines`` returns at most 1000 rows. Without times it returns the newest rows, the
last being the current, still forming, candle; with ``startTime``/``endTime`` it returns the
oldest ``limit`` rows inside the range. So the newest N closed bars are fetched by one request
for the newest page, then pages *backwards*, each asking for exactly the window just before
the oldest bar held: no overlap, no hole, and the newest bar is always included.

Binance has real holes (maintenance windows with no candles). :func:`fill_holes` turns a
fetched range into a contiguous one with flat zero-volume bars, so ring history stays
contiguous and is never stuck waiting for a bar that will never exist.
"""

from __future__ import annotations

import math
from typing import Protocol

import attrs

from kernels.timeframes import timeframe_ms
from vyx.market.frames import FrameError, Kline
from vyx.market.rest import MAX_KLINES


class KlineSource(Protocol):
    """What fetching needs from a REST client (:class:`vyx.market.rest.RestClient`)."""

    async def klines(
        self,
        symbol: str,
        timeframe: str,
        *,
        start_time: int | None = None,
        end_time: int | None = None,
        limit: int = MAX_KLINES,
    ) -> list[list[object]]: ...


@attrs.frozen
class Fetched:
    """Closed bars fetched for one (symbol, timeframe), oldest first."""

    bars: tuple[Kline, ...]
    #: Requests it took.
    requests: int
    #: Open time of the current (forming) bar at fetch time, or -1 when unknown.
    current_open_time: int = -1


def _parse(rows: list[list[object]], symbol: str, timeframe: str) -> list[Kline]:
    out = []
    for row in rows:
        try:
            out.append(Kline.from_rest(row, symbol, timeframe))
        except FrameError:
            continue
    return out


async def fetch_newest(source: KlineSource, symbol: str, timeframe: str, count: int) -> Fetched:
    """The newest ``count`` closed bars (fewer if the symbol is younger), paging backwards.

    The newest row of the first page is the forming candle: it is left out (the stream delivers
    it) and its open time is returned as ``current_open_time``.
    """
    step = timeframe_ms(timeframe)
    first = _parse(
        await source.klines(symbol, timeframe, limit=min(count + 1, MAX_KLINES)), symbol, timeframe
    )
    requests = 1
    if not first:
        return Fetched((), requests)
    current = first[-1].open_time
    pages = [first[:-1]]
    need = count - len(pages[0])
    oldest = pages[0][0].open_time if pages[0] else current
    # A short first page means there is no older history.
    exhausted = len(first) < min(count + 1, MAX_KLINES)
    while need > 0 and not exhausted:
        size = min(need, MAX_KLINES)
        rows = await source.klines(
            symbol, timeframe, start_time=oldest - size * step, end_time=oldest - 1, limit=size
        )
        requests += 1
        page = [k for k in _parse(rows, symbol, timeframe) if k.open_time < oldest]
        if not page:
            break
        pages.append(page)
        need -= len(page)
        oldest = page[0].open_time
    bars = [k for page in reversed(pages) for k in page]
    return Fetched(tuple(bars[-count:] if count else ()), requests, current)


async def fetch_range(
    source: KlineSource, symbol: str, timeframe: str, start: int, end: int
) -> Fetched:
    """Closed bars with ``start <= open_time < end``, paging forwards (holes are left as is)."""
    step = timeframe_ms(timeframe)
    bars: list[Kline] = []
    requests = 0
    cursor = start
    while cursor < end:
        size = min(MAX_KLINES, (end - cursor + step - 1) // step)
        rows = await source.klines(
            symbol, timeframe, start_time=cursor, end_time=end - 1, limit=size
        )
        requests += 1
        page = [k for k in _parse(rows, symbol, timeframe) if cursor <= k.open_time < end]
        if not page:
            break
        bars.extend(page)
        cursor = page[-1].open_time + step
        if len(rows) < size:
            break
    return Fetched(tuple(bars), requests)


def fill_holes(
    bars: tuple[Kline, ...] | list[Kline],
    symbol: str,
    timeframe: str,
    start: int,
    end: int,
    prev_close: float,
) -> tuple[list[Kline], int]:
    """Bars covering every open time of ``[start, end)``: holes become flat zero-volume bars.

    The caller asserts that the exchange has moved past ``end`` (so a hole is final).
    ``prev_close`` is the close before ``start``; while it is NaN (unknown) leading holes are
    left out, as there is no price to carry. Returns (bars, number synthesized).
    """
    step = timeframe_ms(timeframe)
    by_time = {k.open_time: k for k in bars if start <= k.open_time < end}
    out: list[Kline] = []
    synthesized = 0
    last = prev_close
    for t in range(start, end, step):
        bar = by_time.get(t)
        if bar is None:
            if math.isnan(last):
                continue
            flat = (last, last, last, last, 0.0, 0.0, 0.0, 0.0)
            bar = Kline(symbol, timeframe, t, True, flat)
            synthesized += 1
        out.append(bar)
        last = bar.close
    return out, synthesized
