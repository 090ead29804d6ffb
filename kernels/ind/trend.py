"""Trend and range: true range, directional movement (+DI, -DI, ADX), Supertrend.

See :mod:`kernels.ind` for the array contract.
"""

from __future__ import annotations

import math

from numba import njit

from kernels import ops
from kernels.ops import OpSpec, Params


@njit(cache=True, nogil=True)
def trange_nb(row, st, c, inp, roff, rdep, p):
    """True range of (high, low, close); reference TA-Lib TRANGE. TODO."""
    return math.nan


@njit(cache=True, nogil=True)
def plus_di_nb(row, st, c, inp, roff, rdep, p):
    """+DI of (high, low, close); reference TA-Lib PLUS_DI. TODO."""
    return math.nan


@njit(cache=True, nogil=True)
def minus_di_nb(row, st, c, inp, roff, rdep, p):
    """-DI of (high, low, close); reference TA-Lib MINUS_DI. TODO."""
    return math.nan


@njit(cache=True, nogil=True)
def adx_nb(row, st, c, inp, roff, rdep, p):
    """ADX of (high, low, close); reference TA-Lib ADX. TODO."""
    return math.nan


@njit(cache=True, nogil=True)
def supertrend_nb(row, st, c, inp, roff, rdep, p):
    """Supertrend of (hl2, close, atr); reference TradingView ta.supertrend. TODO."""
    return math.nan


def _n(p: Params) -> int:
    return int(p[0])


SPECS: dict[int, OpSpec] = {
    # Placeholders: replaced by their real specs with their kernels.
    ops.TRANGE: OpSpec(
        "trange", 3, lambda _p: 1, lambda _p: (1, 1, 2), lambda _p: 1, "TA-Lib TRANGE"
    ),
    ops.PLUS_DI: OpSpec(
        "plus_di", 3, lambda _p: 8, lambda _p: (2, 2, 2), lambda p: 6 * _n(p), "TA-Lib PLUS_DI"
    ),
    ops.MINUS_DI: OpSpec(
        "minus_di", 3, lambda _p: 8, lambda _p: (2, 2, 2), lambda p: 6 * _n(p), "TA-Lib MINUS_DI"
    ),
    ops.ADX: OpSpec(
        "adx", 3, lambda _p: 10, lambda _p: (2, 2, 2), lambda p: 7 * _n(p), "TA-Lib ADX"
    ),
    ops.SUPERTREND: OpSpec(
        "supertrend",
        3,
        lambda _p: 4,
        lambda _p: (2, 2, 1),
        lambda _p: 1,
        "TradingView ta.supertrend",
    ),
}
