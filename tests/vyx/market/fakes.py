"""A fake Binance kline history with the real paging semantics, for REST-level tests."""

from __future__ import annotations

import json
import random
from typing import Any

import attrs
import httpx

from kernels.timeframes import timeframe_ms
from vyx.market.frames import Kline


def bar_values(symbol: str, timeframe: str, open_time: int) -> tuple[float, ...]:
    """Deterministic bar values (a reproducible random walk point)."""
    rng = random.Random(f"{symbol}{timeframe}{open_time}")
    o = 100 + rng.random()
    c = 100 + rng.random()
    return (o, max(o, c) + 1, min(o, c) - 1, c, 10 * rng.random(), 1000 * rng.random(), 7.0, 1.0)


def rest_row(symbol: str, timeframe: str, open_time: int) -> list[Any]:
    o, h, lo, c, v, q, n, tb = bar_values(symbol, timeframe, open_time)
    close_time = open_time + timeframe_ms(timeframe) - 1
    return [
        open_time,
        repr(o),
        repr(h),
        repr(lo),
        repr(c),
        repr(v),
        close_time,
        repr(q),
        int(n),
        repr(tb),
        "0",
        "0",
    ]


def kline(symbol: str, timeframe: str, open_time: int, *, closed: bool = True) -> Kline:
    values = bar_values(symbol, timeframe, open_time)
    return Kline(symbol, timeframe, open_time, closed, values)  # type: ignore[arg-type]


def ws_frame(symbol: str, timeframe: str, open_time: int, *, closed: bool) -> str:
    row = rest_row(symbol, timeframe, open_time)
    k = {
        "t": open_time,
        "T": row[6],
        "s": symbol,
        "i": timeframe,
        "f": 1,
        "L": 2,
        "o": row[1],
        "c": row[4],
        "h": row[2],
        "l": row[3],
        "v": row[5],
        "n": row[8],
        "x": closed,
        "q": row[7],
        "V": row[9],
        "Q": "0",
        "B": "0",
    }
    data = {"e": "kline", "E": open_time + 1, "s": symbol, "k": k}
    return json.dumps({"stream": f"{symbol.lower()}@kline_{timeframe}", "data": data})


@attrs.define
class FakeKlines:
    """Bars from ``first_open`` up to ``current`` (the forming one); ``holes`` never existed."""

    timeframe: str
    first_open: int
    current: int
    holes: set[int] = attrs.Factory(set)
    calls: list[dict[str, Any]] = attrs.Factory(list)

    def rows(self, symbol: str, start: int | None, end: int | None, limit: int) -> list[list[Any]]:
        step = timeframe_ms(self.timeframe)
        times = [t for t in range(self.first_open, self.current + 1, step) if t not in self.holes]
        if start is not None:
            times = [t for t in times if t >= start]
        if end is not None:
            times = [t for t in times if t <= end]
        times = times[:limit] if start is not None else times[-limit:]
        return [rest_row(symbol, self.timeframe, t) for t in times]

    async def klines(
        self,
        symbol: str,
        timeframe: str,
        *,
        start_time: int | None = None,
        end_time: int | None = None,
        limit: int = 1000,
    ) -> list[list[Any]]:
        assert timeframe == self.timeframe
        assert 1 <= limit <= 1000
        self.calls.append({"start": start_time, "end": end_time, "limit": limit})
        return self.rows(symbol, start_time, end_time, limit)

    def transport(self) -> httpx.MockTransport:
        """The same history behind ``/api/v3/klines``."""

        def handler(request: httpx.Request) -> httpx.Response:
            p = request.url.params
            start = int(p["startTime"]) if "startTime" in p else None
            end = int(p["endTime"]) if "endTime" in p else None
            rows = self.rows(p["symbol"], start, end, int(p.get("limit", 500)))
            return httpx.Response(200, json=rows, headers={"x-mbx-used-weight-1m": "1"})

        return httpx.MockTransport(handler)
