"""Moving averages and sums: SMA, EMA, WMA, RMA (Wilder), SUM.

See :mod:`kernels.ind` for the array contract. Each kernel mirrors its reference's arithmetic
order, so stepping from the first bar reproduces it to the last bit in practice.
"""

from __future__ import annotations

import math

from kernels import ops
from kernels.ind.access import paired
from kernels.jit import family, inlined_loops, loops
from kernels.ops import OpSpec, Params, fixed_cost


@inlined_loops
def _rolling_bar(row, xo, xm, c, x, n, mean, m, total):
    """The rolling sum (or mean) at bar ``c`` of value ``x`` from the state (see
    :func:`_rolling`): the output, then the state after it."""
    if math.isnan(x):
        return math.nan, 0.0, 0.0
    m = min(m + 1.0, n)
    t = total + x
    if m < n:
        return math.nan, m, t
    total = t - row[xo + ((c - (n - 1)) & xm)]
    return (t / n if mean else t), m, total


@loops
def _rolling(mem, items, st, inp, roff, rdep, n, oj, mj, mean):
    """Rolling sum (``mean``: divided by ``n``) of the last ``n`` values; TA-Lib's running
    total: add, emit, drop the trailing value. State: [valid count, running total]. Two
    symbols stepping the same bars go side by side (:func:`kernels.ind.access.paired`)."""
    xo, xm = roff[inp[0]], rdep[inp[0]] - 1
    w = 0
    while w < items.shape[0]:
        row, c0, c1 = mem[items[w, 0]], items[w, 1], items[w, 2]
        m, total = row[st], row[st + 1]
        if paired(items, w):
            other = mem[items[w + 1, 0]]
            m2, total2 = other[st], other[st + 1]
            for c in range(c0, c1):
                i, o = xo + (c & xm), oj + (c & mj)
                v, m, total = _rolling_bar(row, xo, xm, c, row[i], n, mean, m, total)
                v2, m2, total2 = _rolling_bar(other, xo, xm, c, other[i], n, mean, m2, total2)
                row[o], other[o] = v, v2
            other[st], other[st + 1] = m2, total2
            w += 1
        else:
            for c in range(c0, c1):
                v, m, total = _rolling_bar(row, xo, xm, c, row[xo + (c & xm)], n, mean, m, total)
                row[oj + (c & mj)] = v
        row[st], row[st + 1] = m, total
        w += 1


@loops
def sum_nb(mem, items, st, inp, roff, rdep, p, oj, mj):
    """Rolling sum; reference TA-Lib SUM. State: see :func:`_rolling`."""
    _rolling(mem, items, st, inp, roff, rdep, int(p[0]), oj, mj, False)


@loops
def sma_nb(mem, items, st, inp, roff, rdep, p, oj, mj):
    """Simple moving average; reference TA-Lib SMA (its running total divided by ``n``).
    State: see :func:`_rolling`."""
    _rolling(mem, items, st, inp, roff, rdep, int(p[0]), oj, mj, True)


@inlined_loops
def _smoothed_bar(x, n, wilder, m, prev):
    """The average at one bar of value ``x`` from the state (see :func:`_smoothed`): the
    output, then the state after it."""
    if math.isnan(x):
        return math.nan, 0.0, 0.0
    if m + 1.0 < n:
        return math.nan, m + 1.0, prev + x
    if m + 1.0 == n:
        v = (prev + x) / n
        return v, m + 1.0, v
    if wilder:
        v = (prev * (n - 1) + x) / n
    else:
        v = ((x - prev) * (2.0 / (n + 1))) + prev
    return v, m, v


@loops
def _smoothed(mem, items, st, inp, roff, rdep, n, oj, mj, wilder):
    """A recursive average seeded with the SMA of its first ``n`` values: EMA's
    ``prev + (x - prev) * 2 / (n + 1)`` or, with ``wilder``, ``(prev * (n - 1) + x) / n``.
    State: [valid count (capped at ``n``), sum of the seed values, then the value]. Two
    symbols stepping the same bars go side by side (:func:`kernels.ind.access.paired`)."""
    xo, xm = roff[inp[0]], rdep[inp[0]] - 1
    w = 0
    while w < items.shape[0]:
        row, c0, c1 = mem[items[w, 0]], items[w, 1], items[w, 2]
        m, prev = row[st], row[st + 1]
        if paired(items, w):
            other = mem[items[w + 1, 0]]
            m2, prev2 = other[st], other[st + 1]
            for c in range(c0, c1):
                i, o = xo + (c & xm), oj + (c & mj)
                v, m, prev = _smoothed_bar(row[i], n, wilder, m, prev)
                v2, m2, prev2 = _smoothed_bar(other[i], n, wilder, m2, prev2)
                row[o], other[o] = v, v2
            other[st], other[st + 1] = m2, prev2
            w += 1
        else:
            for c in range(c0, c1):
                v, m, prev = _smoothed_bar(row[xo + (c & xm)], n, wilder, m, prev)
                row[oj + (c & mj)] = v
        row[st], row[st + 1] = m, prev
        w += 1


