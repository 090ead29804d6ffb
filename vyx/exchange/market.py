"""The market model: candles of every timeframe, forming states, 24 h tickers, the event timeline.

Pure and synchronous: every query takes the market time it is asked at, so the same calls answer
REST requests, build stream frames and serve as the *truth* tests compare a client against.

Timeline (see :meth:`Market.next_event`): for each served timeframe a bar of length ``L`` gets
``forming_updates`` forming states at ``open + j * (L // (forming_updates + 1))`` and its closed
state at ``open + L``; 24 h tickers are due every ``ticker_interval_ms``. A forming state at
market time ``t`` is the merge of the bar's base bars closed before ``t`` and the base bar in
progress, that far in (:func:`~vyx.exchange.candles.partial_row`); so forming states only
grow (volume up, high up, low down) and the last one before the close is followed by exactly the
closed bar.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence

import attrs
import numpy as np

from kernels.timeframes import DAY_MS, bar_open, timeframe_ms
from vyx.exchange.candles import (
    CLOSE_COL,
    FIRST_TRADE_COL,
    HIGH_COL,
    LOW_COL,
    N_COLS,
    OPEN_COL,
    OPEN_TIME_COL,
    QUOTE_VOLUME_COL,
    SCALE,
    TRADES_COL,
    VOLUME_COL,
    Bars,
    ExactKline,
    aggregate,
    fmt_decimal,
    forming_row,
    merge_rows,
)
from vyx.exchange.source import CandleSource, SymbolInfo

_DAILY_CACHE = 200_000
#: Bytes of aggregated day blocks kept (a day of 5m bars is 25 kB, of 1h bars 2 kB).
_DAY_BARS_CACHE_BYTES = 64 * 2**20


@attrs.frozen
class RollingTicker:
    """A rolling 24 h ticker at a base-bar boundary (quantities in 1e-8 units)."""

    symbol: str
    open_time: int
    close_time: int
    open: int
    high: int
    low: int
    last: int
    prev_close: int
    volume: int
    quote_volume: int
    first_id: int
    last_id: int
    count: int
    last_qty: int
    bid: int
    bid_qty: int
    ask: int
    ask_qty: int

    def _change(self) -> tuple[str, str, str]:
        change = self.last - self.open
        percent = f"{change * 100 / self.open:.3f}" if self.open else "0.000"
        wavg = self.quote_volume * SCALE // self.volume if self.volume else self.last
        return fmt_decimal(change), percent, fmt_decimal(wavg)

    def rest(self) -> dict[str, object]:
        """The ``/api/v3/ticker/24hr`` object (FULL), keys in Binance's order."""
        change, percent, wavg = self._change()
        return {
            "symbol": self.symbol,
            "priceChange": change,
            "priceChangePercent": percent,
            "weightedAvgPrice": wavg,
            "prevClosePrice": fmt_decimal(self.prev_close),
            "lastPrice": fmt_decimal(self.last),
            "lastQty": fmt_decimal(self.last_qty),
            "bidPrice": fmt_decimal(self.bid),
            "bidQty": fmt_decimal(self.bid_qty),
            "askPrice": fmt_decimal(self.ask),
            "askQty": fmt_decimal(self.ask_qty),
            "openPrice": fmt_decimal(self.open),
            "highPrice": fmt_decimal(self.high),
            "lowPrice": fmt_decimal(self.low),
            "volume": fmt_decimal(self.volume),
            "quoteVolume": fmt_decimal(self.quote_volume),
            "openTime": self.open_time,
            "closeTime": self.close_time,
            "firstId": self.first_id,
            "lastId": self.last_id,
            "count": self.count,
        }

    def stream_payload(self, event_time: int) -> dict[str, object]:
        """The ``data`` of a ``<sym>@ticker`` (``24hrTicker``) frame, keys in Binance's order."""
        change, percent, wavg = self._change()
        return {
            "e": "24hrTicker",
            "E": event_time,
            "s": self.symbol,
            "p": change,
            "P": percent,
            "w": wavg,
            "x": fmt_decimal(self.prev_close),
            "c": fmt_decimal(self.last),
            "Q": fmt_decimal(self.last_qty),
            "b": fmt_decimal(self.bid),
            "B": fmt_decimal(self.bid_qty),
            "a": fmt_decimal(self.ask),
            "A": fmt_decimal(self.ask_qty),
            "o": fmt_decimal(self.open),
            "h": fmt_decimal(self.high),
            "l": fmt_decimal(self.low),
            "v": fmt_decimal(self.volume),
            "q": fmt_decimal(self.quote_volume),
            "O": self.open_time,
            "C": self.close_time,
            "F": self.first_id,
            "L": self.last_id,
            "n": self.count,
        }


