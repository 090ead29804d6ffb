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
