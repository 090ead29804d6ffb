"""Oscillators: RSI, the MACD line, stochastic %K, ROC, Williams %R, CCI, MFI.

See :mod:`kernels.ind` for the array contract.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import cast

from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from kernels import ops
from kernels.ind.access import paired, unsigned
from kernels.ind.cci import cci_nb
from kernels.ind.stats import track
from kernels.ind.windows import MIN_BLOCK, in_place, newest, prefixes, suffixes, window
from kernels.jit import family, inlined_loops, loops
from kernels.ops import OpSpec, Params, fixed_cost, scan_cost


@inlined_loops
def _rsi_bar(x, n, m, last, gain, loss):
    """RSI at one bar of value ``x`` from the state (see :func:`rsi_nb`): the output, then
    the state after it."""
    if math.isnan(x):
        return math.nan, 0.0, 0.0, 0.0, 0.0
    diff = x - last
    last = x
    if m + 1.0 == 1.0:
        return math.nan, 1.0, last, gain, loss
    if m + 1.0 <= n + 1:
        if diff < 0:
            loss -= diff
        else:
            gain += diff
        m += 1.0
        if m < n + 1:
            return math.nan, m, last, gain, loss
        loss /= n
        gain /= n
    else:
        loss *= n - 1
        gain *= n - 1
        if diff < 0:
            loss -= diff
        else:
            gain += diff
        loss /= n
        gain /= n
    total = gain + loss
    return (100.0 * (gain / total) if total != 0.0 else 0.0), m, last, gain, loss


@loops
def rsi_nb(mem, items, st, inp, roff, rdep, p, oj, mj):
    """Relative strength index; reference TA-Lib RSI (Wilder averages of gains and losses,
    seeded with their plain mean over the first ``n`` changes; 0 when both are 0).
    State: [valid count, previous value, average gain, average loss]. Two symbols stepping
    the same bars go side by side (:func:`kernels.ind.access.paired`)."""
    n = int(p[0])
    xo, xm = roff[inp[0]], rdep[inp[0]] - 1
    w = 0
    while w < items.shape[0]:
        row, c0, c1 = mem[items[w, 0]], items[w, 1], items[w, 2]
        m, last, gain, loss = row[st], row[st + 1], row[st + 2], row[st + 3]
        if paired(items, w):
            other = mem[items[w + 1, 0]]
            m2, last2, gain2, loss2 = other[st], other[st + 1], other[st + 2], other[st + 3]
            for c in range(c0, c1):
                i, o = xo + (c & xm), oj + (c & mj)
                v, m, last, gain, loss = _rsi_bar(row[i], n, m, last, gain, loss)
                v2, m2, last2, gain2, loss2 = _rsi_bar(other[i], n, m2, last2, gain2, loss2)
                row[o], other[o] = v, v2
            other[st], other[st + 1], other[st + 2], other[st + 3] = m2, last2, gain2, loss2
            w += 1
        else:
            for c in range(c0, c1):
                v, m, last, gain, loss = _rsi_bar(row[xo + (c & xm)], n, m, last, gain, loss)
                row[oj + (c & mj)] = v
        row[st], row[st + 1], row[st + 2], row[st + 3] = m, last, gain, loss
        w += 1


def _fma_typer(typingctx, a, b, c):
    if not all(t == types.float64 for t in (a, b, c)):
        return None
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        f64 = ir.DoubleType()
        fn = builder.module.declare_intrinsic("llvm.fma", [f64], ir.FunctionType(f64, [f64] * 3))
        return builder.call(fn, args)

    return sig, codegen


#: ``fma(a, b, c)``: ``a * b + c`` rounded once, in numba code (LLVM's ``llvm.fma``: the FMA
#: instruction, or libm's correctly rounded ``fma`` on CPUs without one, so results do not
#: depend on the CPU).
fma = cast("Callable[[float, float, float], float]", intrinsic(_fma_typer))


@inlined_loops
def _macd_bar(x, fast, slow, k_fast, k_slow, m, ema_fast, ema_slow):
    """The MACD line at one bar of value ``x`` from the state (see :func:`macdline_nb`): the
    output, then the state after it."""
    v = math.nan
    if math.isnan(x):
        m, ema_fast, ema_slow = 0.0, 0.0, 0.0
    elif m + 1.0 <= slow:
        m += 1.0
        if m > slow - fast:
            ema_fast += x
        ema_slow += x
        if m >= slow:
            ema_fast /= fast
            ema_slow /= slow
            v = ema_fast - ema_slow
    else:
        ema_fast = fma(x - ema_fast, k_fast, ema_fast)
        ema_slow = fma(x - ema_slow, k_slow, ema_slow)
        v = ema_fast - ema_slow
    return v, m, ema_fast, ema_slow


@loops
def macdline_nb(mem, items, st, inp, roff, rdep, p, oj, mj):
    """MACD line, fast EMA - slow EMA; reference TA-Lib MACD ``outMACD`` (default
    compatibility). Periods are swapped when ``slow < fast``, as TA-Lib does. Both EMAs are
    seeded with a plain mean on the same bar, the ``slow``-th: the slow one over its first
    ``slow`` values, the fast one over the last ``fast`` of them; then
    ``(x - prev) * k + prev`` with ``k = 2 / (period + 1)``, fused into one rounding as the
    TA-Lib 0.8 wheel does on FMA-capable CPUs (its ``TA_MACD.fma`` clone; TA-Lib on a CPU
    without FMA rounds twice and differs by an ulp now and then). The line is valid from the
    seed bar on (TA-Lib computes these values too but emits them only from the signal's
    lookback on: ``talib.MACD(x, fast, slow, 1)[0]`` shows them all).
    State: [valid count, fast sum then fast EMA, slow sum then slow EMA]. Two symbols stepping
    the same bars go side by side (:func:`kernels.ind.access.paired`)."""
    fast = int(p[0])
    slow = int(p[1])
    if slow < fast:
        fast, slow = slow, fast
    k_fast, k_slow = 2.0 / (fast + 1), 2.0 / (slow + 1)
    xo, xm = roff[inp[0]], rdep[inp[0]] - 1
    w = 0
    while w < items.shape[0]:
        row, c0, c1 = mem[items[w, 0]], items[w, 1], items[w, 2]
        m, ema_fast, ema_slow = row[st], row[st + 1], row[st + 2]
        if paired(items, w):
            two = mem[items[w + 1, 0]]
            m2, fast2, slow2 = two[st], two[st + 1], two[st + 2]
            for c in range(c0, c1):
                i, o = xo + (c & xm), oj + (c & mj)
                v, m, ema_fast, ema_slow = _macd_bar(
                    row[i], fast, slow, k_fast, k_slow, m, ema_fast, ema_slow
                )
                v2, m2, fast2, slow2 = _macd_bar(
                    two[i], fast, slow, k_fast, k_slow, m2, fast2, slow2
                )
                row[o], two[o] = v, v2
            two[st], two[st + 1], two[st + 2] = m2, fast2, slow2
            w += 1
        else:
            for c in range(c0, c1):
                v, m, ema_fast, ema_slow = _macd_bar(
                    row[xo + (c & xm)], fast, slow, k_fast, k_slow, m, ema_fast, ema_slow
                )
                row[oj + (c & mj)] = v
        row[st], row[st + 1], row[st + 2] = m, ema_fast, ema_slow
        w += 1


@inlined_loops
def _flat(a, b):
    # TA-Lib's TA_IS_ZERO_SCALED(a - b, |a| + |b|): a range within ~90 ulp of its extremes.
    return abs(a - b) <= 1e-14 * (abs(a) + abs(b))


@inlined_loops
def _hlc_value(hb, lb, cl, williams):
    """%K (or, with ``williams``, %R) of ``cl`` in the range ``lb .. hb``: 0 when flat."""
    if _flat(hb, lb):
        return 0.0
    if williams:
        return ((cl - hb) / (hb - lb)) * 100.0
    return ((cl - lb) / (hb - lb)) * 100.0


@inlined_loops
def _hlc_block(row, inputs, c0, c1, n, oj, mj, williams, tmp):
    """:func:`_hlc` at bars ``c0 .. c1 - 1`` of a warm symbol, written: the highest high and
    lowest low of each window by :mod:`kernels.ind.windows` (the same values as ``track``'s),
    then every bar's value in one loop. Returns whether an input was NaN (the outputs are
    then not to be used), and the last window's highest and lowest."""
    ho, hm, lo_, lm, co, cm = inputs
    nb = c1 - c0
    suffixes(row, ho, hm, lo_, lm, c0, nb, n, True, True, tmp)
    bad = prefixes(row, ho, hm, lo_, lm, c0, nb, n, True, True, tmp, 2 * nb)
    if in_place(co, cm, c0, nb) and in_place(oj, mj, c0, nb):
        # Both rings in place: one plain loop (vectorized, the divisions too).
        close, out = co + (c0 & cm), oj + (c0 & mj)
        for i in range(nb):
            cl = row[unsigned(close + i)]
            bad |= math.isnan(cl)
            hb, lb = window(tmp, 0, nb, i, True, False), window(tmp, 0, nb, i, True, True)
            row[unsigned(out + i)] = _hlc_value(hb, lb, cl, williams)
    else:
        for i in range(nb):
            cl = row[unsigned(co + ((c0 + i) & cm))]
            bad |= math.isnan(cl)
            hb, lb = window(tmp, 0, nb, i, True, False), window(tmp, 0, nb, i, True, True)
            row[unsigned(oj + ((c0 + i) & mj))] = _hlc_value(hb, lb, cl, williams)
    return bad, window(tmp, 0, nb, nb - 1, True, False), window(tmp, 0, nb, nb - 1, True, True)


