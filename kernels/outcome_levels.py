"""The ATR of many signals in one call: the live outcomes' batch form of
:func:`kernels.outcomes.atr_levels` (a close's signals get their levels at once, not one numba
call each).

The arithmetic is :func:`kernels.outcomes.mean_true_range_nb`'s own (the same inlined helper),
so every ATR has the same bits as one computed alone.
"""

from __future__ import annotations

from kernels.jit import entry
from kernels.outcomes import _mean_true_range


@entry
def mean_true_ranges_nb(high, low, close, ends, period, out):
    """``out[j]``: the mean of the ``period`` true ranges of bars ``ends[j] - period + 1 ..
    ends[j]`` of the series (NaN where ``ends[j]`` has fewer bars before it, or is outside)."""
    for j in range(ends.shape[0]):
        out[j] = _mean_true_range(high, low, close, ends[j], period)
