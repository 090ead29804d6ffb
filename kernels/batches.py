"""A batch's work items, and the copies of bars and constants into the rings, for the
interpreter (:func:`kernels.interp.run_nb`, whose module docstring says what a batch is).

Compiled into the interpreter (this file is one of :data:`kernels.jit.SOURCES`).
"""

from __future__ import annotations

import math

from numba import njit

from kernels.firing import unsigned
from kernels.ops import OPEN_TIME

#: Columns of ``work``: the row of ``mem`` (or ``scratch``) stepped, its first bar, its end
#: bar (the families read these three), the symbol, its bar count, then the steps (indices
#: into ``bars``) of its bars.
ROW, FIRST, END, SYM, COUNT, STEPS = range(6)


@njit(cache=True, nogil=True, inline="always")
def copy_row(src, dst):
    """``dst[:] = src`` (a plain loop: a slice assignment may need a temporary array, and
    the loops below run without numba's runtime)."""
    for i in range(src.shape[0]):
        dst[i] = src[i]


@njit(cache=True, nogil=True, inline="always")
def copy_in(src, f, rows, items, oj, mj):
    """Field ``f`` of ``src`` (the bars, or other timeframes' values) into a node's ring."""
    for w in range(items.shape[0]):
        row = rows[items[w, ROW]]
        s = items[w, SYM]
        c0 = items[w, FIRST]
        nb = items[w, END] - c0
        t0 = items[w, STEPS]
        at = oj + (c0 & mj)
        if items[w, STEPS + nb - 1] - t0 == nb - 1 and at + nb - 1 == oj + ((c0 + nb - 1) & mj):
            # Consecutive steps into a ring in place (the usual block): no index read per
            # bar, no wraparound (unsigned indices).
            for q in range(nb):
                row[unsigned(at + q)] = src[unsigned(s), unsigned(t0 + q), unsigned(f)]
            continue
        for q in range(nb):
            row[oj + ((c0 + q) & mj)] = src[s, items[w, STEPS + q], f]


@njit(cache=True, nogil=True, inline="always")
def batch(bars, work, a, b, t0, block):
    """The next bars to step, as items in ``work`` (their counts advanced): with ``block``
    1 the bar at step ``t0`` of every symbol ``a..b-1`` that has one; else the bars of steps
    ``t0`` up to ``t0 + block`` of every symbol ``a..b-1`` that has some. Returns the items
    and the step after them."""
    k = 0
    if block == 1:
        for r in range(b - a):
            if not math.isnan(bars[a + r, t0, OPEN_TIME]):
                c = work[r, COUNT]
                work[k, ROW], work[k, FIRST], work[k, END] = r, c, c + 1
                work[k, SYM], work[k, STEPS] = a + r, t0
                work[r, COUNT] = c + 1
                k += 1
        return k, t0 + 1
    t1 = min(bars.shape[1], t0 + block)
    for r in range(b - a):
        # Item k is written over rows <= r: only row r's count is read after it.
        c0 = work[r, COUNT]
        nb = 0
        for t in range(t0, t1):
            work[unsigned(k), unsigned(STEPS + nb)] = t
            nb += not math.isnan(bars[unsigned(a + r), unsigned(t), OPEN_TIME])
        if nb > 0:
            work[k, ROW], work[k, FIRST], work[k, END], work[k, SYM] = r, c0, c0 + nb, a + r
            work[r, COUNT] = c0 + nb
            k += 1
    return k, t1


@njit(cache=True, nogil=True, inline="always")
def fill(v, rows, items, oj, mj, block):
    """A constant's ring at the bars of ``items`` (column mode: full from the start)."""
    for w in range(items.shape[0] if block == 1 else 0):
        row = rows[items[w, ROW]]
        for c in range(items[w, FIRST], items[w, END]):
            row[oj + (c & mj)] = v
