"""Chart data for the browser: a symbol's candles around a signal, and the trader's indicators.

One source of truth: the candles are the daemon's rings, and each indicator drawn is an operand
of one of the trader's clauses (``rsi(14)``, ``ema(close, 50)``, ``2 * sma(volume, 20)``)
compiled and stepped by the same kernels that fired (:func:`kernels.backtest.evaluate`, from
the first bar held, so it is warmed up as the live screen is; NaN — ``null`` — while warming up).

Each series goes to a pane: ``price`` (over the candles) when it lives on the price's scale,
else the clause's own pane below (RSI, MACD, volume), together with the clause's constant
levels (``30`` in ``rsi(14) < 30``). :func:`chart_bars` is CPU work: run it in a worker thread.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np

from kernels.backtest import evaluate
from kernels.klines_csv import Klines
from kernels.lang import CompileError, ast, check
from kernels.ops import CLOSE, HIGH, LOW, OPEN, VOLUME
from kernels.program import Program, TraderDef

#: Candles sent by default, and at most.
CHART_BARS = 150
MAX_CHART_BARS = 500
#: Series drawn at most (operands of every clause together).
MAX_SERIES = 12
#: Series of the bar itself: the candles already show them.
_PRICE_FIELDS = frozenset({"open", "high", "low", "close", "price", "hl2", "hlc3", "ohlc4"})
#: Functions whose values are prices (of price inputs).
_PRICE_SCALE = frozenset(
    {
        *("sma", "ema", "wma", "dema", "tema", "rma", "wilder", "hma", "vwma", "kama", "trima"),
        *("t3", "bbands", "keltner", "donchian", "vwap", "vwap_bands", "highest", "lowest"),
        *("midpoint", "midprice", "sar"),
    }
)
_NOT_PRICE = frozenset({"volume", "quote_volume", "trades", "taker_buy_volume", "obv"})
_NAME = re.compile(r"[a-z_][a-z_0-9]*")


@attrs.frozen
class ChartRequest:
    """What to chart: ``symbol`` on ``timeframe`` with ``trader``'s indicators, ``bars``
    candles around ``time`` (a bar's open time, epoch ms; None: the newest bars)."""

    symbol: str
    trader: TraderDef | None
    timeframe: str
    time: int | None = None
    bars: int = CHART_BARS


def _levels(label: str, timeframe: str) -> list[float]:
    """The constants a clause compares its operands with (``rsi(14) < 30`` -> ``[30.0]``,
    ``crosses_above(macd(12, 26, 9).hist, 0)`` -> ``[0.0]``), read from its syntax tree; not
    inside ``on()`` (another timeframe's values)."""
    try:
        expr = check(label, timeframe=timeframe).expr
    except (CompileError, ValueError):
        return []
    found: list[float] = []
    pending: list[ast.Expr] = [expr]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Logic):
            pending.extend(node.operands)
        elif isinstance(node, ast.Not):
            pending.append(node.operand)
        elif isinstance(node, ast.Compare):
            found += [o.value for o in node.operands if isinstance(o, ast.Const)]
        elif isinstance(node, ast.Call) and node.name in ("crosses_above", "crosses_below"):
            found += [i.value for i in node.inputs if isinstance(i, ast.Const)]
    return sorted(set(found))


def _on_price(label: str, values: np.ndarray, close: np.ndarray) -> bool:
    """A series drawn over the candles: an average, band or extreme of the price (by name,
    not of volume) that stays near the close (``close - ema(20)`` does not)."""
    names = set(_NAME.findall(label))
    if names & _NOT_PRICE or not names & (_PRICE_SCALE | _PRICE_FIELDS):
        return False
    ok = np.isfinite(values) & (close > 0)
    if not ok.any():
        return False
    ratio = np.median(values[ok] / close[ok])
    return bool(0.7 <= ratio <= 1.4)


def _clean(values: np.ndarray) -> list[float | None]:
    return [v if math.isfinite(v) else None for v in values.tolist()]


