"""A close's signals' levels, at once (:meth:`LiveOutcomes.follow_all
<vyx.outcomes.live.LiveOutcomes.follow_all>`): what following them one by one computes, with
one kernel call for all their ATRs instead of one each."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from kernels.graph import F64
from kernels.ops import CLOSE, HIGH, LOW
from kernels.outcome_levels import mean_true_ranges_nb
from kernels.outcomes import (
    ATR_PERIOD,
    STOP_ATR,
    TARGET_ATR,
    direction_sign,
)
from kernels.ring import RingBuffer
from vyx.signal import Signal


def _atr_window(
    rings: Mapping[str, RingBuffer], interval: str, symbol: str, open_time: int
) -> tuple[F64 | None, int]:
    """The ring's bars ``ATR_PERIOD`` before the signal's and its own (a view,
    ``values[N_FIELDS, ATR_PERIOD + 1]``; None when the ring does not hold them), and the
    open time of the symbol's newest bar in the ring (-1: none)."""
    ring = rings.get(interval)
    if ring is None or symbol not in ring:
        return None, -1
    times, values = ring.window(ring.slot(symbol))
    n = len(times)
    if n == 0:
        return None, -1
    newest = int(times[-1])
    t = n - 1 if newest == open_time else int(np.searchsorted(times, open_time))
    if t >= n or times[t] != open_time or t < ATR_PERIOD:
        return None, newest
    return values[:, t - ATR_PERIOD : t + 1], newest


def atr_levels_all(
    rings: Mapping[str, RingBuffer], signals: Sequence[tuple[Signal, str]]
) -> tuple[F64, F64, list[str], list[int]]:
    """Per (signal, direction): the stop and target ``LiveOutcomes.follow`` gives it (NaN:
    none), their source, and the open time of its symbol's newest bar in the ring (-1: none).
    The ATRs of all in one kernel call (:func:`~kernels.outcome_levels.mean_true_ranges_nb`,
    the same bits as one at a time): the bars of each (timeframe, symbol, bar) read from the
    ring once and copied into one array (15 bars each: bounded by the signals given), the
    levels' arithmetic (:func:`~kernels.outcomes.levels_from_atr`) done on arrays, in its
    order of operations."""
    where: dict[tuple[str, str, int], tuple[int, int]] = {}
    windows: list[F64] = []
    at: list[int] = []
    newest: list[int] = []
    for signal, _ in signals:
        key = (signal.interval, signal.symbol, signal.bar_open_time)
        found = where.get(key)
        if found is None:
            bars, last = _atr_window(rings, *key)
            found = where[key] = (-1 if bars is None else len(windows), last)
            if bars is not None:
                windows.append(bars)
        at.append(found[0])
        newest.append(found[1])
    n = len(signals)
    if not windows:
        nan = np.full(n, np.nan)
        return nan, nan.copy(), ["none"] * n, newest
    stacked = np.stack(windows)
    atrs = np.empty(len(windows))
    mean_true_ranges_nb(
        np.ascontiguousarray(stacked[:, HIGH]).ravel(),
        np.ascontiguousarray(stacked[:, LOW]).ravel(),
        np.ascontiguousarray(stacked[:, CLOSE]).ravel(),
        np.arange(len(windows), dtype=np.int64) * (ATR_PERIOD + 1) + ATR_PERIOD,
        ATR_PERIOD,
        atrs,
    )
    k = np.asarray(at, dtype=np.int64)
    held = k >= 0
    atr = np.where(held, atrs[k], np.nan)
    entry = np.where(held, stacked[k, CLOSE, ATR_PERIOD], np.nan)
    d = np.asarray([direction_sign(direction) for _, direction in signals])
    valid = np.isfinite(atr) & (atr > 0)
    stops = np.where(valid, entry - d * STOP_ATR * atr, np.nan)
    targets = np.where(valid, entry + d * TARGET_ATR * atr, np.nan)
    sources = np.where(valid, "atr", "none").tolist()
    return stops, targets, sources, newest
