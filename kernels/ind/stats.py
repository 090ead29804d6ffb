"""Window statistics: STDDEV (population), HIGHEST, LOWEST.

See :mod:`kernels.ind` for the array contract.
"""

from __future__ import annotations

import math

from kernels import ops
from kernels.ind.access import unsigned
from kernels.ind.windows import MIN_BLOCK, in_place, newest, prefixes, suffixes, window
from kernels.jit import family, inlined_loops, loops
from kernels.ops import OpSpec, Params, fixed_cost, scan_cost


@inlined_loops
def _reanchor(row, xo, xm, c, n, inv):
    """A fresh two-pass sum over the window: (shift, sum of deviations, of their squares)."""
    total = 0.0
    for k in range(n - 1, -1, -1):
        total += row[xo + ((c - k) & xm)]
    shift = total * inv
    t1 = 0.0
    t2 = 0.0
    for k in range(n - 1, -1, -1):
        d = row[xo + ((c - k) & xm)] - shift
        t1 += d
        t2 += d * d
    return shift, t1, t2


@loops
def stddev_nb(mem, items, st, inp, roff, rdep, p, oj, mj):
    """Population standard deviation times ``nbdev``; reference TA-Lib STDDEV (0.8's
    cancellation-free variance: running sums of deviations from a shift anchored at the
    first value, re-anchored on the window mean with a fresh two-pass sum when the variance
    falls below 1e-6 of the mean squared deviation, an outlier leaves, or every 32 windows).

    State: [valid count, shift, sum of deviations, sum of squared deviations, bars until the
    next scheduled re-anchor].
    """
    n = int(p[0])
    inv = 1.0 / n
    xo, xm = roff[inp[0]], rdep[inp[0]] - 1
    for w in range(items.shape[0]):
        row, c0, c1 = mem[items[w, 0]], items[w, 1], items[w, 2]
        m, shift, s1, s2, until = row[st], row[st + 1], row[st + 2], row[st + 3], row[st + 4]
        for c in range(c0, c1):
            x = row[xo + (c & xm)]
            v = math.nan
            if math.isnan(x):
                m, shift, s1, s2, until = 0.0, 0.0, 0.0, 0.0, 0.0
                row[oj + (c & mj)] = v
                continue
            if m + 1.0 == 1.0:
                shift, s1, s2 = x, 0.0, 0.0
            d = x - shift
            t1 = s1 + d
            t2 = s2 + d * d
            if m + 1.0 < n:
                m, s1, s2 = m + 1.0, t1, t2
                row[oj + (c & mj)] = v
                continue
            if m + 1.0 == n:
                until = 32.0 * n
            m = n + 1.0
            mean1 = t1 * inv
            variance = t2 * inv - mean1 * mean1
            old = row[xo + ((c - (n - 1)) & xm)]
            d = old - shift
            t1 -= d
            d *= d
            t2 -= d
            until -= 1.0
            if variance < 0.000001 * (t2 * inv) or d > 1000000.0 * t2 or until <= 0.0:
                until = 32.0 * n
                shift, t1, t2 = _reanchor(row, xo, xm, c, n, inv)
                mean1 = t1 * inv
                variance = t2 * inv - mean1 * mean1
                if variance < 0.000000000001 * (t2 * inv):
                    variance = 0.0
                d = old - shift
                t1 -= d
                t2 -= d * d
            s1, s2 = t1, t2
            row[oj + (c & mj)] = math.sqrt(variance) * p[1]
        row[st], row[st + 1], row[st + 2], row[st + 3], row[st + 4] = m, shift, s1, s2, until


@inlined_loops
def track(row, xo, xm, c, n, x, best, bar, highest, rescan):
    """The highest (or lowest) value of a ring over bars ``c - n + 1 .. c`` (all valid;
    ``x`` is bar ``c``'s) and its bar (an int), from the previous window's (``best``,
    ``bar``), as TA-Lib's MAX/MIN track it: the window is scanned only when that bar leaves it
    (or when ``rescan``: the first full window of a run). Among equal values the newest wins,
    as a plain scan from the current bar backwards taking only greater values finds it, so
    the value is the same float, bit for bit."""
    if rescan or bar <= c - n:
        # Selects, not branches (whether a value beats the best so far is as good as random:
        # a branch on it mispredicts).
        bar = c - n + 1
        best = row[xo + (bar & xm)]
        first = bar
        if highest:
            for k in range(first + 1, c + 1):
                v = row[xo + (k & xm)]
                take = v >= best
                best = v if take else best
                bar = k if take else bar
        else:
            for k in range(first + 1, c + 1):
                v = row[xo + (k & xm)]
                take = v <= best
                best = v if take else best
                bar = k if take else bar
    elif (x >= best) if highest else (x <= best):
        best = x
        bar = c
    return best, bar


