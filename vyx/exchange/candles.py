"""Candles as exact integers: storage, aggregation across timeframes, forming states, wire forms.

Array contract: a :class:`Bars` block is one ``int64`` array of shape ``(n, N_COLS)``, one row per
bar, columns as named by the ``*_COL`` constants, rows in ascending open time and contiguous (one
bar per interval, no gaps). Prices and quantities are fixed-point integers in units of ``1e-8``
(``SCALE``), Binance's own precision, so sums over any number of bars are exact and every
timeframe aggregated from the same base bars agrees to the last digit with every other. The limit
this puts on one bar is 9.2e10 of any quantity (base or quote volume): fine for BTC or DOGE,
not for a week of PEPE volume.

``FIRST_TRADE_COL`` holds the id of the bar's first trade (ids are cumulative per symbol), so a
bar's last trade id is ``first + trades - 1``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from kernels.klines_csv import Klines
from kernels.ops import N_BAR_FIELDS, OPEN_TIME
from kernels.timeframes import bar_open, timeframe_ms

SCALE = 100_000_000

(
    OPEN_TIME_COL,
    OPEN_COL,
    HIGH_COL,
    LOW_COL,
    CLOSE_COL,
    VOLUME_COL,
    QUOTE_VOLUME_COL,
    TRADES_COL,
    TAKER_BASE_COL,
    TAKER_QUOTE_COL,
    FIRST_TRADE_COL,
) = range(11)
N_COLS = 11
#: Columns that add up when bars are merged.
SUM_COLS = (VOLUME_COL, QUOTE_VOLUME_COL, TRADES_COL, TAKER_BASE_COL, TAKER_QUOTE_COL)

I64 = npt.NDArray[np.int64]


def fmt_decimal(units: int) -> str:
    """Binance's 8-place decimal string of fixed-point ``units``: 123450000 -> ``"1.23450000"``."""
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), SCALE)
    return f"{sign}{whole}.{frac:08d}"


def parse_decimal(text: str) -> int:
    """Fixed-point units of a decimal string (``"1.2345"``, ``"79.075"``, ``"1e-05"``).

    Raises ValueError for anything that is not a number with at most 8 decimal places.
    """
    text = text.strip()
    if "e" in text or "E" in text:
        from decimal import Decimal

        value = Decimal(text) * SCALE
        if value != value.to_integral_value():
            raise ValueError(f"{text!r} has more than 8 decimal places")
        return int(value)
    negative = text.startswith("-")
    whole, _, frac = text.lstrip("+-").partition(".")
    if len(frac) > 8 and frac[8:].strip("0"):
        raise ValueError(f"{text!r} has more than 8 decimal places")
    units = int(whole or "0") * SCALE + int((frac[:8] or "0").ljust(8, "0"))
    return -units if negative else units


