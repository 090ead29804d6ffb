"""Window extremes over a block of bars (column mode), for ``highest``/``lowest``
(:mod:`kernels.ind.stats`) and ``stoch``/``willr`` (:mod:`kernels.ind.oscillators`).

The windows of ``n`` bars ending at each bar of a block are cut by chunks of ``n`` bars (van
Herk / Gil-Werman): a window is the end of one chunk (its *suffix* extreme, from the window's
start to the chunk's end) and the start of the next (its *prefix* extreme, from the chunk's
start to the window's end), so each window's extreme takes three compares whatever ``n``. The
prefixes run two chunks side by side (their chains of compares overlap; the suffixes did not
gain from it), and the windows are then combined in one loop without a chain (vectorized).
Among equal values the newest wins in each part and between them: the values are those of
:func:`kernels.ind.stats.track` (the window's extreme, 0.0 and -0.0 told apart as its
rescans tell them).

Scratch: ``tmp`` (:mod:`kernels.ind`), ``nb`` floats per ring and pass: four a bar (the
prefixes write the second ring's part even with one ring: guarding it made ``highest`` slower).
"""

from __future__ import annotations

import math

from kernels.ind.access import unsigned
from kernels.jit import inlined_loops

#: Bars of a block from which going by chunks pays (fewer: bar by bar).
MIN_BLOCK = 8


@inlined_loops
def pick(x, best, highest, newer):
    """``x`` or ``best``, whichever is the extreme: ``x`` wins a tie when it is the ``newer``."""
    if highest:
        return x if ((x >= best) if newer else (x > best)) else best
    return x if ((x <= best) if newer else (x < best)) else best


@inlined_loops
def suffixes(row, ao, am, bo, bm, c0, nb, n, highest, two, tmp):
    """For bar ``c0 + i``'s window start ``p`` (``c0 - n + 1 + i``, ``i < nb``; chunks of
    ``n`` bars from ``c0 - n + 1``): ``tmp[i]``, the highest (``highest``; else the lowest)
    of ring (``ao``, ``am``) from ``p`` to its chunk's end; with ``two``, ``tmp[nb + i]``
    the other extreme of ring (``bo``, ``bm``). Every value read must be a number."""
    base = c0 - n + 1
    top = base + nb - 1  # the last window start
    first = -math.inf if highest else math.inf
    a = base
    while a <= top:
        sa, sb = first, -first
        for pos in range(a + n - 1, a - 1, -1):
            sa = pick(row[unsigned(ao + (pos & am))], sa, highest, False)
            if two:
                sb = pick(row[unsigned(bo + (pos & bm))], sb, not highest, False)
            if pos <= top:
                tmp[unsigned(pos - base)] = sa
                if two:
                    tmp[unsigned(nb + pos - base)] = sb
        a += n


@inlined_loops
def prefixes(row, ao, am, bo, bm, c0, nb, n, highest, two, tmp, at):
    """For bar ``c = c0 + i`` (``i < nb``): ``tmp[at + i]``, the highest (``highest``; else
    the lowest) of ring (``ao``, ``am``) from its chunk's start to ``c`` (chunks: ``c0``
    alone, then ``n`` bars from ``c0 + 1``: the windows' suffixes end before them); with
    ``two``, ``tmp[at + nb + i]`` the other extreme of ring (``bo``, ``bm``). Returns
    whether a value read was NaN."""
    x, y = row[unsigned(ao + (c0 & am))], row[unsigned(bo + (c0 & bm))]
    tmp[unsigned(at)], tmp[unsigned(at + nb)] = x, y
    bad = math.isnan(x) or math.isnan(y)
    first = -math.inf if highest else math.inf
    last = c0 + nb - 1
    s = c0 + 1
    while s <= last:
        pair = s + n <= last  # this chunk and the next side by side
        pa, pb, pa2, pb2 = first, -first, first, -first
        for pos in range(s, min(s + n, last + 1)):
            x = row[unsigned(ao + (pos & am))]
            pa = pick(x, pa, highest, True)
            tmp[unsigned(at + pos - c0)] = pa
            y = row[unsigned(bo + (pos & bm))] if two else 0.0
            pb = pick(y, pb, not highest, True)
            tmp[unsigned(at + nb + pos - c0)] = pb
            bad |= math.isnan(x) or math.isnan(y)
            if pair and pos + n <= last:
                x = row[unsigned(ao + ((pos + n) & am))]
                pa2 = pick(x, pa2, highest, True)
                tmp[unsigned(at + pos + n - c0)] = pa2
                y = row[unsigned(bo + ((pos + n) & bm))] if two else 0.0
                pb2 = pick(y, pb2, not highest, True)
                tmp[unsigned(at + nb + pos + n - c0)] = pb2
                bad |= math.isnan(x) or math.isnan(y)
        s += 2 * n if pair else n
    return bad


@inlined_loops
def window(tmp, at, nb, i, highest, other):
    """The extreme of bar ``i``'s window from the passes (suffixes at ``tmp[at..]``, prefixes
    ``2 * nb`` on; ``other``: the second ring's, ``nb`` further): the prefix is the newer
    part, it wins ties."""
    shift = nb if other else 0
    s, p = tmp[unsigned(at + shift + i)], tmp[unsigned(at + 2 * nb + shift + i)]
    return pick(p, s, highest != other, True)


@inlined_loops
def newest(row, xo, xm, c, n, best, highest):
    """The newest bar of ``c - n + 1 .. c`` whose value is ``best``, the window's highest
    (``highest``) or lowest (every value a number; equal values, 0.0 and -0.0, count)."""
    for k in range(c, c - n, -1):
        x = row[xo + (k & xm)]
        if (x >= best) if highest else (x <= best):
            return k
    return c - n + 1


@inlined_loops
def in_place(off, mask, c0, nb):
    """Whether bars ``c0 .. c0 + nb - 1`` of ring (``off``, ``mask``) sit in order (they do
    not wrap around it): then bar ``c0 + i`` is at ``off + (c0 & mask) + i``."""
    return off + (c0 & mask) + nb - 1 == off + ((c0 + nb - 1) & mask)