@inlined_loops
def _extreme_block(row, xo, xm, c0, c1, n, oj, mj, highest, tmp):
    """The highest (lowest) of ``n`` bars at bars ``c0 .. c1 - 1`` of a warm symbol, written
    (:mod:`kernels.ind.windows`: the same values as :func:`track`). Returns whether an input
    was NaN (the outputs are then not to be used)."""
    nb = c1 - c0
    suffixes(row, xo, xm, xo, xm, c0, nb, n, highest, False, tmp)
    bad = prefixes(row, xo, xm, xo, xm, c0, nb, n, highest, False, tmp, 2 * nb)
    if in_place(oj, mj, c0, nb):
        at = oj + (c0 & mj)
        for i in range(nb):
            row[unsigned(at + i)] = window(tmp, 0, nb, i, highest, False)
    else:
        for i in range(nb):
            row[unsigned(oj + ((c0 + i) & mj))] = window(tmp, 0, nb, i, highest, False)
    return bad


@loops
def _extreme(mem, items, st, inp, roff, rdep, n, oj, mj, highest, tmp):
    """Highest (or lowest) value of the last ``n`` bars.
    State: [valid count, the extreme, its bar] (see :func:`track`). A warm symbol's block of
    at least :data:`~kernels.ind.windows.MIN_BLOCK` bars goes through :func:`_extreme_block`
    when ``tmp`` has room (and no input is NaN); its state after is the one :func:`track`
    leaves."""
    xo, xm = roff[inp[0]], rdep[inp[0]] - 1
    for w in range(items.shape[0]):
        row, c0, c1 = mem[items[w, 0]], items[w, 1], items[w, 2]
        m, best, bar = row[st], row[st + 1], int(row[st + 2])
        block = m >= n and c1 - c0 >= MIN_BLOCK and tmp.shape[0] >= 4 * (c1 - c0)
        if block and not _extreme_block(row, xo, xm, c0, c1, n, oj, mj, highest, tmp):
            best = row[oj + ((c1 - 1) & mj)]
            row[st + 1], row[st + 2] = best, newest(row, xo, xm, c1 - 1, n, best, highest)
            continue
        for c in range(c0, c1):
            x = row[xo + (c & xm)]
            v = math.nan
            if math.isnan(x):
                m = 0.0
            else:
                full = m >= n
                m = min(m + 1.0, n)
                if m >= n:
                    best, bar = track(row, xo, xm, c, n, x, best, bar, highest, not full)
                    v = best
            row[oj + (c & mj)] = v
        row[st], row[st + 1], row[st + 2] = m, best, bar


@loops
def highest_nb(mem, items, st, inp, roff, rdep, p, oj, mj, tmp):
    """Highest value of the last ``n`` bars; reference TA-Lib MAX. State: see :func:`_extreme`."""
    _extreme(mem, items, st, inp, roff, rdep, int(p[0]), oj, mj, True, tmp)


@loops
def lowest_nb(mem, items, st, inp, roff, rdep, p, oj, mj, tmp):
    """Lowest value of the last ``n`` bars; reference TA-Lib MIN. State: see :func:`_extreme`."""
    _extreme(mem, items, st, inp, roff, rdep, int(p[0]), oj, mj, False, tmp)


@family
def block_nb(o, mem, items, st, inp, roff, rdep, p, oj, mj, tmp):
    """Step a node of this family through the bars of ``items`` (see :mod:`kernels.ind`)."""
    if o == ops.STDDEV:
        stddev_nb(mem, items, st, inp, roff, rdep, p, oj, mj)
    elif o == ops.HIGHEST:
        highest_nb(mem, items, st, inp, roff, rdep, p, oj, mj, tmp)
    elif o == ops.LOWEST:
        lowest_nb(mem, items, st, inp, roff, rdep, p, oj, mj, tmp)


def _window(p: Params) -> tuple[int, ...]:
    return (int(p[0]),)


def _lookback(p: Params) -> int:
    return int(p[0]) - 1


SPECS: dict[int, OpSpec] = {
    # Re-anchoring (two passes over the window) is scheduled every 32 windows; 5 covers it.
    ops.STDDEV: OpSpec(
        "stddev", 1, lambda _p: 5, _window, _lookback, "TA-Lib STDDEV", fixed_cost(5)
    ),
    # Both scan the whole window every bar.
    ops.HIGHEST: OpSpec(
        "highest", 1, lambda _p: 3, _window, _lookback, "TA-Lib MAX", scan_cost(0.5)
    ),
    ops.LOWEST: OpSpec("lowest", 1, lambda _p: 3, _window, _lookback, "TA-Lib MIN", scan_cost(0.5)),
}

#: Opcodes this family runs (see :mod:`kernels.families`).
OPCODES = tuple(SPECS)
