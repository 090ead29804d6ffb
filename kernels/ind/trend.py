"""Trend and range: true range, directional movement (+DI, -DI, ADX), Supertrend.

See :mod:`kernels.ind` for the array contract. The directional-movement kernels each keep the
whole DM/TR state of TA-Lib's loops (one shared step, :func:`_dm_step`), so ``plus_di``,
``minus_di`` and ``adx`` of the same bars are independent nodes that agree with TA-Lib on their
own. ATR and NATR are not kernels: the lowering builds them as ``RMA(TRANGE, n)`` and
``(ATR / close) * 100``.
"""

from __future__ import annotations

import math

from numba import njit

from kernels import ops
from kernels.ind.access import ago, cur
from kernels.jit import loops
from kernels.ops import OpSpec, Params, fixed_cost

#: TA-Lib's fixed zero band, still applied to the (dimensionless) sum of the two DIs in ADX.
_DI_EPSILON = 1e-14


@njit(cache=True, nogil=True, inline="always")
def reset(row, st, size):
    """Clear a kernel's ``size`` state slots after a NaN input; returns the NaN it outputs."""
    for i in range(size):
        row[st + i] = 0.0
    return math.nan


@njit(cache=True, nogil=True, inline="always")
def _true_range(h, lo, prev_close):
    """TA-Lib's true range: ``h - lo``, raised to ``|prev_close - h|``, then to
    ``|prev_close - lo|`` where greater."""
    greatest = h - lo
    val2 = abs(prev_close - h)
    if val2 > greatest:
        greatest = val2
    val3 = abs(prev_close - lo)
    if val3 > greatest:
        greatest = val3
    return greatest


@loops
def trange_nb(row, st, c, inp, roff, rdep, p):
    """True range of (high, low, close); reference TA-Lib TRANGE: the greatest of
    ``high - low``, ``|prev close - high|`` and ``|prev close - low|``, NaN on a run's first bar
    (no previous close). State: [valid count, previous close]."""
    h = cur(row, roff, rdep, inp[0], c)
    lo = cur(row, roff, rdep, inp[1], c)
    cl = cur(row, roff, rdep, inp[2], c)
    if math.isnan(h) or math.isnan(lo) or math.isnan(cl):
        return reset(row, st, 2)
    first = row[st] == 0.0
    prev = row[st + 1]
    row[st] = 1.0
    row[st + 1] = cl
    if first:
        return math.nan
    return _true_range(h, lo, prev)


@loops
def _dm_step(row, st, c, inp, roff, rdep, n, cap):
    """Advance TA-Lib's directional-movement state by one bar; returns the run's bar index
    ``k`` (0 = first bar of the run), or -1 after a NaN input reset the state.

    State layout shared by PLUS_DI, MINUS_DI and ADX: [bar index + 1 (capped at ``cap``),
    previous high, previous low, previous close, +DM, -DM, TR]. Bars 1 .. n-1 of a run add up
    the one-bar +DM1/-DM1/TR1 (TA-Lib's seed); from bar n on each is Wilder-smoothed as
    ``prev - prev / n + today`` (TA-Lib's ``x -= x / n; x += today`` is the same operation).
    """
    h = cur(row, roff, rdep, inp[0], c)
    lo = cur(row, roff, rdep, inp[1], c)
    cl = cur(row, roff, rdep, inp[2], c)
    if math.isnan(h) or math.isnan(lo) or math.isnan(cl):
        reset(row, st, 7)
        return -1
    m = row[st] + 1.0
    row[st] = min(m, cap)
    k = int(m) - 1
    prev_high = row[st + 1]
    prev_low = row[st + 2]
    prev_close = row[st + 3]
    row[st + 1] = h
    row[st + 2] = lo
    row[st + 3] = cl
    if k == 0:
        return 0
    diff_p = h - prev_high
    diff_m = prev_low - lo
    plus = 0.0
    minus = 0.0
    if diff_m > 0 and diff_p < diff_m:
        minus = diff_m
    elif diff_p > 0 and diff_p > diff_m:
        plus = diff_p
    tr = _true_range(h, lo, prev_close)
    if k < n:
        row[st + 4] += plus
        row[st + 5] += minus
        row[st + 6] += tr
    else:
        pdm = row[st + 4]
        mdm = row[st + 5]
        ttr = row[st + 6]
        row[st + 4] = pdm - pdm / n + plus
        row[st + 5] = mdm - mdm / n + minus
        row[st + 6] = ttr - ttr / n + tr
    return k


