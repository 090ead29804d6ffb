"""Oscillators: RSI, the MACD line, stochastic %K, ROC, Williams %R, CCI, MFI.

See :mod:`kernels.ind` for the array contract.
"""

from __future__ import annotations

import math

from numba import njit

from kernels import ops
from kernels.ind.access import cur
from kernels.ops import OpSpec, Params


@njit(cache=True, nogil=True)
def rsi_nb(row, st, c, inp, roff, rdep, p):
    """Relative strength index; reference TA-Lib RSI (Wilder averages of gains and losses,
    seeded with their plain mean over the first ``n`` changes; 0 when both are 0).
    State: [valid count, previous value, average gain, average loss]."""
    n = int(p[0])
    x = cur(row, roff, rdep, inp[0], c)
    if math.isnan(x):
        row[st] = 0.0
        row[st + 1] = 0.0
        row[st + 2] = 0.0
        row[st + 3] = 0.0
        return math.nan
    m = row[st] + 1.0
    diff = x - row[st + 1]
    row[st + 1] = x
    if m == 1.0:
        row[st] = m
        return math.nan
    gain = row[st + 2]
    loss = row[st + 3]
    if m <= n + 1:
        if diff < 0:
            loss -= diff
        else:
            gain += diff
        row[st] = m
        if m < n + 1:
            row[st + 2] = gain
            row[st + 3] = loss
            return math.nan
        loss /= n
        gain /= n
    else:
        loss *= n - 1
        gain *= n - 1
        if diff < 0:
            loss -= diff
        else:
            gain += diff
        loss /= n
        gain /= n
    row[st + 2] = gain
    row[st + 3] = loss
    total = gain + loss
    if total != 0.0:
        return 100.0 * (gain / total)
    return 0.0


@njit(cache=True, nogil=True)
def macdline_nb(row, st, c, inp, roff, rdep, p):
    """MACD line (fast EMA - slow EMA); reference TA-Lib MACD (outMACD). TODO."""
    return math.nan


@njit(cache=True, nogil=True)
def stochk_nb(row, st, c, inp, roff, rdep, p):
    """Fast stochastic %K of (high, low, close); reference TA-Lib STOCHF (outFastK). TODO."""
    return math.nan


@njit(cache=True, nogil=True)
def roc_nb(row, st, c, inp, roff, rdep, p):
    """Rate of change in percent; reference TA-Lib ROC. TODO."""
    return math.nan


@njit(cache=True, nogil=True)
def willr_nb(row, st, c, inp, roff, rdep, p):
    """Williams %R of (high, low, close); reference TA-Lib WILLR. TODO."""
    return math.nan


@njit(cache=True, nogil=True)
def cci_nb(row, st, c, inp, roff, rdep, p):
    """Commodity channel index of the typical price; reference TA-Lib CCI. TODO."""
    return math.nan


@njit(cache=True, nogil=True)
def mfi_nb(row, st, c, inp, roff, rdep, p):
    """Money flow index of (typical price, volume); reference TA-Lib MFI. TODO."""
    return math.nan


def _n(p: Params) -> int:
    return int(p[0])


SPECS: dict[int, OpSpec] = {
    ops.RSI: OpSpec(
        "rsi", 1, lambda _p: 4, lambda _p: (1,), lambda p: _n(p) + 5 * _n(p), "TA-Lib RSI"
    ),
    # Placeholders below are replaced by their real specs with their kernels.
    ops.MACDLINE: OpSpec(
        "macdline", 1, lambda _p: 6, lambda p: (int(p[1]),), lambda p: 4 * int(p[1]), "TA-Lib MACD"
    ),
    ops.STOCHK: OpSpec(
        "stochk", 3, lambda _p: 1, lambda p: (_n(p), _n(p), 1), lambda p: _n(p) - 1, "TA-Lib STOCHF"
    ),
    ops.ROC: OpSpec("roc", 1, lambda _p: 1, lambda p: (_n(p) + 1,), _n, "TA-Lib ROC"),
    ops.WILLR: OpSpec(
        "willr", 3, lambda _p: 1, lambda p: (_n(p), _n(p), 1), lambda p: _n(p) - 1, "TA-Lib WILLR"
    ),
    ops.CCI: OpSpec("cci", 1, lambda _p: 1, lambda p: (_n(p),), lambda p: _n(p) - 1, "TA-Lib CCI"),
    ops.MFI: OpSpec("mfi", 2, lambda p: 3 + 2 * _n(p), lambda _p: (1, 1), _n, "TA-Lib MFI"),
}