@loops
def _hlc(mem, items, st, inp, roff, rdep, n, oj, mj, williams, tmp):
    """Stochastic %K (or, with ``williams``, Williams %R) of the (high, low, close) inputs over
    the last ``n`` bars; NaN while fewer than ``n`` valid bars were seen (any NaN input
    resets), 0 when the window is flat. State: [valid count, highest high and its bar,
    lowest low and its bar] (see :func:`kernels.ind.stats.track`). A warm symbol's block of
    at least :data:`~kernels.ind.windows.MIN_BLOCK` bars goes through :func:`_hlc_block` when
    ``tmp`` has room (and no input is NaN); its state after is the one ``track`` leaves."""
    ho, hm = roff[inp[0]], rdep[inp[0]] - 1
    lo_, lm = roff[inp[1]], rdep[inp[1]] - 1
    co, cm = roff[inp[2]], rdep[inp[2]] - 1
    for w in range(items.shape[0]):
        row, c0, c1 = mem[items[w, 0]], items[w, 1], items[w, 2]
        m, hb, lb = row[st], row[st + 1], row[st + 3]
        hbar, lbar = int(row[st + 2]), int(row[st + 4])
        if m >= n and c1 - c0 >= MIN_BLOCK and tmp.shape[0] >= 4 * (c1 - c0):
            inputs = (ho, hm, lo_, lm, co, cm)
            bad, high, low = _hlc_block(row, inputs, c0, c1, n, oj, mj, williams, tmp)
            if not bad:
                row[st + 1], row[st + 3] = high, low
                row[st + 2] = newest(row, ho, hm, c1 - 1, n, high, True)
                row[st + 4] = newest(row, lo_, lm, c1 - 1, n, low, False)
                continue
        for c in range(c0, c1):
            h, lo, cl = row[ho + (c & hm)], row[lo_ + (c & lm)], row[co + (c & cm)]
            v = math.nan
            if math.isnan(h) or math.isnan(lo) or math.isnan(cl):
                m = 0.0
            else:
                full = m >= n
                m = min(m + 1.0, n)
                if m >= n:
                    hb, hbar = track(row, ho, hm, c, n, h, hb, hbar, True, not full)
                    lb, lbar = track(row, lo_, lm, c, n, lo, lb, lbar, False, not full)
                    v = _hlc_value(hb, lb, cl, williams)
            row[oj + (c & mj)] = v
        row[st], row[st + 1], row[st + 2], row[st + 3], row[st + 4] = m, hb, hbar, lb, lbar


