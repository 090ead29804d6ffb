"""Which bars of a history fire: the backtest's pass over every trader's gathered filter.

The live firing rules (:func:`kernels.edges.fires`) applied to whole histories in one compiled
pass: a trader fires on a symbol's bar when its filter holds there (with enough history on
every timeframe it reads) and did not hold on the symbol's previous bar, at least
``cooldown[i]`` bars (trader ``i``'s own) after its last signal on that symbol.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from kernels.graph import F64, I64
from kernels.jit import entry

U8 = npt.NDArray[np.uint8]


@entry
def scan_nb(gathered, first, counts, need, others, use_others, cooldown, out, state):
    """Fires of ``k = len(need)`` traders whose filters are gathered in columns ``first ..
    first + k - 1`` of ``gathered[n_sym, n_t, :]``, as (symbol, step, trader) rows of ``out``,
    in that order; returns how many there are (rows past ``len(out)`` are not written).

    ``counts[s, t]``: bars of symbol ``s`` up to step ``t`` (unchanged: no bar there);
    ``need[i]``: bars trader ``i`` needs; with ``use_others``, ``others[s, t, i]`` is 0 where
    trader ``i`` lacks history on another timeframe; ``cooldown[i]``: trader ``i``'s cooldown
    in bars; ``state``: int64[k, 2] work space."""
    found = 0
    for s in range(counts.shape[0]):
        for i in range(need.shape[0]):
            state[i, 0] = 0  # matched on the previous bar
            state[i, 1] = -1  # bar of the last signal
        before = 0
        for t in range(counts.shape[1]):
            c = counts[s, t]
            if c == before:
                continue
            before = c
            for i in range(need.shape[0]):
                if gathered[s, t, first + i] != 1.0:
                    state[i, 0] = 0  # the common case: not matching
                    continue
                held = c >= need[i] and (not use_others or others[s, t, i] != 0)
                cooled = state[i, 1] < 0 or c - 1 - state[i, 1] >= cooldown[i]
                if held and state[i, 0] == 0 and cooled:
                    if found < out.shape[0]:
                        out[found, 0], out[found, 1], out[found, 2] = s, t, i
                    found += 1
                    state[i, 1] = c - 1
                state[i, 0] = 1 if held else 0
    return found


def scan(
    gathered: F64, first: int, counts: I64, need: I64, others: U8 | None, cooldown: int | I64
) -> I64:
    """:func:`scan_nb`'s fires as int64[n, 3] (symbol, step, trader); ``cooldown`` is one for
    every trader or one per trader."""
    use = others is not None
    each = np.broadcast_to(np.asarray(cooldown, dtype=np.int64), need.shape).copy()
    extra = others if others is not None else np.ones((1, 1, 1), dtype=np.uint8)
    state = np.empty((max(1, len(need)), 2), dtype=np.int64)
    # Room for a fire on one trader-bar in 16; a second pass when there are more.
    out = np.empty((max(1024, counts.size * len(need) // 16), 3), dtype=np.int64)
    n = scan_nb(gathered, first, counts, need, extra, use, each, out, state)
    if n > len(out):
        out = np.empty((n, 3), dtype=np.int64)
        scan_nb(gathered, first, counts, need, extra, use, each, out, state)
    fired: I64 = out[:n]
    return fired