@attrs.frozen
class Event:
    """Something due at market time ``at``: forming/closed states of timeframes, and tickers."""

    at: int
    #: Timeframes whose bar closes at ``at`` (the closed bar opened at ``at - length``).
    closing: tuple[str, ...]
    #: Timeframes with a forming update of the bar containing ``at``.
    forming: tuple[str, ...]
    tickers: bool


class Market:
    """Candles of every timeframe for the symbols of ``source``, and the event timeline."""

    def __init__(
        self,
        source: CandleSource,
        timeframes: Sequence[str] = ("1m", "5m", "15m", "1h"),
        *,
        forming_updates: int = 3,
        ticker_interval_ms: int = 60_000,
    ) -> None:
        self.source = source
        self.base_interval = source.base_interval
        self.base_ms = timeframe_ms(source.base_interval)
        for tf in timeframes:
            length = timeframe_ms(tf)
            if length % self.base_ms:
                raise ValueError(
                    f"timeframe {tf} is not a multiple of the source's {self.base_interval}"
                )
        self.timeframes = tuple(sorted(set(timeframes), key=timeframe_ms))
        if forming_updates < 0:
            raise ValueError("forming_updates must be >= 0")
        self.forming_updates = forming_updates
        self.ticker_interval_ms = (
            max(ticker_interval_ms, self.base_ms) // self.base_ms * self.base_ms
        )
        self.symbols: dict[str, SymbolInfo] = {info.symbol: info for info in source.symbols}
        self._daily: OrderedDict[tuple[str, int], np.ndarray | None] = OrderedDict()
        self._days: OrderedDict[tuple[str, str, int], Bars] = OrderedDict()
        self._days_bytes = 0

    def _update_step(self, interval: str) -> int:
        return max(timeframe_ms(interval) // (self.forming_updates + 1), 1)

    # -- candles -------------------------------------------------------------------------------

    def closed_bars(self, symbol: str, interval: str, start_open: int, end_open: int) -> Bars:
        """Complete bars of ``interval`` with open time in ``[start_open, end_open)``.

        Bars are aggregated day by day (or from cached daily bars above a day) so memory stays
        bounded whatever the range.
        """
        length = timeframe_ms(interval)
        if end_open <= start_open:
            return Bars.empty()
        if length > DAY_MS:
            first_day, last_day = start_open // DAY_MS, (end_open - 1 + length) // DAY_MS
            rows = [self._daily_row(symbol, d) for d in range(first_day, last_day)]
            days = Bars(np.array([r for r in rows if r is not None]).reshape(-1, N_COLS))
            return aggregate(days, interval, base_ms=DAY_MS).between(start_open, end_open)
        parts = []
        first_day = _ceil_open(interval, start_open) // DAY_MS
        for day in range(first_day, (end_open - 1) // DAY_MS + 1):
            lo, hi = max(day * DAY_MS, start_open), min((day + 1) * DAY_MS, end_open)
            parts.append(self._day_bars(symbol, interval, day).between(lo, hi))
        return Bars.concat(parts)

    def _day_bars(self, symbol: str, interval: str, day: int) -> Bars:
        """Complete bars of ``interval`` (at most a day long) opening on ``day``, cached."""
        key = (symbol, interval, day)
        cached = self._days.get(key)
        if cached is not None:
            self._days.move_to_end(key)
            return cached
        length, lo = timeframe_ms(interval), day * DAY_MS
        base = self.source.base_bars(symbol, lo, bar_open(interval, lo + DAY_MS - 1) + length)
        bars = aggregate(base, interval, base_ms=self.base_ms).between(lo, lo + DAY_MS)
        self._days[key] = bars
        self._days_bytes += bars.data.nbytes
        while self._days_bytes > _DAY_BARS_CACHE_BYTES:
            self._days_bytes -= self._days.popitem(last=False)[1].data.nbytes
        return bars

    def _daily_row(self, symbol: str, day: int) -> np.ndarray | None:
        key = (symbol, day)
        if key in self._daily:
            self._daily.move_to_end(key)
            return self._daily[key]
        bars = self.closed_bars(symbol, "1d", day * DAY_MS, (day + 1) * DAY_MS)
        row = bars.data[0] if len(bars) else None
        self._daily[key] = row
        if len(self._daily) > _DAILY_CACHE:
            self._daily.popitem(last=False)
        return row

    def kline_at(self, symbol: str, interval: str, open_time: int, at_ms: int) -> ExactKline | None:
        """The bar of ``interval`` opened at ``open_time`` as it stands at market time ``at_ms``.

        Closed (complete) when ``at_ms >= open_time + length``; None when it has not started or
        the source has no data for it.
        """
        length = timeframe_ms(interval)
        if at_ms < open_time:
            return None
        end = min(at_ms, open_time + length)
        base = self.source.base_bars(symbol, open_time, end + 1)
        current_open = bar_open(self.base_interval, end)
        closed = base.between(open_time, current_open).data
        if len(closed) != (current_open - open_time) // self.base_ms:
            return None  # a hole in the source
        if at_ms >= open_time + length:
            return ExactKline.from_row(interval, merge_rows(closed)) if len(closed) else None
        current = base.between(current_open, current_open + 1).data
        row = forming_row(
            closed, current[0] if len(current) else None, at_ms - current_open, self.base_ms
        )
        if row is None:
            return None
        row[OPEN_TIME_COL] = open_time
        return ExactKline.from_row(interval, row)

    def klines(
        self,
        symbol: str,
        interval: str,
        now_ms: int,
        *,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = 500,
    ) -> list[ExactKline]:
        """``/api/v3/klines`` semantics: open times in ``[start, end]``, at most ``limit``.

        With ``start_ms`` the oldest bars from there; otherwise the newest ending at ``end_ms``
        (or now). The bar still forming at ``now_ms`` is included, last, like Binance does.
        """
        length = timeframe_ms(interval)
        first_base, last_base = self.source.span(symbol)
        lo = _ceil_open(interval, first_base)
        forming_open = bar_open(interval, now_ms)
        hi = forming_open
        if last_base is not None:
            hi = min(hi, bar_open(interval, last_base))
        if end_ms is not None:
            hi = min(hi, bar_open(interval, end_ms))
        if start_ms is not None:
            lo = max(lo, _ceil_open(interval, start_ms))
            hi = min(hi, lo + (limit - 1) * length)
        else:
            lo = max(lo, hi - (limit - 1) * length)
        if hi < lo:
            return []
        out = self.closed_bars(symbol, interval, lo, min(hi + 1, forming_open)).klines(interval)
        if lo <= forming_open <= hi:
            forming = self.kline_at(symbol, interval, forming_open, now_ms)
            if forming is not None:
                out.append(forming)
        return out

    def closed_between(
        self, symbol: str, interval: str, after_ms: int, until_ms: int
    ) -> list[ExactKline]:
        """Every bar of ``interval`` that closed in market time ``(after_ms, until_ms]``.

        A bar "closes" at ``open + length``; this is what the exchange produced in that window,
        connected clients or not.
        """
        length = timeframe_ms(interval)
        lo = _ceil_open(interval, after_ms + 1 - length)
        hi = bar_open(interval, until_ms - length) + 1
        return self.closed_bars(symbol, interval, lo, hi).klines(interval)

    # -- tickers -------------------------------------------------------------------------------

    def ticker(self, symbol: str, now_ms: int) -> RollingTicker | None:
        """The rolling 24 h ticker as of the last base-bar boundary at or before ``now_ms``."""
        end = bar_open(self.base_interval, now_ms)
        start = end - DAY_MS
        base = self.source.base_bars(symbol, start - self.base_ms, end)
        if len(base) < 2:
            return None
        if base.data[0, OPEN_TIME_COL] < start:
            prev_close, window = int(base.data[0, CLOSE_COL]), base.data[1:]
        else:
            prev_close, window = int(base.data[0, OPEN_COL]), base.data
        row = merge_rows(window)
        last = window[-1]
        info = self.symbols[symbol]
        trades = int(row[TRADES_COL])
        qty = (
            max(int(last[VOLUME_COL]) // max(int(last[TRADES_COL]), 1) // info.step, 1) * info.step
        )
        first_id = int(row[FIRST_TRADE_COL])
        return RollingTicker(
            symbol=symbol,
            open_time=int(window[0, OPEN_TIME_COL]),
            close_time=int(last[OPEN_TIME_COL]) + self.base_ms - 1,
            open=int(row[OPEN_COL]),
            high=int(row[HIGH_COL]),
            low=int(row[LOW_COL]),
            last=int(row[CLOSE_COL]),
            prev_close=prev_close,
            volume=int(row[VOLUME_COL]),
            quote_volume=int(row[QUOTE_VOLUME_COL]),
            first_id=first_id,
            last_id=first_id + trades - 1,
            count=trades,
            last_qty=qty,
            bid=max(int(row[CLOSE_COL]) - info.tick, info.tick),
            bid_qty=qty * 3,
            ask=int(row[CLOSE_COL]),
            ask_qty=qty * 2,
        )

    # -- timeline ------------------------------------------------------------------------------

    def next_event(self, after_ms: int, timeframes: Iterable[str] | None = None) -> Event:
        """The first event strictly after market time ``after_ms``."""
        tfs = self.timeframes if timeframes is None else tuple(timeframes)
        best: int | None = None
        for tf in tfs:
            length, step = timeframe_ms(tf), self._update_step(tf)
            start = bar_open(tf, after_ms)
            j = (after_ms - start) // step + 1
            due = start + j * step if j <= self.forming_updates else start + length
            best = due if best is None or due < best else best
        tick = self.ticker_interval_ms
        ticker_due = (after_ms // tick + 1) * tick
        best = ticker_due if best is None else min(best, ticker_due)
        return self.event_at(best, tfs)

    def event_at(self, at_ms: int, timeframes: Iterable[str] | None = None) -> Event:
        """What is due at market time ``at_ms`` (possibly nothing)."""
        closing, forming = [], []
        for tf in self.timeframes if timeframes is None else timeframes:
            start, step = bar_open(tf, at_ms), self._update_step(tf)
            offset = at_ms - start
            if offset == 0:
                closing.append(tf)
            elif offset % step == 0 and offset // step <= self.forming_updates:
                forming.append(tf)
        return Event(at_ms, tuple(closing), tuple(forming), at_ms % self.ticker_interval_ms == 0)


def _ceil_open(interval: str, t_ms: int) -> int:
    """Open time of the first bar of ``interval`` opening at or after ``t_ms``."""
    start = bar_open(interval, t_ms)
    return start if start == t_ms else start + timeframe_ms(interval)
