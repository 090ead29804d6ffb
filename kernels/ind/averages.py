"""Moving averages and sums: SMA, EMA, WMA, RMA (Wilder), SUM.

See :mod:`kernels.ind` for the array contract. Each kernel mirrors its reference's arithmetic
order, so stepping from the first bar reproduces it to the last bit in practice.
"""

from __future__ import annotations

import math

from numba import njit

from kernels import ops
from kernels.ind.access import ago as _ago
from kernels.ind.access import cur as _cur
from kernels.jit import loops
from kernels.ops import OpSpec, Params, fixed_cost


@loops
def sum_nb(row, st, c, inp, roff, rdep, p):
    """Rolling sum; reference TA-Lib SUM (running total: add, emit, drop the trailing value).

    State: [valid count, running total].
    """
    n = int(p[0])
    x = _cur(row, roff, rdep, inp[0], c)
    if math.isnan(x):
        row[st] = 0.0
        row[st + 1] = 0.0
        return math.nan
    m = min(row[st] + 1.0, n)
    row[st] = m
    total = row[st + 1] + x
    if m < n:
        row[st + 1] = total
        return math.nan
    row[st + 1] = total - _ago(row, roff, rdep, inp[0], c, n - 1)
    return total


@loops
def sma_nb(row, st, c, inp, roff, rdep, p):
    """Simple moving average; reference TA-Lib SMA (its running total divided by ``n``).

    State: as :func:`sum_nb`.
    """
    return sum_nb(row, st, c, inp, roff, rdep, p) / int(p[0])


@njit(cache=True, nogil=True, inline="always")
def _smoothed(row, st, c, inp, roff, rdep, p, wilder):
    """A recursive average seeded with the SMA of its first ``n`` values: EMA's
    ``prev + (x - prev) * 2 / (n + 1)`` or, with ``wilder``, ``(prev * (n - 1) + x) / n``.
    State: [valid count, sum of the seed values, then the value]."""
    n = int(p[0])
    x = _cur(row, roff, rdep, inp[0], c)
    if math.isnan(x):
        row[st] = 0.0
        row[st + 1] = 0.0
        return math.nan
    m = row[st] + 1.0
    if m < n:
        row[st] = m
        row[st + 1] += x
        return math.nan
    if m == n:
        row[st] = m
        prev = (row[st + 1] + x) / n
    elif wilder:
        prev = (row[st + 1] * (n - 1) + x) / n
    else:
        prev = row[st + 1]
        prev = ((x - prev) * (2.0 / (n + 1))) + prev
    row[st + 1] = prev
    return prev


@loops
def ema_nb(row, st, c, inp, roff, rdep, p):
    """Exponential moving average; reference TA-Lib EMA (SMA seed, then
    ``prev + (x - prev) * 2 / (n + 1)``). State: [valid count, value]."""
    return _smoothed(row, st, c, inp, roff, rdep, p, False)


@loops
def rma_nb(row, st, c, inp, roff, rdep, p):
    """Wilder's moving average; reference TradingView ta.rma and TA-Lib ATR's smoothing
    (SMA seed, then ``(prev * (n - 1) + x) / n``). State: [valid count, value]."""
    return _smoothed(row, st, c, inp, roff, rdep, p, True)


@loops
def wma_nb(row, st, c, inp, roff, rdep, p):
    """Linearly weighted moving average; reference TA-Lib WMA (running ``periodSum`` and
    ``periodSub``). State: [valid count, periodSub, periodSum, trailing value]."""
    n = int(p[0])
    x = _cur(row, roff, rdep, inp[0], c)
    if math.isnan(x):
        row[st] = 0.0
        row[st + 1] = 0.0
        row[st + 2] = 0.0
        row[st + 3] = 0.0
        return math.nan
    m = min(row[st] + 1.0, n)
    row[st] = m
    if m < n:
        row[st + 1] += x
        row[st + 2] += x * m
        return math.nan
    period_sub = row[st + 1] + x - row[st + 3]
    period_sum = row[st + 2] + x * n
    row[st + 3] = _ago(row, roff, rdep, inp[0], c, n - 1)
    out = period_sum / ((n * (n + 1)) >> 1)
    row[st + 1] = period_sub
    row[st + 2] = period_sum - period_sub
    return out


@loops
def block_nb(o, mem, items, st, inp, roff, rdep, p, oj, mj):
    """Step a node of this family through the bars of ``items`` (see :mod:`kernels.ind`)."""
    if o == ops.SMA:
        for w in range(items.shape[0]):
            row = mem[items[w, 0]]
            for c in range(items[w, 1], items[w, 2]):
                row[oj + (c & mj)] = sma_nb(row, st, c, inp, roff, rdep, p)
    elif o == ops.EMA:
        for w in range(items.shape[0]):
            row = mem[items[w, 0]]
            for c in range(items[w, 1], items[w, 2]):
                row[oj + (c & mj)] = ema_nb(row, st, c, inp, roff, rdep, p)
    elif o == ops.WMA:
        for w in range(items.shape[0]):
            row = mem[items[w, 0]]
            for c in range(items[w, 1], items[w, 2]):
                row[oj + (c & mj)] = wma_nb(row, st, c, inp, roff, rdep, p)
    elif o == ops.RMA:
        for w in range(items.shape[0]):
            row = mem[items[w, 0]]
            for c in range(items[w, 1], items[w, 2]):
                row[oj + (c & mj)] = rma_nb(row, st, c, inp, roff, rdep, p)
    elif o == ops.SUM:
        for w in range(items.shape[0]):
            row = mem[items[w, 0]]
            for c in range(items[w, 1], items[w, 2]):
                row[oj + (c & mj)] = sum_nb(row, st, c, inp, roff, rdep, p)


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