def _window(times: np.ndarray, at: int | None, bars: int) -> tuple[int, int]:
    """Indices ``[start, stop)`` of ``bars`` candles with ``at`` about three quarters in."""
    n = len(times)
    if at is None:
        return max(0, n - bars), n
    i = int(np.searchsorted(times, at))
    start = max(0, min(i - (bars * 3) // 4, n - bars))
    return start, min(n, start + bars)


def _operand_series(
    trader: TraderDef, symbol: str, data: Mapping[str, Mapping[str, Klines]]
) -> tuple[list[tuple[int, str, np.ndarray]], list[tuple[int, str]], str | None]:
    """Per clause: its operands' values at every bar held (``(clause, label, values)``), its
    labels; or why the trader has no indicators to draw."""
    try:
        plan = Program([trader]).traders[trader.id]
    except CompileError as exc:
        return [], [], f"the filter does not compile: {exc.diagnostics[0].message}"
    wanted: list[tuple[int, str, Program]] = []
    for c, clause in enumerate(plan.clauses):
        for operand in clause.operands:
            if operand.label in _PRICE_FIELDS or len(wanted) >= MAX_SERIES:
                continue
            program = Program()
            try:
                program.add(TraderDef("op", operand.label, trader.timeframe), require_bool=False)
            except CompileError:
                continue  # an operand read on another timeframe: shown with the signal only
            wanted.append((c, operand.label, program))
    labels = [(c, clause.label) for c, clause in enumerate(plan.clauses)]
    series = []
    for c, label, program in wanted:
        _, values = evaluate(program, "op", data)[symbol]
        series.append((c, label, values))
    return series, labels, None


def chart_bars(request: ChartRequest, data: Mapping[str, Mapping[str, Klines]]) -> dict[str, Any]:
    """``chart_data_result``: ``{symbol, timeframe, candles: [[openTime, open, high, low,
    close, volume]], series: [{label, clause, pane, values}], levels: [{clause, pane, value}],
    panes: [...], marker: {time, price} | null, note}``; every series has one value per candle
    (null while warming up). ``data`` holds this one symbol's bars (timeframe -> symbol ->
    klines)."""
    own = data.get(request.timeframe, {}).get(request.symbol)
    empty: dict[str, Any] = {
        "symbol": request.symbol,
        "timeframe": request.timeframe,
        "candles": [],
        "series": [],
        "levels": [],
        "panes": ["price"],
        "marker": None,
    }
    if own is None or len(own) == 0:
        return empty | {"note": f"no {request.timeframe} bars of {request.symbol} held"}
    bars = max(10, min(request.bars, MAX_CHART_BARS))
    start, stop = _window(own.open_time, request.time, bars)
    b = own.bars[start:stop]
    times = own.open_time[start:stop]
    note = None
    series_out: list[dict[str, Any]] = []
    levels: list[dict[str, Any]] = []
    panes = ["price"]
    if request.trader is not None:
        found, labels, note = _operand_series(request.trader, request.symbol, data)
        close = own.bars[:, CLOSE]
        pane_of: dict[int, str] = {}
        for c, label, values in found:
            if _on_price(label, values, close):
                pane = "price"
            else:
                pane = pane_of.setdefault(c, labels[c][1])
                if pane not in panes:
                    panes.append(pane)
            series_out.append(
                {
                    "label": label,
                    "clause": labels[c][1],
                    "pane": pane,
                    "values": _clean(values[start:stop]),
                }
            )
        for c, clause in labels:
            for value in _levels(clause, request.timeframe):
                pane = pane_of.get(c, "price")
                levels.append({"clause": clause, "pane": pane, "value": value})
    marker = None
    if request.time is not None:
        i = int(np.searchsorted(times, request.time))
        if i < len(times) and times[i] == request.time:
            marker = {"time": int(request.time), "price": float(b[i, CLOSE])}
        elif note is None:
            note = "the signal's bar is not among the bars held (it is older)"
    candles = np.column_stack(
        [times.astype(np.float64), b[:, OPEN], b[:, HIGH], b[:, LOW], b[:, CLOSE], b[:, VOLUME]]
    )
    return empty | {
        "candles": [[int(r[0]), *r[1:]] for r in candles.tolist()],
        "series": series_out,
        "levels": levels,
        "panes": panes,
        "marker": marker,
        "note": note,
    }


def timeframes_of(trader: TraderDef | None, timeframe: str) -> tuple[str, ...]:
    """The timeframes whose bars a chart reads (the trader's ``on()`` ones too)."""
    if trader is None:
        return (timeframe,)
    try:
        program = Program([trader])
    except CompileError:
        return (timeframe,)
    return tuple(sorted(set(program.timeframes) | {timeframe}))
