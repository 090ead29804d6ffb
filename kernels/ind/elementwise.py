"""Arithmetic, comparisons, boolean logic, lags, rising/falling and crossings.

These opcodes keep no state; each reads its inputs' output rings at the bars it computes (see
:mod:`kernels.ind` for the layout and the family contract). Booleans are 1.0 / 0.0, and NaN
when an input is NaN. The opcode is tested once per call, outside the loops over bars.
"""

from __future__ import annotations

import math

from kernels import ops
from kernels.ind.access import unsigned
from kernels.jit import family, inlined_loops, loops

_ARITH = (ops.ADD, ops.SUB, ops.MUL, ops.DIV, ops.MIN, ops.MAX)
_COMPARE = (ops.LT, ops.LE, ops.GT, ops.GE, ops.EQ, ops.NE, ops.AND, ops.OR)
_UNARY = (ops.LAG, ops.NEG, ops.ABS, ops.NOT)
_HISTORY = (ops.CROSS_ABOVE, ops.CROSS_BELOW, ops.RISING, ops.FALLING)

#: Opcodes this family runs (see :mod:`kernels.families`).
OPCODES = (*_ARITH, *_COMPARE, *_UNARY, *_HISTORY)


@inlined_loops
def _truth(x):
    return 1.0 if x else 0.0


@loops
def _run(o, row, out, a, b, c, e):
    """``row[out + q] = row[a + q] (op) row[b + q]`` for ``q`` in ``c..e-1``: the arithmetic
    opcodes (DIV gives NaN for a zero divisor), then the comparisons and logic (NaN when an
    input is NaN), each branch-free: the most common (LT, GT, AND, OR) a loop each."""
    if o == ops.ADD:
        for q in range(c, e):
            row[unsigned(out + q)] = row[unsigned(a + q)] + row[unsigned(b + q)]
    elif o == ops.SUB:
        for q in range(c, e):
            row[unsigned(out + q)] = row[unsigned(a + q)] - row[unsigned(b + q)]
    elif o == ops.MUL:
        for q in range(c, e):
            row[unsigned(out + q)] = row[unsigned(a + q)] * row[unsigned(b + q)]
    elif o == ops.DIV:
        for q in range(c, e):
            y = row[unsigned(b + q)]
            row[unsigned(out + q)] = row[unsigned(a + q)] / y if y != 0.0 else math.nan
    elif o == ops.MIN:
        for q in range(c, e):
            row[unsigned(out + q)] = min(row[unsigned(a + q)], row[unsigned(b + q)])
    elif o == ops.MAX:
        for q in range(c, e):
            row[unsigned(out + q)] = max(row[unsigned(a + q)], row[unsigned(b + q)])
    elif o == ops.LT:
        for q in range(c, e):
            x, y = row[unsigned(a + q)], row[unsigned(b + q)]
            row[unsigned(out + q)] = _held(x, y, x < y)
    elif o == ops.GT:
        for q in range(c, e):
            x, y = row[unsigned(a + q)], row[unsigned(b + q)]
            row[unsigned(out + q)] = _held(x, y, x > y)
    elif o == ops.AND:
        for q in range(c, e):
            x, y = row[unsigned(a + q)], row[unsigned(b + q)]
            row[unsigned(out + q)] = _held(x, y, (x != 0.0) & (y != 0.0))
    elif o == ops.OR:
        for q in range(c, e):
            x, y = row[unsigned(a + q)], row[unsigned(b + q)]
            row[unsigned(out + q)] = _held(x, y, (x != 0.0) | (y != 0.0))
    else:
        # a < b, a == b, a > b taken or not (LE is "less or equal", NE "less or greater"...).
        lt = o == ops.LE or o == ops.NE
        eq = o == ops.LE or o == ops.GE or o == ops.EQ
        gt = o == ops.GE or o == ops.NE
        for q in range(c, e):
            x, y = row[unsigned(a + q)], row[unsigned(b + q)]
            row[unsigned(out + q)] = _held(x, y, (lt & (x < y)) | (eq & (x == y)) | (gt & (x > y)))


@inlined_loops
def _held(x, y, held):
    """A comparison's or logic opcode's value: NaN when an input is NaN, else 1.0 / 0.0."""
    return math.nan if (math.isnan(x) or math.isnan(y)) else _truth(held)


@inlined_loops
def _binary(o, mem, items, ao, am, bo, bm, oj, mj):
    """The arithmetic, comparison and logic opcodes. Bars are taken in runs where no ring
    wraps, so each run is a plain loop over consecutive memory (vectorized)."""
    for w in range(items.shape[0]):
        row = mem[items[w, 0]]
        c, c1 = items[w, 1], items[w, 2]
        if c1 - c == 1:
            # One bar (the live screener): no run to set up, no call.
            row[oj + (c & mj)] = _one(o, row[ao + (c & am)], row[bo + (c & bm)])
            continue
        while c < c1:
            e = min(c1, (c | mj) + 1, (c | am) + 1, (c | bm) + 1)
            _run(o, row, oj + (c & mj) - c, ao + (c & am) - c, bo + (c & bm) - c, c, e)
            c = e