@attrs.frozen
class ExactKline:
    """One candle in exact units; equal klines are bit-for-bit equal on the wire."""

    interval: str
    open_time: int
    close_time: int
    open: int
    high: int
    low: int
    close: int
    volume: int
    quote_volume: int
    trades: int
    taker_buy_volume: int
    taker_buy_quote_volume: int
    first_trade_id: int

    @property
    def last_trade_id(self) -> int:
        """Id of the bar's last trade (``first_trade_id - 1`` style -1 when it had none)."""
        return self.first_trade_id + self.trades - 1 if self.trades else -1

    @classmethod
    def from_row(cls, interval: str, row: Sequence[int] | I64) -> ExactKline:
        """The kline of one ``Bars`` row of timeframe ``interval``."""
        values = [int(v) for v in row]
        return cls(
            interval=interval,
            open_time=values[OPEN_TIME_COL],
            close_time=values[OPEN_TIME_COL] + timeframe_ms(interval) - 1,
            open=values[OPEN_COL],
            high=values[HIGH_COL],
            low=values[LOW_COL],
            close=values[CLOSE_COL],
            volume=values[VOLUME_COL],
            quote_volume=values[QUOTE_VOLUME_COL],
            trades=values[TRADES_COL],
            taker_buy_volume=values[TAKER_BASE_COL],
            taker_buy_quote_volume=values[TAKER_QUOTE_COL],
            first_trade_id=values[FIRST_TRADE_COL],
        )

    def rest_row(self) -> list[Any]:
        """The 12-element ``/api/v3/klines`` array."""
        return [
            self.open_time,
            fmt_decimal(self.open),
            fmt_decimal(self.high),
            fmt_decimal(self.low),
            fmt_decimal(self.close),
            fmt_decimal(self.volume),
            self.close_time,
            fmt_decimal(self.quote_volume),
            self.trades,
            fmt_decimal(self.taker_buy_volume),
            fmt_decimal(self.taker_buy_quote_volume),
            "0",
        ]

    def stream_payload(self, symbol: str, event_time: int, *, closed: bool) -> dict[str, Any]:
        """The ``data`` of a ``<sym>@kline_<interval>`` frame, keys in Binance's order."""
        first = self.first_trade_id if self.trades else -1
        return {
            "e": "kline",
            "E": event_time,
            "s": symbol,
            "k": {
                "t": self.open_time,
                "T": self.close_time,
                "s": symbol,
                "i": self.interval,
                "f": first,
                "L": self.last_trade_id,
                "o": fmt_decimal(self.open),
                "c": fmt_decimal(self.close),
                "h": fmt_decimal(self.high),
                "l": fmt_decimal(self.low),
                "v": fmt_decimal(self.volume),
                "n": self.trades,
                "x": closed,
                "q": fmt_decimal(self.quote_volume),
                "V": fmt_decimal(self.taker_buy_volume),
                "Q": fmt_decimal(self.taker_buy_quote_volume),
                "B": "0",
            },
        }


@attrs.frozen(eq=False)
class Bars:
    """A contiguous run of bars of one symbol and timeframe (see the module's array contract)."""

    data: I64

    @classmethod
    def empty(cls) -> Bars:
        """No bars."""
        return cls(np.zeros((0, N_COLS), dtype=np.int64))

    @classmethod
    def concat(cls, parts: Sequence[Bars]) -> Bars:
        """Bars of ``parts`` one after the other (the caller keeps them contiguous)."""
        if not parts:
            return cls.empty()
        if len(parts) == 1:
            return parts[0]
        return cls(np.concatenate([p.data for p in parts]))

    def __len__(self) -> int:
        return int(self.data.shape[0])

    @property
    def open_time(self) -> I64:
        """Open times (epoch ms)."""
        return self.data[:, OPEN_TIME_COL]

    def between(self, start_ms: int, end_ms: int) -> Bars:
        """The bars whose open time is in ``[start_ms, end_ms)``."""
        times = self.open_time
        lo = int(np.searchsorted(times, start_ms, side="left"))
        hi = int(np.searchsorted(times, end_ms, side="left"))
        return Bars(self.data[lo:hi])

    def to_klines(self) -> Klines:
        """These bars as the kernels' float :class:`~kernels.klines_csv.Klines` (backtests of the
        candles the exchange produced)."""
        rows = self.data
        out = np.empty((len(rows), N_BAR_FIELDS))
        prices = (OPEN_COL, HIGH_COL, LOW_COL, CLOSE_COL, VOLUME_COL, QUOTE_VOLUME_COL)
        for i, col in enumerate(prices):
            out[:, i] = rows[:, col] / SCALE
        out[:, 6] = rows[:, TRADES_COL]
        out[:, 7] = rows[:, TAKER_BASE_COL] / SCALE
        out[:, OPEN_TIME] = rows[:, OPEN_TIME_COL]
        return Klines(rows[:, OPEN_TIME_COL].copy(), out)

    def klines(self, interval: str) -> list[ExactKline]:
        """One :class:`ExactKline` per row."""
        return [ExactKline.from_row(interval, row) for row in self.data]


def group_keys(open_times: I64, interval: str) -> I64:
    """Open time of the ``interval`` bar holding each of ``open_times`` (a vectorised bar_open)."""
    length = timeframe_ms(interval)
    anchor = bar_open(interval, 0)
    return (open_times - anchor) // length * length + anchor


