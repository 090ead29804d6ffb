"""Replay of recorded klines CSV files (the ``shared/data/binance/klines`` layout).

Accepted layouts, header line optional:

- 12 columns, Binance's ``/api/v3/klines`` / data.binance.vision order:
  ``open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,
  taker_buy_quote_volume,ignore``;
- 6 columns ``open_time,open,high,low,close,volume``: the quote volume is estimated as volume
  times the OHLC average, trade counts and taker volumes are 0 (none are invented beyond that).

The symbol is the file name up to the first ``-`` (``BTCUSDT-1h-2025-03.csv``); the interval is
the second dash-separated part when it names one, else the spacing of the rows. Several files
of one symbol are merged (overlapping rows must agree). Every symbol must have one interval, the
same for all files, and its rows must be contiguous.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from kernels.timeframes import TIMEFRAME_MS
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
    TAKER_BASE_COL,
    TAKER_QUOTE_COL,
    TRADES_COL,
    VOLUME_COL,
    Bars,
    parse_decimal,
)
from vyx.exchange.source import SourceError, SymbolInfo

_QUOTES = ("USDT", "USDC", "FDUSD", "BUSD", "BTC", "ETH", "BNB", "EUR", "TRY")
_INTERVAL_BY_MS = {ms: name for name, ms in TIMEFRAME_MS.items()}


def _read_rows(path: Path) -> np.ndarray:
    rows: list[list[int]] = []
    with path.open(newline="") as handle:
        for lineno, fields in enumerate(csv.reader(handle), start=1):
            if not fields or (lineno == 1 and not fields[0].strip().isdigit()):
                continue
            try:
                rows.append(_row(fields))
            except (ValueError, IndexError) as error:
                raise SourceError(f"{path}:{lineno}: {error}") from None
    if not rows:
        raise SourceError(f"{path}: no klines")
    data = np.array(rows, dtype=np.int64)
    return data[np.argsort(data[:, OPEN_TIME_COL], kind="stable")]


def _row(fields: list[str]) -> list[int]:
    out = [0] * N_COLS
    out[OPEN_TIME_COL] = int(fields[0])
    for col, i in ((OPEN_COL, 1), (HIGH_COL, 2), (LOW_COL, 3), (CLOSE_COL, 4), (VOLUME_COL, 5)):
        out[col] = parse_decimal(fields[i])
    if len(fields) >= 11:
        out[QUOTE_VOLUME_COL] = parse_decimal(fields[7])
        out[TRADES_COL] = int(float(fields[8]))
        out[TAKER_BASE_COL] = parse_decimal(fields[9])
        out[TAKER_QUOTE_COL] = parse_decimal(fields[10])
    elif len(fields) == 6:
        average = (out[OPEN_COL] + out[HIGH_COL] + out[LOW_COL] + out[CLOSE_COL]) // 4
        out[QUOTE_VOLUME_COL] = out[VOLUME_COL] * average // SCALE
    else:
        raise ValueError(f"expected 6 or 12 columns, got {len(fields)}")
    return out


def _interval_of(path: Path, data: np.ndarray) -> str:
    parts = path.stem.split("-")
    if len(parts) > 1 and parts[1] in TIMEFRAME_MS:
        return parts[1]
    if len(data) < 2:
        raise SourceError(f"{path}: cannot tell the interval of a single row")
    spacing = int(np.median(np.diff(data[:, OPEN_TIME_COL])))
    if spacing not in _INTERVAL_BY_MS:
        raise SourceError(f"{path}: rows are {spacing} ms apart, not a Binance interval")
    return _INTERVAL_BY_MS[spacing]


def _grid(values: np.ndarray) -> int:
    """Largest power of ten (in 1e-8 units, at most 1.0) dividing every value."""
    grid = SCALE
    while grid > 1 and np.any(values % grid):
        grid //= 10
    return grid


def _base_asset(symbol: str) -> tuple[str, str]:
    for quote in _QUOTES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote
    return symbol, "USDT"


class ReplaySource:
    """Candles read from CSV files; see the module docstring for the accepted layouts."""

    def __init__(self, paths: Iterable[Path | str]) -> None:
        merged: dict[str, list[np.ndarray]] = {}
        intervals: set[str] = set()
        for raw in paths:
            path = Path(raw)
            data = _read_rows(path)
            intervals.add(_interval_of(path, data))
            merged.setdefault(path.name.split("-")[0].upper(), []).append(data)
        if not merged:
            raise SourceError("no klines files given")
        if len(intervals) != 1:
            raise SourceError(f"all files must have one interval, got {sorted(intervals)}")
        self._interval = intervals.pop()
        length = TIMEFRAME_MS[self._interval]
        self._bars: dict[str, Bars] = {}
        infos = []
        for symbol, parts in sorted(merged.items()):
            data = np.concatenate(parts)
            data = data[np.argsort(data[:, OPEN_TIME_COL], kind="stable")]
            times = data[:, OPEN_TIME_COL]
            duplicate = np.flatnonzero(np.diff(times) == 0)
            if len(duplicate) and np.any(data[duplicate] != data[duplicate + 1]):
                raise SourceError(f"{symbol}: overlapping files disagree")
            data = np.delete(data, duplicate + 1, axis=0)
            gaps = np.flatnonzero(np.diff(data[:, OPEN_TIME_COL]) != length)
            if len(gaps):
                at = int(data[gaps[0], OPEN_TIME_COL])
                raise SourceError(f"{symbol}: rows not contiguous after open time {at}")
            data[:, FIRST_TRADE_COL] = 1 + np.cumsum(data[:, TRADES_COL]) - data[:, TRADES_COL]
            self._bars[symbol] = Bars(data)
            base, quote = _base_asset(symbol)
            prices = data[:, OPEN_COL : CLOSE_COL + 1].ravel()
            step = _grid(data[:, VOLUME_COL])
            infos.append(SymbolInfo(symbol, base, quote, tick=_grid(prices), step=step))
        self._infos = tuple(infos)

    @property
    def base_interval(self) -> str:
        """The files' interval."""
        return self._interval

    @property
    def symbols(self) -> Sequence[SymbolInfo]:
        """One symbol per file-name prefix, sorted."""
        return self._infos

    def span(self, symbol: str) -> tuple[int, int | None]:
        """Open times of the first and last recorded bar."""
        times = self._bars[symbol].open_time
        return int(times[0]), int(times[-1])

    def common_span(self) -> tuple[int, int]:
        """The time range every symbol has data for (first open, last open)."""
        spans = [self.span(s.symbol) for s in self._infos]
        return max(s[0] for s in spans), min(int(s[1] or 0) for s in spans)

    def base_bars(self, symbol: str, start_ms: int, end_ms: int) -> Bars:
        """Recorded bars with open time in ``[start_ms, end_ms)``."""
        return self._bars[symbol].between(start_ms, end_ms)