@inlined_loops
def _one(o, x, y):
    """One bar of :func:`_run`'s opcodes (the same expressions, one value at a time)."""
    if o == ops.ADD:
        return x + y
    if o == ops.SUB:
        return x - y
    if o == ops.MUL:
        return x * y
    if o == ops.DIV:
        return x / y if y != 0.0 else math.nan
    if o == ops.MIN:
        return min(x, y)
    if o == ops.MAX:
        return max(x, y)
    if math.isnan(x) or math.isnan(y):
        return math.nan
    nx, ny = x != 0.0, y != 0.0
    if o == ops.AND:
        return _truth(nx & ny)
    if o == ops.OR:
        return _truth(nx | ny)
    lt = o == ops.LT or o == ops.LE or o == ops.NE
    eq = o == ops.LE or o == ops.GE or o == ops.EQ
    gt = o == ops.GT or o == ops.GE or o == ops.NE
    return _truth((lt & (x < y)) | (eq & (x == y)) | (gt & (x > y)))


@inlined_loops
def _trend(rising, row, ao, am, n, c):
    """RISING, FALLING: the value above (below) each of the ``n`` before it."""
    a = row[ao + (c & am)]
    if n > c or math.isnan(a):
        return math.nan
    for k in range(1, n + 1):
        x = row[ao + ((c - k) & am)]
        if math.isnan(x):
            return math.nan
        if (rising and not a > x) or (not rising and not a < x):
            return 0.0
    return 1.0


@inlined_loops
def _bar_by_bar(o, mem, items, ao, am, bo, bm, k, oj, mj):
    """LAG (``k`` bars ago), NEG, ABS, NOT, RISING / FALLING (over ``k`` bars) and the
    crossings (:func:`_crossings`); the opcode is tested once per item, not per bar."""
    if o == ops.CROSS_ABOVE or o == ops.CROSS_BELOW:
        _crossings(o == ops.CROSS_ABOVE, mem, items, ao, am, bo, bm, oj, mj)
        return
    for w in range(items.shape[0]):
        row = mem[items[w, 0]]
        c0, c1 = items[w, 1], items[w, 2]
        if o == ops.LAG:
            for c in range(c0, c1):
                row[oj + (c & mj)] = row[ao + ((c - k) & am)] if k <= c else math.nan
        elif o == ops.RISING or o == ops.FALLING:
            for c in range(c0, c1):
                row[oj + (c & mj)] = _trend(o == ops.RISING, row, ao, am, k, c)
        else:
            for c in range(c0, c1):
                a = row[ao + (c & am)]
                if o == ops.NEG:
                    v = -a
                elif o == ops.ABS:
                    v = abs(a)
                else:
                    v = math.nan if math.isnan(a) else _truth(a == 0.0)
                row[oj + (c & mj)] = v


@inlined_loops
def _crossings(above, mem, items, ao, am, bo, bm, oj, mj):
    """CROSS_ABOVE (``above``) and CROSS_BELOW (TradingView ta.crossover / ta.crossunder):
    NaN on the first bar or when a value or the bar before's is NaN. Bars are taken in runs
    where no ring wraps (the bar before each in place too), each run a plain loop over
    consecutive memory (vectorized); the first bar and a bar at a ring's start go alone."""
    for w in range(items.shape[0]):
        row = mem[items[w, 0]]
        c, c1 = items[w, 1], items[w, 2]
        while c < c1:
            if c == 0 or (c & am) == 0 or (c & bm) == 0:
                x1 = row[ao + ((c - 1) & am)] if c > 0 else math.nan
                y1 = row[bo + ((c - 1) & bm)] if c > 0 else math.nan
                row[oj + (c & mj)] = _crossed(above, row[ao + (c & am)], row[bo + (c & bm)], x1, y1)
                c += 1
                continue
            e = min(c1, (c | mj) + 1, (c | am) + 1, (c | bm) + 1)
            _cross_run(above, row, oj + (c & mj) - c, ao + (c & am) - c, bo + (c & bm) - c, c, e)
            c = e


@inlined_loops
def _crossed(above, x, y, x1, y1):
    """Whether (``x1``, ``y1``) -> (``x``, ``y``) crossed over (``above``) or under: 1.0 /
    0.0, NaN when a value is NaN."""
    held = ((x > y) & (x1 <= y1)) if above else ((x < y) & (x1 >= y1))
    nan = math.isnan(x) or math.isnan(y) or math.isnan(x1) or math.isnan(y1)
    return math.nan if nan else _truth(held)


@loops
def _cross_run(above, row, out, a, b, c, e):
    """``row[out + q]`` for ``q`` in ``c..e-1`` (``c`` >= 1): :func:`_crossed` from bar
    ``q - 1`` (at ``a + q - 1``, ``b + q - 1``) to bar ``q`` (at ``a + q``, ``b + q``)."""
    for q in range(c, e):
        x, y = row[unsigned(a + q)], row[unsigned(b + q)]
        x1, y1 = row[unsigned(a + q - 1)], row[unsigned(b + q - 1)]
        row[unsigned(out + q)] = _crossed(above, x, y, x1, y1)


@family
def block_nb(o, mem, items, st, inp, roff, rdep, p, oj, mj, tmp):
    """Step an elementwise node through the bars of ``items`` (see :mod:`kernels.ind`)."""
    i0, i1 = inp[0], inp[1]
    ao, am = roff[i0], rdep[i0] - 1
    # Unary opcodes have no second input: read the first one twice.
    bo, bm = (roff[i1], rdep[i1] - 1) if i1 >= 0 else (ao, am)
    if o in _ARITH or o in _COMPARE:
        _binary(o, mem, items, ao, am, bo, bm, oj, mj)
    else:
        _bar_by_bar(o, mem, items, ao, am, bo, bm, int(p[0]), oj, mj)
