"""The reference workload's 20 filters as a Python user writes them with TA-Lib: one function
per trader, called per symbol on the bars held (5m arrays ``m``, 1h arrays ``h``), a boolean per
5m bar. Imports only numpy and TA-Lib, so a script timing them pays nothing of Vyx's."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import talib

Arrays = dict[str, np.ndarray]


def _prev(x: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    out[0] = np.nan
    out[1:] = x[:-1]
    return out


def _up(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return (a > b) & (_prev(a) <= _prev(b))


def _down(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return (a < b) & (_prev(a) >= _prev(b))


def _on(h: Arrays, m: Arrays, x: np.ndarray) -> np.ndarray:
    """1h values as seen at each 5m bar: the last hour closed by the 5m bar's close."""
    idx = m["hidx"]
    return np.where(idx >= 0, x[np.maximum(idx, 0)], np.nan)


def _hlc(m: Arrays) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return m["high"], m["low"], m["close"]


# The screen at close reads the last element.
TALIB: list[Callable[[Arrays, Arrays], np.ndarray]] = [
    lambda m, h: talib.RSI(m["close"], 14) < 30,
    lambda m, h: talib.RSI(m["close"], 14) > 70,
    lambda m, h: (m["close"] > talib.EMA(m["close"], 50)) & (talib.RSI(m["close"], 14) < 40),
    lambda m, h: _up(talib.EMA(m["close"], 9), talib.EMA(m["close"], 21)),
    lambda m, h: _down(talib.EMA(m["close"], 9), talib.EMA(m["close"], 21)),
    lambda m, h: (lambda r: (r[2] > 0) & (r[0] < 0))(talib.MACD(m["close"], 12, 26, 9)),
    lambda m, h: m["close"] < talib.BBANDS(m["close"], 20, 2, 2)[2],
    lambda m, h: (
        (m["close"] > talib.BBANDS(m["close"], 20, 2, 2)[0])
        & (m["volume"] > 2 * talib.SMA(m["volume"], 20))
    ),
    lambda m, h: m["volume"] > 3 * talib.SMA(m["volume"], 20),
    lambda m, h: talib.NATR(*_hlc(m), 14) > 0.5,
    lambda m, h: (
        (talib.ADX(*_hlc(m), 14) > 25)
        & (talib.PLUS_DI(*_hlc(m), 14) > talib.MINUS_DI(*_hlc(m), 14))
    ),
    lambda m, h: talib.STOCH(*_hlc(m), 14, 3, 0, 3, 0)[0] < 20,
    lambda m, h: talib.CCI(*_hlc(m), 20) < -100,
    lambda m, h: talib.MFI(*_hlc(m), m["volume"], 14) < 20,
    lambda m, h: talib.WILLR(*_hlc(m), 14) < -80,
    lambda m, h: m["close"] > _prev(talib.MAX(m["high"], 20)),
    lambda m, h: m["close"] < _prev(talib.MIN(m["low"], 20)),
    lambda m, h: (
        (_on(h, m, h["close"]) > _on(h, m, talib.EMA(h["close"], 50)))
        & (talib.RSI(m["close"], 14) < 35)
    ),
    lambda m, h: (
        (_on(h, m, talib.RSI(h["close"], 14)) > 50) & _up(m["close"], talib.SMA(m["close"], 20))
    ),
    lambda m, h: (talib.ROC(m["close"], 10) > 2) & (m["close"] > talib.SMA(m["close"], 200)),
]
