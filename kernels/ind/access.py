"""Reading a node's output ring (see :mod:`kernels.ind` for the layout).

Kernels take an input's ring once per block (:func:`ring`) and read bar ``c - k`` as
``row[offset + ((c - k) & mask)]``: the offset and mask stay in registers for the whole block.

Ring depths are powers of two, so the slot of bar ``c`` is ``c & (depth - 1)``: a 64-bit
modulo costs tens of cycles, several per node step, and dominated the interpreter's time.
"""

from __future__ import annotations

from kernels.jit import inlined_loops


@inlined_loops
def ring(roff, rdep, i):
    """``(offset, mask)`` of node ``i``'s ring: its value at bar ``c`` is at
    ``row[offset + (c & mask)]``."""
    return roff[i], rdep[i] - 1


@inlined_loops
def paired(items, w):
    """Whether work items ``w`` and ``w + 1`` step the same bars (two symbols of a column
    batch, :data:`kernels.interp.LANES`): a kernel whose bars form a chain of dependent
    operations then steps both side by side, one bar of each in turn, so that the CPU
    overlaps the two chains; each symbol's arithmetic is the same as alone."""
    return (
        w + 1 < items.shape[0] and items[w, 1] == items[w + 1, 1] and items[w, 2] == items[w + 1, 2]
    )
