"""Running a graph over whole arrays of bars: backtests, ``vyx eval`` and the parity tests.

This is the same interpreter the live screener steps one bar at a time, run over history.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kernels.graph import F64, Graph, layout
from kernels.group import GroupState
from kernels.ops import N_BAR_FIELDS, OPEN_TIME


def make_bars(
    *,
    open: F64 | None = None,
    high: F64 | None = None,
    low: F64 | None = None,
    close: F64 | None = None,
    volume: F64 | None = None,
    quote_volume: F64 | None = None,
    trades: F64 | None = None,
    taker_buy_volume: F64 | None = None,
    open_time: F64 | None = None,
) -> F64:
    """One symbol's bars as ``float64[1, n, 9]`` from field arrays (missing fields are NaN,
    a missing open time counts 0, 1, 2, ...)."""
    fields = (open, high, low, close, volume, quote_volume, trades, taker_buy_volume)
    n = next(len(f) for f in (*fields, open_time) if f is not None)
    bars = np.full((1, n, N_BAR_FIELDS), np.nan)
    for i, f in enumerate(fields):
        if f is not None:
            bars[0, :, i] = f
    bars[0, :, OPEN_TIME] = np.arange(n) if open_time is None else open_time
    return bars


def run_graph(graph: Graph, outputs: Sequence[int], bars: F64, ext: F64 | None = None) -> F64:
    """Step a fresh state of ``graph`` through ``bars[n_sym, n_t, 9]`` from the first bar and
    return ``outputs``' values at every bar: ``float64[n_sym, n_t, len(outputs)]``."""
    state = GroupState(layout(graph), bars.shape[0], 0 if ext is None else ext.shape[2])
    nodes = np.asarray(outputs, dtype=np.int64)
    return state.run(np.ascontiguousarray(bars), ext=ext, out_nodes=nodes)
