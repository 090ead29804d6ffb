"""Reading a node's output ring (see :mod:`kernels.ind` for the layout).

Ring depths are powers of two, so the slot of bar ``c`` is ``c & (depth - 1)``: a 64-bit
modulo costs tens of cycles, several per node step, and dominated the interpreter's time.
"""

from __future__ import annotations

from numba import njit


@njit(cache=True, nogil=True, inline="always")
def cur(row, roff, rdep, i, c):
    """Output of node ``i`` at bar ``c`` (already computed this step)."""
    return row[roff[i] + (c & (rdep[i] - 1))]


@njit(cache=True, nogil=True, inline="always")
def ago(row, roff, rdep, i, c, k):
    """Output of node ``i`` ``k`` bars before bar ``c``; the caller guarantees ``k <= c``
    and ``k < rdep[i]``."""
    return row[roff[i] + ((c - k) & (rdep[i] - 1))]