@loops
def stochk_nb(mem, items, st, inp, roff, rdep, p, oj, mj, tmp):
    """Fast stochastic %K of (high, low, close); reference TA-Lib STOCHF ``outFastK`` as
    TA-Lib 0.8 computes it: ``((close - lowest) / (highest - lowest)) * 100`` (older
    releases divided by ``(highest - lowest) / 100``, which rounds differently), 0 when the
    window is flat (``|highest - lowest| <= 1e-14 * (|highest| + |lowest|)``, TA-Lib 0.8's
    scaled guard). State: see :func:`_hlc_window`."""
    _hlc(mem, items, st, inp, roff, rdep, int(p[0]), oj, mj, False, tmp)


@loops
def roc_nb(mem, items, st, inp, roff, rdep, p, oj, mj):
    """Rate of change in percent, ``(x / x[n] - 1) * 100``; reference TA-Lib ROC (0 when
    ``x[n] == 0``). State: [valid count]."""
    n = int(p[0])
    xo, xm = roff[inp[0]], rdep[inp[0]] - 1
    for w in range(items.shape[0]):
        row, c0, c1 = mem[items[w, 0]], items[w, 1], items[w, 2]
        m = row[st]
        for c in range(c0, c1):
            x = row[xo + (c & xm)]
            v = math.nan
            if math.isnan(x):
                m = 0.0
            else:
                m = min(m + 1.0, n + 1)
                if m > n:
                    prev = row[xo + ((c - n) & xm)]
                    v = (x / prev - 1.0) * 100.0 if prev != 0.0 else 0.0
            row[oj + (c & mj)] = v
        row[st] = m


