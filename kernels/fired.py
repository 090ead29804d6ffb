"""Which bars of a history fire: the firing rules over every trader's gathered filter.

A backtest applies these rules inside the interpreter as it steps (*Fires* in
:mod:`kernels.interp`); this pass applies them to filters already gathered over whole
histories (the tests check it against the live rules bar by bar): the live firing rules
(:func:`kernels.edges.fires`) in one compiled pass. A trader fires on a symbol's bar when its
filter holds there (with enough history on every timeframe it reads) and did not hold on the
symbol's previous bar, at least ``cooldown[i]`` bars (trader ``i``'s own) after its last
signal on that symbol.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from kernels.graph import F64, I64
from kernels.jit import entry

U8 = npt.NDArray[np.uint8]


@entry
def scan_nb(gathered, first, counts, need, others, use_others, cooldown, columns, out, values):
    """Fires of ``k = len(need)`` traders whose filters are gathered in columns ``first ..
    first + k - 1`` of ``gathered[n_sym, n_t, :]``, as (symbol, step, trader) rows of ``out``
    (in symbol, then trader order), each with the values of its trader's ``columns[i]`` at
    its step in the same row of ``values``; returns how many there are (rows past
    ``len(out)`` are not written).

    ``counts[s, t]``: bars of symbol ``s`` up to step ``t`` (unchanged: no bar there);
    ``need[i]``: bars trader ``i`` needs; with ``use_others``, ``others[s, t, i]`` is 0 where
    trader ``i`` lacks history on another timeframe; ``cooldown[i]``: trader ``i``'s cooldown
    in bars."""
    found = 0
    for s in range(counts.shape[0]):
        # One trader at a time: its state stays in registers.
        for i in range(need.shape[0]):
            matched = False  # on the symbol's previous bar
            last = -1  # bar of the last signal
            before = 0
            col = first + i
            for t in range(counts.shape[1]):
                c = counts[s, t]
                if c == before:
                    continue
                before = c
                if gathered[s, t, col] != 1.0:
                    matched = False  # the common case: not matching
                    continue
                held = c >= need[i] and (not use_others or others[s, t, i] != 0)
                if held and not matched and (last < 0 or c - 1 - last >= cooldown[i]):
                    if found < out.shape[0]:
                        out[found, 0], out[found, 1], out[found, 2] = s, t, i
                        for j in range(columns.shape[1]):
                            values[found, j] = gathered[s, t, columns[i, j]]
                    found += 1
                    last = c - 1
                matched = held
    return found


def scan(
    gathered: F64, first: int, counts: I64, need: I64, others: U8 | None, cooldown: int | I64
) -> I64:
    """:func:`scan_nb`'s fires as int64[n, 3] (symbol, step, trader); ``cooldown`` is one for
    every trader or one per trader."""
    fired, _ = scan_values(gathered, first, counts, need, others, cooldown, None)
    return fired


def scan_values(
    gathered: F64,
    first: int,
    counts: I64,
    need: I64,
    others: U8 | None,
    cooldown: int | I64,
    columns: I64 | None,
) -> tuple[I64, F64]:
    """:func:`scan_nb`'s fires as int64[n, 3] (symbol, step, trader), and their values of
    ``columns`` (int64[k, w]; None: none) as float64[n, w]; ``cooldown`` is one for every
    trader or one per trader."""
    use = others is not None
    each = np.broadcast_to(np.asarray(cooldown, dtype=np.int64), need.shape).copy()
    extra = others if others is not None else np.ones((1, 1, 1), dtype=np.uint8)
    cols = columns if columns is not None else np.zeros((max(1, len(need)), 0), dtype=np.int64)
    # Room for a fire on one trader-bar in 16; a second pass when there are more.
    room = max(1024, counts.size * len(need) // 16)
    out = np.empty((room, 3), dtype=np.int64)
    values = np.empty((room, cols.shape[1]))
    n = scan_nb(gathered, first, counts, need, extra, use, each, cols, out, values)
    if n > room:
        out = np.empty((n, 3), dtype=np.int64)
        values = np.empty((n, cols.shape[1]))
        scan_nb(gathered, first, counts, need, extra, use, each, cols, out, values)
    return out[:n], values[:n]
