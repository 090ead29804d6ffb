"""Volume indicators: OBV and the UTC-session VWAP.

See :mod:`kernels.ind` for the array contract.
"""

from __future__ import annotations

import math

from numba import njit

from kernels import ops
from kernels.ops import OpSpec


@njit(cache=True, nogil=True)
def obv_nb(row, st, c, inp, roff, rdep, p):
    """On-balance volume of (close, volume); reference TA-Lib OBV. TODO."""
    return math.nan


@njit(cache=True, nogil=True)
def vwap_session_nb(row, st, c, inp, roff, rdep, p):
    """VWAP of (typical price, volume, open time) anchored at 00:00 UTC; reference
    TradingView ta.vwap with a daily anchor. TODO."""
    return math.nan


SPECS: dict[int, OpSpec] = {
    # Placeholders: replaced by their real specs with their kernels.
    ops.OBV: OpSpec("obv", 2, lambda _p: 3, lambda _p: (1, 1), lambda _p: 0, "TA-Lib OBV"),
    ops.VWAP_SESSION: OpSpec(
        "vwap", 3, lambda _p: 3, lambda _p: (1, 1, 1), lambda _p: 0, "TradingView ta.vwap (UTC day)"
    ),
}