def merge_rows(data: I64) -> I64:
    """One bar from a contiguous block of rows: first open, max high, min low, last close, sums."""
    out = np.empty(N_COLS, dtype=np.int64)
    out[OPEN_TIME_COL] = data[0, OPEN_TIME_COL]
    out[OPEN_COL] = data[0, OPEN_COL]
    out[HIGH_COL] = data[:, HIGH_COL].max()
    out[LOW_COL] = data[:, LOW_COL].min()
    out[CLOSE_COL] = data[-1, CLOSE_COL]
    for col in SUM_COLS:
        out[col] = data[:, col].sum()
    out[FIRST_TRADE_COL] = data[0, FIRST_TRADE_COL]
    return out


def aggregate(bars: Bars, interval: str, *, complete_only: bool = True, base_ms: int) -> Bars:
    """Bars of ``interval`` from finer contiguous ``bars`` of length ``base_ms``, as Binance does.

    With ``complete_only`` (the default) groups missing any of their base bars (at either end of
    the input) are left out; otherwise every touched group is returned.
    """
    if len(bars) == 0:
        return bars
    keys = group_keys(bars.open_time, interval)
    if timeframe_ms(interval) == base_ms:
        return bars
    starts = np.flatnonzero(np.diff(keys, prepend=keys[0] - 1))
    counts = np.diff(np.append(starts, len(keys)))
    data = bars.data
    out = np.empty((len(starts), N_COLS), dtype=np.int64)
    out[:, OPEN_TIME_COL] = keys[starts]
    out[:, OPEN_COL] = data[starts, OPEN_COL]
    out[:, HIGH_COL] = np.maximum.reduceat(data[:, HIGH_COL], starts)
    out[:, LOW_COL] = np.minimum.reduceat(data[:, LOW_COL], starts)
    out[:, CLOSE_COL] = data[starts + counts - 1, CLOSE_COL]
    for col in SUM_COLS:
        out[:, col] = np.add.reduceat(data[:, col], starts)
    out[:, FIRST_TRADE_COL] = data[starts, FIRST_TRADE_COL]
    if complete_only:
        per_group = timeframe_ms(interval) // base_ms
        out = out[counts == per_group]
    return Bars(out)


def partial_row(row: I64, elapsed_ms: int, length_ms: int) -> I64:
    """The state of one base bar ``elapsed_ms`` into its ``length_ms``, ending in the bar itself.

    The close moves linearly from open to close (floored to a multiple of the bar's price grid,
    which keeps it inside ``[low, high]``), high/low are the extremes seen so far, and the summed
    columns grow in proportion. At ``elapsed_ms == length_ms`` the result is ``row``.
    """
    if elapsed_ms >= length_ms:
        return row.copy()
    out = row.copy()
    o, c = int(row[OPEN_COL]), int(row[CLOSE_COL])
    tick = _grid(o, c)
    mid = o + (c - o) * elapsed_ms // length_ms
    mid = mid // tick * tick if c >= o else -((-mid) // tick) * tick
    out[CLOSE_COL] = mid
    out[HIGH_COL] = max(o, mid)
    out[LOW_COL] = min(o, mid)
    for col in SUM_COLS:
        out[col] = int(row[col]) * elapsed_ms // length_ms
    return out


def _grid(a: int, b: int) -> int:
    """Largest power of ten dividing both prices (their common tick), at most ``SCALE``."""
    tick = SCALE
    while tick > 1 and (a % tick or b % tick):
        tick //= 10
    return tick


def forming_row(closed: I64, current: I64 | None, elapsed_ms: int, base_ms: int) -> I64 | None:
    """State of a forming bar: its closed base rows, plus ``current`` base row ``elapsed_ms`` in.

    Returns None when nothing has happened yet (no closed rows and ``current`` is None).
    """
    parts = [closed] if len(closed) else []
    if current is not None:
        parts.append(partial_row(current, elapsed_ms, base_ms)[None, :])
    if not parts:
        return None
    return merge_rows(np.concatenate(parts) if len(parts) > 1 else parts[0])