@loops
def willr_nb(mem, items, st, inp, roff, rdep, p, oj, mj, tmp):
    """Williams %R of (high, low, close); reference TA-Lib WILLR as TA-Lib 0.8 computes it:
    ``((close - highest) / (highest - lowest)) * 100``, 0 when the window is flat (same
    scaled guard as :func:`stochk_nb`). State: see :func:`_hlc_window`."""
    _hlc(mem, items, st, inp, roff, rdep, int(p[0]), oj, mj, True, tmp)


@inlined_loops
def _mfi_bar(row, st, n, x, vol, m, last, pos, neg, idle, k):
    """MFI at one bar of (``x``, ``vol``) from the state (see :func:`mfi_nb`; the flows at
    slot ``k`` written in ``row``): the output, then the state after it."""
    if math.isnan(x) or math.isnan(vol):
        return math.nan, 0.0, 0.0, 0.0, 0.0, 0.0, 0
    prev = last
    last = x
    if m + 1.0 == 1.0:
        return math.nan, 1.0, last, pos, neg, idle, k
    pos_at, neg_at = st + 6 + k, st + 6 + n + k
    if m + 1.0 > n + 1:
        pos -= row[pos_at]
        neg -= row[neg_at]
    move = x - prev
    flow = 0.0 if abs(move) <= 1e-14 * (abs(x) + abs(prev)) else x * vol
    pos_flow = 0.0 if move < 0.0 else flow
    neg_flow = flow if move < 0.0 else 0.0
    row[pos_at] = pos_flow
    row[neg_at] = neg_flow
    pos += pos_flow
    neg += neg_flow
    idle = idle + 1.0 if flow == 0.0 else 0.0
    if idle >= n:
        idle = float(n)
        pos = 0.0
        neg = 0.0
    # The next slot by a compare (a modulo's division per bar was most of the kernel's time).
    k = 0 if k + 1 >= n else k + 1
    ready = m + 1.0 >= n + 1
    m = min(m + 1.0, n + 2)
    v = math.nan
    if ready:
        total = pos + neg
        if total <= 0.0:
            v = 0.0
        else:
            v = 100.0 * ((0.0 if pos < 0.0 else min(pos, total)) / total)
    return v, m, last, pos, neg, idle, k


@loops
def mfi_nb(mem, items, st, inp, roff, rdep, p, oj, mj):
    """Money flow index of (typical price, volume); reference TA-Lib MFI (0.8 rules): a
    bar's flow ``tp * volume`` counts as positive when tp rose, negative when it fell, and
    as no flow when ``|tp - tp[1]| <= 1e-14 * (|tp| + |tp[1]|)``; after ``n`` bars in a row
    without flow both sums are reset to exactly 0; the output is
    ``100 * clamp(pos, 0, pos + neg) / (pos + neg)``, 0 when ``pos + neg <= 0``.
    State: [valid count, previous tp, positive sum, negative sum, bars without flow,
    ring slot, positive flows (n), negative flows (n)]; the slot is an int through a
    block's bars. Two symbols stepping the same bars go side by side
    (:func:`kernels.ind.access.paired`)."""
    n = int(p[0])
    xo, xm = roff[inp[0]], rdep[inp[0]] - 1
    vo, vm = roff[inp[1]], rdep[inp[1]] - 1
    w = 0
    while w < items.shape[0]:
        row, c0, c1 = mem[items[w, 0]], items[w, 1], items[w, 2]
        m, last, pos, neg, idle = row[st], row[st + 1], row[st + 2], row[st + 3], row[st + 4]
        k = int(row[st + 5])
        if paired(items, w):
            two = mem[items[w + 1, 0]]
            m2, last2, pos2, neg2, idle2 = (
                two[st],
                two[st + 1],
                two[st + 2],
                two[st + 3],
                two[st + 4],
            )
            k2 = int(two[st + 5])
            for c in range(c0, c1):
                i, j, o = xo + (c & xm), vo + (c & vm), oj + (c & mj)
                v, m, last, pos, neg, idle, k = _mfi_bar(
                    row, st, n, row[i], row[j], m, last, pos, neg, idle, k
                )
                v2, m2, last2, pos2, neg2, idle2, k2 = _mfi_bar(
                    two, st, n, two[i], two[j], m2, last2, pos2, neg2, idle2, k2
                )
                row[o], two[o] = v, v2
            two[st], two[st + 1], two[st + 2], two[st + 3] = m2, last2, pos2, neg2
            two[st + 4], two[st + 5] = idle2, float(k2)
            w += 1
        else:
            for c in range(c0, c1):
                x, vol = row[xo + (c & xm)], row[vo + (c & vm)]
                v, m, last, pos, neg, idle, k = _mfi_bar(
                    row, st, n, x, vol, m, last, pos, neg, idle, k
                )
                row[oj + (c & mj)] = v
        row[st], row[st + 1], row[st + 2], row[st + 3] = m, last, pos, neg
        row[st + 4], row[st + 5] = idle, float(k)
        w += 1


