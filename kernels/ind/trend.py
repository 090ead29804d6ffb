"""Trend and range: true range, directional movement (+DI, -DI, ADX), Supertrend.

See :mod:`kernels.ind` for the array contract. The directional-movement kernels each keep the
whole DM/TR state of TA-Lib's loops (one shared step, :func:`_dm_step`), so ``plus_di``,
``minus_di`` and ``adx`` of the same bars are independent nodes that agree with TA-Lib on their
own. ATR and NATR are not kernels: the lowering builds them as ``RMA(TRANGE, n)`` and
``(ATR / close) * 100``.
"""

from __future__ import annotations

import math

from kernels import ops
from kernels.ind.access import paired
from kernels.jit import family, inlined_loops, loops
from kernels.ops import OpSpec, Params, fixed_cost

#: TA-Lib's fixed zero band, still applied to the (dimensionless) sum of the two DIs in ADX.
_DI_EPSILON = 1e-14


@inlined_loops
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
def trange_nb(mem, items, st, inp, roff, rdep, p, oj, mj):
    """True range of (high, low, close); reference TA-Lib TRANGE: the greatest of
    ``high - low``, ``|prev close - high|`` and ``|prev close - low|``, NaN on a run's first bar
    (no previous close). State: [valid count, previous close]."""
    ho, hm = roff[inp[0]], rdep[inp[0]] - 1
    lo_, lm = roff[inp[1]], rdep[inp[1]] - 1
    co, cm = roff[inp[2]], rdep[inp[2]] - 1
    for w in range(items.shape[0]):
        row, c0, c1 = mem[items[w, 0]], items[w, 1], items[w, 2]
        seen, prev = row[st], row[st + 1]
        for c in range(c0, c1):
            h, lo, cl = row[ho + (c & hm)], row[lo_ + (c & lm)], row[co + (c & cm)]
            v = math.nan
            if math.isnan(h) or math.isnan(lo) or math.isnan(cl):
                seen, prev = 0.0, 0.0
            else:
                if seen != 0.0:
                    v = _true_range(h, lo, prev)
                seen, prev = 1.0, cl
            row[oj + (c & mj)] = v
        row[st], row[st + 1] = seen, prev


@inlined_loops
def _di_value(dm, tr, n):
    """+DI or -DI from the smoothed DM and TR, TA-Lib's output rules: 0 when TR is 0, and
    for ``n == 1`` the plain ratio DM1/TR1 (TA-Lib does not scale that case by 100)."""
    if not tr > 0.0:
        return 0.0
    if n == 1:
        return dm / tr
    return 100.0 * (dm / tr)


@inlined_loops
def _adx_step(k, n, plus, minus, tr, adx):
    """ADX's output and running value at run bar ``k`` (see :func:`adx_nb`)."""
    dx = math.nan
    if tr > 0.0:
        minus_di = 100.0 * (minus / tr)
        plus_di = 100.0 * (plus / tr)
        total = minus_di + plus_di
        if not (-_DI_EPSILON < total < _DI_EPSILON):
            dx = 100.0 * (abs(minus_di - plus_di) / total)
    if k < 2 * n - 1:
        if not math.isnan(dx):
            adx += dx
        return math.nan, adx
    if k == 2 * n - 1:
        if not math.isnan(dx):
            adx += dx
        adx = adx / n
    elif not math.isnan(dx):
        adx = (adx * (n - 1) + dx) / n
    return adx, adx


@inlined_loops
def _directional_bar(h, lo, cl, n, which, cap, m, ph, pl, pc, plus, minus, tr, adx):
    """+DI, -DI or ADX (``which`` 0, 1, 2) at one bar of (``h``, ``lo``, ``cl``) from the
    state (see :func:`_directional`): the output, then the state after it."""
    if math.isnan(h) or math.isnan(lo) or math.isnan(cl):
        return math.nan, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
    v = math.nan
    k = int(m + 1.0) - 1
    m = min(m + 1.0, cap)
    if k > 0:
        diff_p = h - ph
        diff_m = pl - lo
        # Selects, not branches (which way the bar moved is as good as random).
        is_down = (diff_m > 0) & (diff_p < diff_m)
        is_up = (not is_down) & (diff_p > 0) & (diff_p > diff_m)
        down = diff_m if is_down else 0.0
        up = diff_p if is_up else 0.0
        one = _true_range(h, lo, pc)
        # +DI needs no -DM, -DI no +DM (their divisions are most of the time).
        if k < n:
            plus += up if which != 1 else 0.0
            minus += down if which != 0 else 0.0
            tr += one
        else:
            if which != 1:
                plus = plus - plus / n + up
            if which != 0:
                minus = minus - minus / n + down
            tr = tr - tr / n + one
    if which == 2:
        if n >= 2 and k >= n:
            v, adx = _adx_step(k, n, plus, minus, tr, adx)
    elif k >= n:
        v = _di_value(plus if which == 0 else minus, tr, n)
    return v, m, h, lo, cl, plus, minus, tr, adx