@loops
def ema_nb(mem, items, st, inp, roff, rdep, p, oj, mj):
    """Exponential moving average; reference TA-Lib EMA (SMA seed, then
    ``prev + (x - prev) * 2 / (n + 1)``). State: see :func:`_smoothed`."""
    _smoothed(mem, items, st, inp, roff, rdep, int(p[0]), oj, mj, False)


@loops
def rma_nb(mem, items, st, inp, roff, rdep, p, oj, mj):
    """Wilder's moving average; reference TradingView ta.rma and TA-Lib ATR's smoothing
    (SMA seed, then ``(prev * (n - 1) + x) / n``). State: see :func:`_smoothed`."""
    _smoothed(mem, items, st, inp, roff, rdep, int(p[0]), oj, mj, True)


@loops
def wma_nb(mem, items, st, inp, roff, rdep, p, oj, mj):
    """Linearly weighted moving average; reference TA-Lib WMA (running ``periodSum`` and
    ``periodSub``). State: [valid count, periodSub, periodSum, trailing value]."""
    n = int(p[0])
    xo, xm = roff[inp[0]], rdep[inp[0]] - 1
    for w in range(items.shape[0]):
        row, c0, c1 = mem[items[w, 0]], items[w, 1], items[w, 2]
        m, sub, total, trailing = row[st], row[st + 1], row[st + 2], row[st + 3]
        for c in range(c0, c1):
            x = row[xo + (c & xm)]
            v = math.nan
            if math.isnan(x):
                m, sub, total, trailing = 0.0, 0.0, 0.0, 0.0
            else:
                m = min(m + 1.0, n)
                if m < n:
                    sub += x
                    total += x * m
                else:
                    period_sub = sub + x - trailing
                    period_sum = total + x * n
                    trailing = row[xo + ((c - (n - 1)) & xm)]
                    v = period_sum / ((n * (n + 1)) >> 1)
                    sub = period_sub
                    total = period_sum - period_sub
            row[oj + (c & mj)] = v
        row[st], row[st + 1], row[st + 2], row[st + 3] = m, sub, total, trailing


@family
def block_nb(o, mem, items, st, inp, roff, rdep, p, oj, mj, tmp):
    """Step a node of this family through the bars of ``items`` (see :mod:`kernels.ind`)."""
    if o == ops.SMA:
        sma_nb(mem, items, st, inp, roff, rdep, p, oj, mj)
    elif o == ops.EMA:
        ema_nb(mem, items, st, inp, roff, rdep, p, oj, mj)
    elif o == ops.WMA:
        wma_nb(mem, items, st, inp, roff, rdep, p, oj, mj)
    elif o == ops.RMA:
        rma_nb(mem, items, st, inp, roff, rdep, p, oj, mj)
    elif o == ops.SUM:
        sum_nb(mem, items, st, inp, roff, rdep, p, oj, mj)


def _n(p: Params) -> int:
    return int(p[0])


def _two(_: Params) -> int:
    return 2


def _window(p: Params) -> tuple[int, ...]:
    return (_n(p),)


def _one(_: Params) -> tuple[int, ...]:
    return (1,)


def _lookback(p: Params) -> int:
    return _n(p) - 1


def _recursive(p: Params) -> int:
    # TA-Lib's lookback (n - 1) plus enough bars for the seed's weight to fall below ~0.3 %.
    return _n(p) - 1 + 3 * _n(p)


def _wilder(p: Params) -> int:
    # Wilder smoothing decays as (1 - 1/n)^k: 5n bars bring the seed's weight under ~0.7 %.
    return _n(p) - 1 + 5 * _n(p)


SPECS: dict[int, OpSpec] = {
    ops.SMA: OpSpec("sma", 1, _two, _window, _lookback, "TA-Lib SMA"),
    ops.SUM: OpSpec("sum", 1, _two, _window, _lookback, "TA-Lib SUM"),
    ops.EMA: OpSpec("ema", 1, _two, _one, _recursive, "TA-Lib EMA"),
    ops.RMA: OpSpec("rma", 1, _two, _one, _wilder, "TradingView ta.rma / TA-Lib ATR smoothing"),
    ops.WMA: OpSpec("wma", 1, lambda _p: 4, _window, _lookback, "TA-Lib WMA", fixed_cost(5)),
}

#: Opcodes this family runs (see :mod:`kernels.families`).
OPCODES = tuple(SPECS)