@family
def block_nb(o, mem, items, st, inp, roff, rdep, p, oj, mj, tmp):
    """Step a node of this family through the bars of ``items`` (see :mod:`kernels.ind`)."""
    if o == ops.RSI:
        rsi_nb(mem, items, st, inp, roff, rdep, p, oj, mj)
    elif o == ops.MACDLINE:
        macdline_nb(mem, items, st, inp, roff, rdep, p, oj, mj)
    elif o == ops.STOCHK:
        stochk_nb(mem, items, st, inp, roff, rdep, p, oj, mj, tmp)
    elif o == ops.ROC:
        roc_nb(mem, items, st, inp, roff, rdep, p, oj, mj)
    elif o == ops.WILLR:
        willr_nb(mem, items, st, inp, roff, rdep, p, oj, mj, tmp)
    elif o == ops.CCI:
        cci_nb(mem, items, st, inp, roff, rdep, p, oj, mj)
    elif o == ops.MFI:
        mfi_nb(mem, items, st, inp, roff, rdep, p, oj, mj)


def _n(p: Params) -> int:
    return int(p[0])


def _slow(p: Params) -> int:
    return max(int(p[0]), int(p[1]))


def _hlc_depths(p: Params) -> tuple[int, ...]:
    return (_n(p), _n(p), 1)


def _lookback(p: Params) -> int:
    return _n(p) - 1


SPECS: dict[int, OpSpec] = {
    ops.RSI: OpSpec(
        "rsi", 1, lambda _p: 4, lambda _p: (1,), lambda p: _n(p) + 5 * _n(p), "TA-Lib RSI"
    ),
    # TA-Lib's lookback (slow - 1) plus 3 slow periods for the seeds' weight to fade.
    ops.MACDLINE: OpSpec(
        "macdline",
        1,
        lambda _p: 3,
        lambda _p: (1,),
        lambda p: _slow(p) - 1 + 3 * _slow(p),
        "TA-Lib MACD (outMACD)",
        fixed_cost(2),
    ),
    # STOCHK and WILLR scan the high and low windows every bar, CCI its window twice.
    ops.STOCHK: OpSpec(
        "stochk", 3, lambda _p: 5, _hlc_depths, _lookback, "TA-Lib STOCHF (fastK)", scan_cost(1)
    ),
    ops.ROC: OpSpec("roc", 1, lambda _p: 1, lambda p: (_n(p) + 1,), _n, "TA-Lib ROC"),
    ops.WILLR: OpSpec(
        "willr", 3, lambda _p: 5, _hlc_depths, _lookback, "TA-Lib WILLR", scan_cost(1)
    ),
    ops.CCI: OpSpec(
        "cci", 1, lambda _p: 2, lambda p: (_n(p),), _lookback, "TA-Lib CCI", scan_cost(2)
    ),
    ops.MFI: OpSpec(
        "mfi", 2, lambda p: 6 + 2 * _n(p), lambda _p: (1, 1), _n, "TA-Lib MFI", fixed_cost(5)
    ),
}

#: Opcodes this family runs (see :mod:`kernels.families`).
OPCODES = tuple(SPECS)