@loops
def _directional(mem, items, st, inp, roff, rdep, n, oj, mj, which):
    """:func:`_directional_of`, compiled for each ``which`` (constant there: +DI and -DI
    skip the other's sums)."""
    if which == 0:
        _directional_of(mem, items, st, inp, roff, rdep, n, oj, mj, 0)
    elif which == 1:
        _directional_of(mem, items, st, inp, roff, rdep, n, oj, mj, 1)
    else:
        _directional_of(mem, items, st, inp, roff, rdep, n, oj, mj, 2)


@inlined_loops
def _directional_of(mem, items, st, inp, roff, rdep, n, oj, mj, which):
    """Directional movement of one symbol over bars ``c0..c1-1``: +DI (``which`` 0), -DI (1)
    or ADX (2), with TA-Lib's directional-movement state.

    State layout shared by PLUS_DI, MINUS_DI and ADX: [bar index + 1 (capped at ``cap``),
    previous high, previous low, previous close, +DM, -DM, TR]. Bars 1 .. n-1 of a run add up
    the one-bar +DM1/-DM1/TR1 (TA-Lib's seed); from bar n on each is Wilder-smoothed as
    ``prev - prev / n + today`` (TA-Lib's ``x -= x / n; x += today`` is the same operation).
    Two symbols stepping the same bars go side by side (:func:`kernels.ind.access.paired`).
    """
    ho, hm = roff[inp[0]], rdep[inp[0]] - 1
    lo_, lm = roff[inp[1]], rdep[inp[1]] - 1
    co, cm = roff[inp[2]], rdep[inp[2]] - 1
    cap = 2.0 * n if which == 2 else n + 1.0
    w = 0
    while w < items.shape[0]:
        row, c0, c1 = mem[items[w, 0]], items[w, 1], items[w, 2]
        m, ph, pl, pc, plus, minus, tr, adx = _dm_state(row, st, which)
        if paired(items, w):
            two = mem[items[w + 1, 0]]
            m2, ph2, pl2, pc2, plus2, minus2, tr2, adx2 = _dm_state(two, st, which)
            for c in range(c0, c1):
                i, j, q, o = ho + (c & hm), lo_ + (c & lm), co + (c & cm), oj + (c & mj)
                v, m, ph, pl, pc, plus, minus, tr, adx = _directional_bar(
                    row[i], row[j], row[q], n, which, cap, m, ph, pl, pc, plus, minus, tr, adx
                )
                v2, m2, ph2, pl2, pc2, plus2, minus2, tr2, adx2 = _directional_bar(
                    two[i],
                    two[j],
                    two[q],
                    n,
                    which,
                    cap,
                    m2,
                    ph2,
                    pl2,
                    pc2,
                    plus2,
                    minus2,
                    tr2,
                    adx2,
                )
                row[o], two[o] = v, v2
            _dm_store(two, st, which, m2, ph2, pl2, pc2, plus2, minus2, tr2, adx2)
            w += 1
        else:
            for c in range(c0, c1):
                h, lo, cl = row[ho + (c & hm)], row[lo_ + (c & lm)], row[co + (c & cm)]
                v, m, ph, pl, pc, plus, minus, tr, adx = _directional_bar(
                    h, lo, cl, n, which, cap, m, ph, pl, pc, plus, minus, tr, adx
                )
                row[oj + (c & mj)] = v
        _dm_store(row, st, which, m, ph, pl, pc, plus, minus, tr, adx)
        w += 1


@inlined_loops
def _dm_state(row, st, which):
    """The directional state of a symbol (see :func:`_directional`)."""
    adx = row[st + 7] if which == 2 else 0.0
    return (
        row[st],
        row[st + 1],
        row[st + 2],
        row[st + 3],
        row[st + 4],
        row[st + 5],
        row[st + 6],
        adx,
    )


@inlined_loops
def _dm_store(row, st, which, m, ph, pl, pc, plus, minus, tr, adx):
    """Store the directional state of a symbol (see :func:`_directional`)."""
    row[st], row[st + 1], row[st + 2], row[st + 3] = m, ph, pl, pc
    row[st + 4], row[st + 5], row[st + 6] = plus, minus, tr
    if which == 2:
        row[st + 7] = adx