@loops
def _di(row, st, c, inp, roff, rdep, p, slot):
    """Advance the DM state, then +DI (``slot`` 4) or -DI (``slot`` 5) with TA-Lib's output
    rules: NaN before bar ``n``, 0 when the smoothed TR is 0, and for ``n == 1`` the plain ratio
    DM1/TR1 (TA-Lib does not scale that case by 100)."""
    n = int(p[0])
    if _dm_step(row, st, c, inp, roff, rdep, n, n + 1.0) < n:
        return math.nan
    tr = row[st + 6]
    if not tr > 0.0:
        return 0.0
    if n == 1:
        return row[st + slot] / tr
    return 100.0 * (row[st + slot] / tr)


@loops
def plus_di_nb(row, st, c, inp, roff, rdep, p):
    """+DI of (high, low, close); reference TA-Lib PLUS_DI (+DM1/TR1 summed over the first
    ``n - 1`` one-bar moves, then Wilder-smoothed; ``100 * +DM / TR``; first value at bar ``n``).
    State: see :func:`_dm_step` (7 slots)."""
    return _di(row, st, c, inp, roff, rdep, p, 4)


@loops
def minus_di_nb(row, st, c, inp, roff, rdep, p):
    """-DI of (high, low, close); reference TA-Lib MINUS_DI (as :func:`plus_di_nb` with -DM).
    State: see :func:`_dm_step` (7 slots)."""
    return _di(row, st, c, inp, roff, rdep, p, 5)


@loops
def adx_nb(row, st, c, inp, roff, rdep, p):
    """Average directional index of (high, low, close); reference TA-Lib ADX: DX = 100 *
    |-DI - +DI| / (-DI + +DI) on the smoothed DM/TR; the first ADX (bar ``2n - 1``) is the sum
    of the first ``n`` DX divided by ``n``, then ``(prev * (n - 1) + DX) / n``. As in TA-Lib, a
    bar whose TR is 0 or whose DI sum is within 1e-14 of 0 contributes no DX (the seed sum skips
    it, the running ADX keeps its value). ``n < 2`` is invalid in TA-Lib: output NaN.
    State: see :func:`_dm_step` (7 slots), then [DX sum until bar 2n - 1, then ADX]."""
    n = int(p[0])
    k = _dm_step(row, st, c, inp, roff, rdep, n, 2.0 * n)
    if k < 0:
        row[st + 7] = 0.0
        return math.nan
    if n < 2 or k < n:
        return math.nan
    dx = math.nan
    tr = row[st + 6]
    if tr > 0.0:
        minus_di = 100.0 * (row[st + 5] / tr)
        plus_di = 100.0 * (row[st + 4] / tr)
        total = minus_di + plus_di
        if not (-_DI_EPSILON < total < _DI_EPSILON):
            dx = 100.0 * (abs(minus_di - plus_di) / total)
    if k < 2 * n - 1:
        if not math.isnan(dx):
            row[st + 7] += dx
        return math.nan
    if k == 2 * n - 1:
        if not math.isnan(dx):
            row[st + 7] += dx
        row[st + 7] = row[st + 7] / n
    elif not math.isnan(dx):
        row[st + 7] = (row[st + 7] * (n - 1) + dx) / n
    return row[st + 7]


@loops
def supertrend_nb(row, st, c, inp, roff, rdep, p):
    """Supertrend of (hl2, close, atr) with ``p = (factor, which)``; reference TradingView
    ta.supertrend. Bands ``hl2 ± factor * atr`` ratchet: the lower band only rises unless the
    previous close fell below it, the upper band only falls unless the previous close rose above
    it. On a run's first bar the previous bands count as 0 (Pine's ``nz``) and the trend is
    down; then it turns up when close breaks above the upper band and down when it breaks
    below the lower band. The line is the lower band in an uptrend, the upper one in a
    downtrend.

    ``which`` 0 returns the line, 1 the direction: **+1 = uptrend, -1 = downtrend** (TradingView
    returns the opposite sign: -1 for up). The previous close is read from the close ring, so
    the first bar after the ATR's warm-up compares against the real previous close, as in Pine.
    State: [valid flag, upper band, lower band, line] of the previous bar.
    """
    hl2 = cur(row, roff, rdep, inp[0], c)
    close = cur(row, roff, rdep, inp[1], c)
    atr = cur(row, roff, rdep, inp[2], c)
    if math.isnan(hl2) or math.isnan(close) or math.isnan(atr):
        return reset(row, st, 4)
    factor = p[0]
    upper = hl2 + factor * atr
    lower = hl2 - factor * atr
    first = row[st] == 0.0
    prev_upper = row[st + 1]
    prev_lower = row[st + 2]
    prev_line = row[st + 3]
    prev_close = ago(row, roff, rdep, inp[1], c, 1) if c >= 1 else math.nan
    if not (lower > prev_lower or prev_close < prev_lower):
        lower = prev_lower
    if not (upper < prev_upper or prev_close > prev_upper):
        upper = prev_upper
    if first:
        up = False
    elif prev_line == prev_upper:
        up = close > upper
    else:
        up = not close < lower
    line = lower if up else upper
    row[st] = 1.0
    row[st + 1] = upper
    row[st + 2] = lower
    row[st + 3] = line
    if p[1] == 0.0:
        return line
    return 1.0 if up else -1.0


