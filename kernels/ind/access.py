"""Helpers of the kernels that read their inputs' rings (see :mod:`kernels.ind` for the layout)."""

from __future__ import annotations

from numba import uint64

from kernels.jit import inlined_loops


@inlined_loops
def paired(items, w):
    """Whether work items ``w`` and ``w + 1`` step the same bars (two symbols of a column
    batch, :data:`kernels.interp.LANES`): a kernel whose bars form a chain of dependent
    operations then steps both side by side, one bar of each in turn, so that the CPU
    overlaps the two chains; each symbol's arithmetic is the same as alone."""
    return (
        w + 1 < items.shape[0] and items[w, 1] == items[w + 1, 1] and items[w, 2] == items[w + 1, 2]
    )


@inlined_loops
def unsigned(i):
    """An index known not to be negative, as unsigned: numba then skips its negative-index
    wraparound (two instructions a read), and LLVM vectorizes runs of them."""
    return uint64(i)
