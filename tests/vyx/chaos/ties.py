"""Bars where the chaos traders' decision is a tie, and so depends on where history started.

SMA and SUM are TA-Lib's running totals (bit-exact parity is a kernel contract): their last
bits drift with the bar the total started from. When a comparison's operands are equal in exact
arithmetic (four equal closes and their average: common with low-priced symbols whose closes sit
on a few ticks), the drift decides it, so a daemon whose ring starts at another bar than the
backtest's (every restart, every history reload) may decide such a bar the other way. These bars
are found here from the candles alone, independently of any start: a comparison whose operands
differ by less than :data:`REL` is a tie (real differences are at least a tick, ~1e-6).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from kernels.klines_csv import Klines
from kernels.timeframes import timeframe_ms
from tests.vyx.chaos.harness import TF, TRADERS
from vyx.signal import signal_id

REL = 1e-9
F64 = npt.NDArray[np.float64]


def _sma(x: F64, n: int) -> F64:
    out = np.full(len(x), np.nan)
    if len(x) >= n:
        out[n - 1 :] = np.convolve(x, np.ones(n), "valid") / n
    return out


def _ema(x: F64, n: int) -> F64:
    out = np.full(len(x), np.nan)
    if len(x) < n:
        return out
    prev = x[:n].mean()
    out[n - 1] = prev
    for i in range(n, len(x)):
        prev = (x[i] - prev) * (2.0 / (n + 1)) + prev
        out[i] = prev
    return out


def _tie(a: F64, b: F64) -> npt.NDArray[np.bool_]:
    with np.errstate(invalid="ignore"):
        return np.abs(a - b) <= REL * np.maximum(np.abs(a), np.abs(b))


def _with_previous(tie: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """A cross at bar i reads bar i - 1 too."""
    out = tie.copy()
    out[1:] |= tie[:-1]
    return out


def tie_signal_ids(data: dict[str, dict[str, Klines]]) -> set[str]:
    """Ids of the signals (fired or not) whose bar is a tie for their trader (see the module
    docstring); ``data`` is timeframe -> symbol -> klines (5m and 15m)."""
    cross, volume, mtf = TRADERS
    assert cross.filter == "crosses_above(close, sma(close, 5))"
    assert volume.filter == "close > open and volume > 1.2 * sma(volume, 10)"
    assert mtf.filter == 'crosses_above(close, ema(close, 8)) and on("15m", close > sma(close, 4))'
    out: set[str] = set()
    step, step15 = timeframe_ms(TF), timeframe_ms("15m")
    for symbol, k in data[TF].items():
        close, vol, times = k.field("close"), k.field("volume"), k.open_time
        k15 = data["15m"][symbol]
        close15 = k15.field("close")
        tie15 = _tie(close15, _sma(close15, 4))
        # The 15m bar a 5m bar reads: the newest closed by the 5m bar's close.
        opens15 = (times + step) // step15 * step15 - step15
        at = np.searchsorted(k15.open_time, opens15)
        ok = (at < len(k15)) & (k15.open_time[np.minimum(at, len(k15) - 1)] == opens15)
        mtf_tie = _with_previous(_tie(close, _ema(close, 8)))
        mtf_tie[ok] |= tie15[at[ok]]
        ties = {
            cross.id: _with_previous(_tie(close, _sma(close, 5))),
            volume.id: _tie(vol, 1.2 * _sma(vol, 10)),
            mtf.id: mtf_tie,
        }
        for trader_id, tie in ties.items():
            out |= {signal_id(trader_id, symbol, TF, int(t)) for t in times[tie]}
    return out