@loops
def block_nb(o, mem, items, st, inp, roff, rdep, p, oj, mj):
    """Step a node of this family through the bars of ``items`` (see :mod:`kernels.ind`)."""
    if o == ops.TRANGE:
        for w in range(items.shape[0]):
            row = mem[items[w, 0]]
            for c in range(items[w, 1], items[w, 2]):
                row[oj + (c & mj)] = trange_nb(row, st, c, inp, roff, rdep, p)
    elif o == ops.PLUS_DI:
        for w in range(items.shape[0]):
            row = mem[items[w, 0]]
            for c in range(items[w, 1], items[w, 2]):
                row[oj + (c & mj)] = plus_di_nb(row, st, c, inp, roff, rdep, p)
    elif o == ops.MINUS_DI:
        for w in range(items.shape[0]):
            row = mem[items[w, 0]]
            for c in range(items[w, 1], items[w, 2]):
                row[oj + (c & mj)] = minus_di_nb(row, st, c, inp, roff, rdep, p)
    elif o == ops.ADX:
        for w in range(items.shape[0]):
            row = mem[items[w, 0]]
            for c in range(items[w, 1], items[w, 2]):
                row[oj + (c & mj)] = adx_nb(row, st, c, inp, roff, rdep, p)
    elif o == ops.SUPERTREND:
        for w in range(items.shape[0]):
            row = mem[items[w, 0]]
            for c in range(items[w, 1], items[w, 2]):
                row[oj + (c & mj)] = supertrend_nb(row, st, c, inp, roff, rdep, p)


def _n(p: Params) -> int:
    return int(p[0])


def _cur3(_: Params) -> tuple[int, ...]:
    return (1, 1, 1)


def _di_warmup(p: Params) -> int:
    # TA-Lib's lookback (n; 1 when n == 1) plus 5n bars for the seed sums' weight in the
    # Wilder-smoothed DM and TR to fall under ~0.7 % (as averages._wilder).
    n = _n(p)
    return n + 5 * n if n > 1 else 1


def _adx_warmup(p: Params) -> int:
    # Lookback 2n - 1, then two stacked Wilder smoothings (DM/TR feed DX, DX feeds ADX): a seed
    # error decays like (k / n) * (1 - 1/n)^k, which needs ~7n bars to fall under ~0.7 %.
    n = _n(p)
    return 2 * n - 1 + 7 * n


SPECS: dict[int, OpSpec] = {
    ops.TRANGE: OpSpec("trange", 3, lambda _p: 2, _cur3, lambda _p: 1, "TA-Lib TRANGE"),
    ops.PLUS_DI: OpSpec(
        "plus_di", 3, lambda _p: 7, _cur3, _di_warmup, "TA-Lib PLUS_DI", fixed_cost(5)
    ),
    ops.MINUS_DI: OpSpec(
        "minus_di", 3, lambda _p: 7, _cur3, _di_warmup, "TA-Lib MINUS_DI", fixed_cost(5)
    ),
    ops.ADX: OpSpec("adx", 3, lambda _p: 8, _cur3, _adx_warmup, "TA-Lib ADX", fixed_cost(10)),
    # Inputs (hl2, close, atr): close is read one bar back. The ratchet has no fixed memory
    # (a band holds until price closes through it); one bar settles the first direction.
    ops.SUPERTREND: OpSpec(
        "supertrend",
        3,
        lambda _p: 4,
        lambda _p: (1, 2, 1),
        lambda _p: 1,
        "TradingView ta.supertrend",
        fixed_cost(8),
    ),
}

#: Opcodes this family runs (see :mod:`kernels.families`).
OPCODES = tuple(SPECS)
