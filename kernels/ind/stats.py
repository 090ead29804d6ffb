"""Window statistics: STDDEV (population), HIGHEST, LOWEST.

See :mod:`kernels.ind` for the array contract.
"""

from __future__ import annotations

import math

from numba import njit

from kernels import ops
from kernels.ind.access import ago, cur
from kernels.ops import OpSpec, Params


@njit(cache=True, nogil=True)
def stddev_nb(row, st, c, inp, roff, rdep, p):
    """Population standard deviation times ``nbdev``; reference TA-Lib STDDEV (running sums
    of x and x², variance = E[x²] - E[x]², 0 when not positive).
    State: [valid count, sum x, sum x²]."""
    n = int(p[0])
    x = cur(row, roff, rdep, inp[0], c)
    if math.isnan(x):
        row[st] = 0.0
        row[st + 1] = 0.0
        row[st + 2] = 0.0
        return math.nan
    m = min(row[st] + 1.0, n)
    row[st] = m
    t1 = row[st + 1] + x
    t2 = row[st + 2] + x * x
    if m < n:
        row[st + 1] = t1
        row[st + 2] = t2
        return math.nan
    mean1 = t1 / n
    mean2 = t2 / n
    old = ago(row, roff, rdep, inp[0], c, n - 1)
    row[st + 1] = t1 - old
    row[st + 2] = t2 - old * old
    var = mean2 - mean1 * mean1
    if var > 0.0:
        return math.sqrt(var) * p[1]
    return 0.0


@njit(cache=True, nogil=True)
def highest_nb(row, st, c, inp, roff, rdep, p):
    """Highest value of the last ``n`` bars; reference TA-Lib MAX. State: [valid count]."""
    n = int(p[0])
    x = cur(row, roff, rdep, inp[0], c)
    if math.isnan(x):
        row[st] = 0.0
        return math.nan
    m = min(row[st] + 1.0, n)
    row[st] = m
    if m < n:
        return math.nan
    best = x
    for k in range(1, n):
        v = ago(row, roff, rdep, inp[0], c, k)
        if v > best:
            best = v
    return best


@njit(cache=True, nogil=True)
def lowest_nb(row, st, c, inp, roff, rdep, p):
    """Lowest value of the last ``n`` bars; reference TA-Lib MIN. State: [valid count]."""
    n = int(p[0])
    x = cur(row, roff, rdep, inp[0], c)
    if math.isnan(x):
        row[st] = 0.0
        return math.nan
    m = min(row[st] + 1.0, n)
    row[st] = m
    if m < n:
        return math.nan
    best = x
    for k in range(1, n):
        v = ago(row, roff, rdep, inp[0], c, k)
        if v < best:
            best = v
    return best


def _window(p: Params) -> tuple[int, ...]:
    return (int(p[0]),)


def _lookback(p: Params) -> int:
    return int(p[0]) - 1


SPECS: dict[int, OpSpec] = {
    ops.STDDEV: OpSpec("stddev", 1, lambda _p: 3, _window, _lookback, "TA-Lib STDDEV"),
    ops.HIGHEST: OpSpec("highest", 1, lambda _p: 1, _window, _lookback, "TA-Lib MAX"),
    ops.LOWEST: OpSpec("lowest", 1, lambda _p: 1, _window, _lookback, "TA-Lib MIN"),
}
