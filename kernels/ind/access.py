"""Reading a node's output ring (see :mod:`kernels.ind` for the layout)."""

from __future__ import annotations

from numba import njit


@njit(cache=True, nogil=True, inline="always")
def cur(row, roff, rdep, i, c):
    """Output of node ``i`` at bar ``c`` (already computed this step)."""
    return row[roff[i] + c % rdep[i]]


@njit(cache=True, nogil=True, inline="always")
def ago(row, roff, rdep, i, c, k):
    """Output of node ``i`` ``k`` bars before bar ``c``; the caller guarantees ``k <= c``
    and ``k < rdep[i]``."""
    return row[roff[i] + (c - k) % rdep[i]]
