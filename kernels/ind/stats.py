"""Window statistics: STDDEV (population), HIGHEST, LOWEST.

See :mod:`kernels.ind` for the array contract.
"""

from __future__ import annotations

import math

from numba import njit

from kernels import ops
from kernels.ind.access import ago, cur
from kernels.jit import loops
from kernels.ops import OpSpec, Params, fixed_cost, scan_cost


@loops
def stddev_nb(row, st, c, inp, roff, rdep, p):
    """Population standard deviation times ``nbdev``; reference TA-Lib STDDEV (0.8's
    cancellation-free variance: running sums of deviations from a shift anchored at the
    first value, re-anchored on the window mean with a fresh two-pass sum when the variance
    falls below 1e-6 of the mean squared deviation, an outlier leaves, or every 32 windows).

    State: [valid count, shift, sum of deviations, sum of squared deviations, bars until the
    next scheduled re-anchor].
    """
    n = int(p[0])
    x = cur(row, roff, rdep, inp[0], c)
    if math.isnan(x):
        for k in range(5):
            row[st + k] = 0.0
        return math.nan
    m = row[st] + 1.0
    if m == 1.0:
        row[st + 1] = x
        row[st + 2] = 0.0
        row[st + 3] = 0.0
    shift = row[st + 1]
    inv = 1.0 / n
    d = x - shift
    t1 = row[st + 2] + d
    t2 = row[st + 3] + d * d
    if m < n:
        row[st] = m
        row[st + 2] = t1
        row[st + 3] = t2
        return math.nan
    if m == n:
        row[st + 4] = 32.0 * n
    row[st] = n + 1.0
    mean1 = t1 * inv
    variance = t2 * inv - mean1 * mean1
    old = ago(row, roff, rdep, inp[0], c, n - 1)
    d = old - shift
    t1 -= d
    d *= d
    t2 -= d
    until = row[st + 4] - 1.0
    if variance < 0.000001 * (t2 * inv) or d > 1000000.0 * t2 or until <= 0.0:
        until = 32.0 * n
        total = 0.0
        for k in range(n - 1, -1, -1):
            total += ago(row, roff, rdep, inp[0], c, k)
        shift = total * inv
        t1 = 0.0
        t2 = 0.0
        for k in range(n - 1, -1, -1):
            d = ago(row, roff, rdep, inp[0], c, k) - shift
            t1 += d
            t2 += d * d
        mean1 = t1 * inv
        variance = t2 * inv - mean1 * mean1
        if variance < 0.000000000001 * (t2 * inv):
            variance = 0.0
        d = old - shift
        t1 -= d
        t2 -= d * d
    row[st + 1] = shift
    row[st + 2] = t1
    row[st + 3] = t2
    row[st + 4] = until
    return math.sqrt(variance) * p[1]


@njit(cache=True, nogil=True, inline="always")
def window_extreme(row, at, c, i, roff, rdep, n, x, highest, rescan):
    """The highest (or lowest) value of input ``i`` over bars ``c - n + 1 .. c`` (all valid;
    ``x`` is bar ``c``'s), tracked as TA-Lib's MAX/MIN track it: the extreme and its bar are
    kept in ``row[at]`` and ``row[at + 1]``; the window is scanned only when that bar leaves
    it (or when ``rescan``: the first full window of a run). Among equal values the newest
    wins, as a plain scan from the current bar backwards taking only greater values finds it,
    so the value returned is the same float, bit for bit."""
    best = row[at]
    bar = row[at + 1]
    if rescan or bar <= c - n:
        best = ago(row, roff, rdep, i, c, n - 1)
        bar = c - n + 1.0
        for k in range(n - 2, -1, -1):
            v = ago(row, roff, rdep, i, c, k)
            if (v >= best) if highest else (v <= best):
                best = v
                bar = c - k
    elif (x >= best) if highest else (x <= best):
        best = x
        bar = c
    row[at] = best
    row[at + 1] = bar
    return best


@njit(cache=True, nogil=True, inline="always")
def _extreme(row, st, c, inp, roff, rdep, p, highest):
    """Highest (or lowest) value of the last ``n`` bars.
    State: [valid count, the extreme, its bar] (see :func:`window_extreme`)."""
    n = int(p[0])
    x = cur(row, roff, rdep, inp[0], c)
    if math.isnan(x):
        row[st] = 0.0
        return math.nan
    full = row[st] >= n
    m = min(row[st] + 1.0, n)
    row[st] = m
    if m < n:
        return math.nan
    return window_extreme(row, st + 1, c, inp[0], roff, rdep, n, x, highest, not full)


@loops
def highest_nb(row, st, c, inp, roff, rdep, p):
    """Highest value of the last ``n`` bars; reference TA-Lib MAX. State: see :func:`_extreme`."""
    return _extreme(row, st, c, inp, roff, rdep, p, True)


@loops
def lowest_nb(row, st, c, inp, roff, rdep, p):
    """Lowest value of the last ``n`` bars; reference TA-Lib MIN. State: see :func:`_extreme`."""
    return _extreme(row, st, c, inp, roff, rdep, p, False)


@loops
def block_nb(o, mem, items, st, inp, roff, rdep, p, oj, mj):
    """Step a node of this family through the bars of ``items`` (see :mod:`kernels.ind`)."""
    if o == ops.STDDEV:
        for w in range(items.shape[0]):
            row = mem[items[w, 0]]
            for c in range(items[w, 1], items[w, 2]):
                row[oj + (c & mj)] = stddev_nb(row, st, c, inp, roff, rdep, p)
    elif o == ops.HIGHEST:
        for w in range(items.shape[0]):
            row = mem[items[w, 0]]
            for c in range(items[w, 1], items[w, 2]):
                row[oj + (c & mj)] = highest_nb(row, st, c, inp, roff, rdep, p)
    elif o == ops.LOWEST:
        for w in range(items.shape[0]):
            row = mem[items[w, 0]]
            for c in range(items[w, 1], items[w, 2]):
                row[oj + (c & mj)] = lowest_nb(row, st, c, inp, roff, rdep, p)


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