@loops
def plus_di_nb(mem, items, st, inp, roff, rdep, p, oj, mj):
    """+DI of (high, low, close); reference TA-Lib PLUS_DI (+DM1/TR1 summed over the first
    ``n - 1`` one-bar moves, then Wilder-smoothed; ``100 * +DM / TR``; first value at bar ``n``).
    State: see :func:`_dm_step` (7 slots)."""
    _directional(mem, items, st, inp, roff, rdep, int(p[0]), oj, mj, 0)


@loops
def minus_di_nb(mem, items, st, inp, roff, rdep, p, oj, mj):
    """-DI of (high, low, close); reference TA-Lib MINUS_DI (as :func:`plus_di_nb` with -DM).
    State: see :func:`_dm_step` (7 slots)."""
    _directional(mem, items, st, inp, roff, rdep, int(p[0]), oj, mj, 1)


@loops
def adx_nb(mem, items, st, inp, roff, rdep, p, oj, mj):
    """Average directional index of (high, low, close); reference TA-Lib ADX: DX = 100 *
    |-DI - +DI| / (-DI + +DI) on the smoothed DM/TR; the first ADX (bar ``2n - 1``) is the sum
    of the first ``n`` DX divided by ``n``, then ``(prev * (n - 1) + DX) / n``. As in TA-Lib, a
    bar whose TR is 0 or whose DI sum is within 1e-14 of 0 contributes no DX (the seed sum skips
    it, the running ADX keeps its value). ``n < 2`` is invalid in TA-Lib: output NaN.
    State: see :func:`_dm_step` (7 slots), then [DX sum until bar 2n - 1, then ADX]."""
    _directional(mem, items, st, inp, roff, rdep, int(p[0]), oj, mj, 2)


@loops
def supertrend_nb(mem, items, st, inp, roff, rdep, p, oj, mj):
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
    ho, hm = roff[inp[0]], rdep[inp[0]] - 1
    co, cm = roff[inp[1]], rdep[inp[1]] - 1
    ao, am = roff[inp[2]], rdep[inp[2]] - 1
    factor = p[0]
    for w in range(items.shape[0]):
        row, c0, c1 = mem[items[w, 0]], items[w, 1], items[w, 2]
        seen, prev_upper, prev_lower, prev_line = row[st], row[st + 1], row[st + 2], row[st + 3]
        for c in range(c0, c1):
            hl2, close, atr = row[ho + (c & hm)], row[co + (c & cm)], row[ao + (c & am)]
            if math.isnan(hl2) or math.isnan(close) or math.isnan(atr):
                seen, prev_upper, prev_lower, prev_line = 0.0, 0.0, 0.0, 0.0
                row[oj + (c & mj)] = math.nan
                continue
            upper = hl2 + factor * atr
            lower = hl2 - factor * atr
            prev_close = row[co + ((c - 1) & cm)] if c >= 1 else math.nan
            if not (lower > prev_lower or prev_close < prev_lower):
                lower = prev_lower
            if not (upper < prev_upper or prev_close > prev_upper):
                upper = prev_upper
            if seen == 0.0:
                up = False
            elif prev_line == prev_upper:
                up = close > upper
            else:
                up = not close < lower
            line = lower if up else upper
            seen, prev_upper, prev_lower, prev_line = 1.0, upper, lower, line
            row[oj + (c & mj)] = line if p[1] == 0.0 else (1.0 if up else -1.0)
        row[st], row[st + 1], row[st + 2], row[st + 3] = seen, prev_upper, prev_lower, prev_line


@family
def block_nb(o, mem, items, st, inp, roff, rdep, p, oj, mj, tmp):
    """Step a node of this family through the bars of ``items`` (see :mod:`kernels.ind`)."""
    if o == ops.TRANGE:
        trange_nb(mem, items, st, inp, roff, rdep, p, oj, mj)
    elif o == ops.PLUS_DI:
        plus_di_nb(mem, items, st, inp, roff, rdep, p, oj, mj)
    elif o == ops.MINUS_DI:
        minus_di_nb(mem, items, st, inp, roff, rdep, p, oj, mj)
    elif o == ops.ADX:
        adx_nb(mem, items, st, inp, roff, rdep, p, oj, mj)
    elif o == ops.SUPERTREND:
        supertrend_nb(mem, items, st, inp, roff, rdep, p, oj, mj)


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
