"""The backtest's firing rules, applied inside the interpreter (:func:`kernels.interp.run_nb`).

In column mode a backtest applies the live firing rules (:func:`kernels.edges.fires`) right
after each block of bars is stepped, while the block's values are still in the rings: trader
``i`` (row ``i`` of ``fire_spec``, see :data:`FIRE_COLUMNS`) fires on a symbol's bar when its
root node is 1.0 there and was not on the symbol's previous bar, the symbol has stepped at
least ``need`` bars, the step is at least ``ready[s, i]`` (from there on the symbol has enough
history on the other timeframes the trader reads; ``ready`` with no trader column: not
tested) and ``cooldown`` bars have passed since its last signal on that symbol. Each fire is a
row (symbol, step, trader) of ``fired`` with the values of the trader's explanation nodes at
that bar, then the bar's close, in the same row of ``values``; rows past ``len(fired)`` are
counted, not written.

Compiled into the interpreter (this file is one of :data:`kernels.jit.SOURCES`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, uint64
from numba.cpython.unsafe.numbers import trailing_zeros

from kernels import ops

_CLOSE = ops.CLOSE
#: The number of trailing zero bits of an int64 (LLVM's ``cttz``; numba's, untyped).
_trailing_zeros: Any = trailing_zeros

#: Columns of a ``fire_spec`` row: the trader's root node, the bars it needs, its cooldown in
#: bars, then its state on the symbol being stepped (whether its root held on the previous
#: bar, the bar of its last signal or -1; :func:`reset` per symbol), then the nodes whose
#: values a fire takes (one per column of ``values`` but the last).
FIRE_ROOT, FIRE_NEED, FIRE_COOLDOWN, FIRE_MATCHED, FIRE_LAST, FIRE_NODES = range(6)
FIRE_COLUMNS = FIRE_NODES

#: The firing arguments of :func:`kernels.interp.run_nb` when it takes no fires (the live
#: screener, ``vyx eval``): no trader, and empty ``ready``, ``fired`` and ``values``.
NO_FIRES = (
    np.zeros((0, FIRE_COLUMNS), dtype=np.int64),
    np.zeros((1, 0), dtype=np.int64),
    np.zeros((0, 3), dtype=np.int64),
    np.zeros((0, 1)),
)


@njit(cache=True, nogil=True, inline="always")
def reset(spec):
    """Every trader's state before a symbol's first bar: not matched, no signal yet."""
    for i in range(spec.shape[0]):
        spec[i, FIRE_MATCHED], spec[i, FIRE_LAST] = 0, -1


@njit(cache=True, nogil=True, inline="always")
def fire_block(row, roff, rdep, spec, ready, bars, fired, values, s, c0, c1, steps, found):
    """The fires of bars ``c0 .. c1 - 1`` of symbol ``s`` (``row``), just stepped, at steps
    ``steps[: c1 - c0]``: written from row ``found`` on; returns the count so far."""
    nb = c1 - c0
    use_ready = ready.shape[1] > 0
    for i in range(spec.shape[0]):
        # One trader at a time: its state stays in registers.
        root = spec[i, FIRE_ROOT]
        off, mask = roff[root], rdep[root] - 1
        need, cooldown = spec[i, FIRE_NEED], spec[i, FIRE_COOLDOWN]
        matched, last = spec[i, FIRE_MATCHED] != 0, spec[i, FIRE_LAST]
        base = off + (c0 & mask)
        if base + nb - 1 == off + ((c0 + nb - 1) & mask):
            # The block in place: up to 64 bars at a time, the bars where the filter holds
            # as the bits of a word, built without a branch (whether a filter holds is as
            # good as random: a branch on it mispredicts), those before the first warm bar
            # cleared (no bar before it holds: warmth only turns on), its edges (held, not
            # on the bar before) as another; only those bars are visited, in order.
            warm = _first_warm(need, c0, nb, use_ready, ready, s, i, steps)
            for q0 in range(0, nb, 64):
                k = min(64, nb - q0)
                bits = 0
                for q in range(k):
                    bits |= (1 if row[unsigned(base + q0 + q)] == 1.0 else 0) << q
                cold = warm - q0  # bars of this word before the first warm one
                if cold >= k:
                    bits = 0
                elif cold > 0:
                    bits = (bits >> cold) << cold
                edges = bits & ~((bits << 1) | (1 if matched else 0))
                matched = ((bits >> (k - 1)) & 1) != 0
                while edges != 0:
                    q = q0 + _trailing_zeros(edges)
                    edges &= edges - 1
                    c = c0 + q
                    if cooldown <= 1 or last < 0 or c - last >= cooldown:
                        found = _fire(
                            row, roff, rdep, spec, bars, fired, values, s, i, c0, steps, q, found
                        )
                        last = c
            spec[i, FIRE_MATCHED], spec[i, FIRE_LAST] = matched, last
            continue
        for q in range(nb):
            c = c0 + q
            if row[off + (c & mask)] != 1.0:
                matched = False  # the common case: not matching
                continue
            t = steps[q]
            held = c + 1 >= need and (not use_ready or t >= ready[s, i])
            if held and not matched and (last < 0 or c - last >= cooldown):
                found = _fire(row, roff, rdep, spec, bars, fired, values, s, i, c0, steps, q, found)
                last = c
            matched = held
        spec[i, FIRE_MATCHED], spec[i, FIRE_LAST] = matched, last
    return found


@njit(cache=True, nogil=True, inline="always")
def _first_warm(need, c0, nb, use_ready, ready, s, i, steps):
    """The first of a block's ``nb`` bars (from bar ``c0``, at ``steps``) at which trader
    ``i`` is warm on symbol ``s`` (``nb``: none): it has stepped ``need`` bars and, with
    ``use_ready``, the step is at least ``ready[s, i]`` (both only turn on)."""
    q = max(0, need - 1 - c0)
    if use_ready:
        first = ready[s, i]
        while q < nb and steps[q] < first:
            q += 1
    return q


@njit(cache=True, nogil=True, inline="always")
def unsigned(i):
    """An index known not to be negative, as unsigned: numba skips its negative-index
    wraparound and LLVM reads the run as one (vector) load, not a gather."""
    return uint64(i)


@njit(cache=True, nogil=True, inline="always")
def _fire(row, roff, rdep, spec, bars, fired, values, s, i, c0, steps, q, found):
    """Trader ``i`` fires at bar ``q`` of the block: its row written (if there is room);
    returns the count of fires."""
    if found < fired.shape[0]:
        c = c0 + q
        t = steps[q]
        close = values.shape[1] - 1
        fired[found, 0], fired[found, 1], fired[found, 2] = s, t, i
        for j in range(close):
            n = spec[i, FIRE_NODES + j]
            values[found, j] = row[roff[n] + (c & (rdep[n] - 1))]
        values[found, close] = bars[s, t, _CLOSE]
    return found + 1
