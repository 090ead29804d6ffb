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
from kernels.ind.access import paired
from kernels.ind.stats import track
from kernels.jit import family, inlined_loops, loops
from kernels.ops import OpSpec, Params, fixed_cost, scan_cost


@njit(cache=True, nogil=True, inline="always")
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


@njit(cache=True, nogil=True, inline="always")
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


@loops
def _hlc(mem, items, st, inp, roff, rdep, n, oj, mj, williams):
    """Stochastic %K (or, with ``williams``, Williams %R) of the (high, low, close) inputs over
    the last ``n`` bars; NaN while fewer than ``n`` valid bars were seen (any NaN input
    resets), 0 when the window is flat. State: [valid count, highest high and its bar,
    lowest low and its bar] (see :func:`kernels.ind.stats.track`)."""
    ho, hm = roff[inp[0]], rdep[inp[0]] - 1
    lo_, lm = roff[inp[1]], rdep[inp[1]] - 1
    co, cm = roff[inp[2]], rdep[inp[2]] - 1
    for w in range(items.shape[0]):
        row, c0, c1 = mem[items[w, 0]], items[w, 1], items[w, 2]
        m, hb, lb = row[st], row[st + 1], row[st + 3]
        hbar, lbar = int(row[st + 2]), int(row[st + 4])
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
                    if _flat(hb, lb):
                        v = 0.0
                    elif williams:
                        v = ((cl - hb) / (hb - lb)) * 100.0
                    else:
                        v = ((cl - lb) / (hb - lb)) * 100.0
            row[oj + (c & mj)] = v
        row[st], row[st + 1], row[st + 2], row[st + 3], row[st + 4] = m, hb, hbar, lb, lbar


@loops
def stochk_nb(mem, items, st, inp, roff, rdep, p, oj, mj):
    """Fast stochastic %K of (high, low, close); reference TA-Lib STOCHF ``outFastK`` as
    TA-Lib 0.8 computes it: ``((close - lowest) / (highest - lowest)) * 100`` (older
    releases divided by ``(highest - lowest) / 100``, which rounds differently), 0 when the
    window is flat (``|highest - lowest| <= 1e-14 * (|highest| + |lowest|)``, TA-Lib 0.8's
    scaled guard). State: see :func:`_hlc_window`."""
    _hlc(mem, items, st, inp, roff, rdep, int(p[0]), oj, mj, False)


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
def willr_nb(mem, items, st, inp, roff, rdep, p, oj, mj):
    """Williams %R of (high, low, close); reference TA-Lib WILLR as TA-Lib 0.8 computes it:
    ``((close - highest) / (highest - lowest)) * 100``, 0 when the window is flat (same
    scaled guard as :func:`stochk_nb`). State: see :func:`_hlc_window`."""
    _hlc(mem, items, st, inp, roff, rdep, int(p[0]), oj, mj, True)


@inlined_loops
def _cci_one(row, xo, xm, c, n, slot, x):
    """CCI of bar ``c`` from the full window (TA-Lib's circular buffer order)."""
    # Buffer order: lags slot, slot - 1, ..., 0, then n - 1, ..., slot + 1 (the ``(slot - j)
    # mod n`` of TA-Lib's loop, without a modulo per value). When the window does not wrap
    # around the ring, its values are read in place: bar c - n + 1 + j at ``base + j`` (no
    # mask per value; the same values in the same order).
    base = xo + ((c - n + 1) & xm)
    if base + n - 1 == xo + (c & xm):
        split = n - 1 - slot  # lag slot is the window's value ``split``
        total = 0.0
        for j in range(split, n):
            total += row[base + j]
        for j in range(split):
            total += row[base + j]
        mean = total / n
        dev = 0.0
        for j in range(split, n):
            dev += abs(row[base + j] - mean)
        for j in range(split):
            dev += abs(row[base + j] - mean)
        return _cci_value(x, mean, dev / n)
    total = 0.0
    for k in range(slot, -1, -1):
        total += row[xo + ((c - k) & xm)]
    for k in range(n - 1, slot, -1):
        total += row[xo + ((c - k) & xm)]
    mean = total / n
    dev = 0.0
    for k in range(slot, -1, -1):
        dev += abs(row[xo + ((c - k) & xm)] - mean)
    for k in range(n - 1, slot, -1):
        dev += abs(row[xo + ((c - k) & xm)] - mean)
    return _cci_value(x, mean, dev / n)


@inlined_loops
def _cci_value(x, mean, dev):
    """``(x - mean) / (0.015 * dev)``, 0 within TA-Lib 0.8's scaled guard."""
    diff = x - mean
    scale = 1e-14 * abs(mean)
    if abs(diff) <= scale or abs(dev) <= scale:
        return 0.0
    return diff / (0.015 * dev)


@inlined_loops
def _cci_four(row, two, pair, xo, xm, c, n, slot, oj, mj):
    """CCI of bars ``c .. c + 3`` (slots ``slot .. slot + 3``, all below ``n``; the window of
    bar ``c`` through bar ``c + 3`` in place in the ring) of ``row`` and, with ``pair``, of
    ``two`` (a second symbol at the same bars and slots): four sums side by side for each,
    each in its own bar's TA-Lib order (bit for bit :func:`_cci_one`), their values read once
    for all.

    Bar ``c + b`` sums the bars from the slot-0 bar ``c - slot`` up to itself, then from the
    start of its window up to the bar before ``c - slot``. With ``w`` the start of bar
    ``c``'s window: the first ``slot + 1`` values (``w + n - 1 - slot .. w + n - 1``) are
    every bar's; then its ``i``-th next value is ``w + n + i`` (a bar after ``c``) for
    ``i < b``, else ``w + i``."""
    w = xo + ((c - n + 1) & xm)
    head = n - 1 - slot
    total, total2 = 0.0, 0.0
    for j in range(head, n):
        total += row[w + j]
        if pair:
            total2 += two[w + j]
    t0, t1, t2, t3 = total, total, total, total
    u0, u1, u2, u3 = total2, total2, total2, total2
    for i in range(head):
        t0, t1, t2, t3 = _cci_add(row, w, n, i, t0, t1, t2, t3)
        if pair:
            u0, u1, u2, u3 = _cci_add(two, w, n, i, u0, u1, u2, u3)
    m0, m1, m2, m3 = t0 / n, t1 / n, t2 / n, t3 / n
    p0, p1, p2, p3 = u0 / n, u1 / n, u2 / n, u3 / n
    d0, d1, d2, d3 = 0.0, 0.0, 0.0, 0.0
    e0, e1, e2, e3 = 0.0, 0.0, 0.0, 0.0
    for j in range(head, n):
        v = row[w + j]
        d0, d1, d2, d3 = d0 + abs(v - m0), d1 + abs(v - m1), d2 + abs(v - m2), d3 + abs(v - m3)
        if pair:
            v = two[w + j]
            e0, e1, e2, e3 = e0 + abs(v - p0), e1 + abs(v - p1), e2 + abs(v - p2), e3 + abs(v - p3)
    for i in range(head):
        d0, d1, d2, d3 = _cci_dev(row, w, n, i, m0, m1, m2, m3, d0, d1, d2, d3)
        if pair:
            e0, e1, e2, e3 = _cci_dev(two, w, n, i, p0, p1, p2, p3, e0, e1, e2, e3)
    _cci_store(row, w, n, c, oj, mj, m0, m1, m2, m3, d0, d1, d2, d3)
    if pair:
        _cci_store(two, w, n, c, oj, mj, p0, p1, p2, p3, e0, e1, e2, e3)


@njit(cache=True, nogil=True, inline="always")
def _cci_add(row, w, n, i, t0, t1, t2, t3):
    """The four sums of :func:`_cci_four` after their ``i``-th value past the common ones."""
    v = row[w + i]
    t0 += v
    t1 += row[w + n] if i == 0 else v
    t2 += row[w + n + i] if i < 2 else v
    t3 += row[w + n + i] if i < 3 else v
    return t0, t1, t2, t3


@njit(cache=True, nogil=True, inline="always")
def _cci_dev(row, w, n, i, m0, m1, m2, m3, d0, d1, d2, d3):
    """The four deviation sums of :func:`_cci_four` after their ``i``-th value past the
    common ones."""
    v = row[w + i]
    d0 += abs(v - m0)
    d1 += abs((row[w + n] if i == 0 else v) - m1)
    d2 += abs((row[w + n + i] if i < 2 else v) - m2)
    d3 += abs((row[w + n + i] if i < 3 else v) - m3)
    return d0, d1, d2, d3


@njit(cache=True, nogil=True, inline="always")
def _cci_store(row, w, n, c, oj, mj, m0, m1, m2, m3, d0, d1, d2, d3):
    """The four CCI values of :func:`_cci_four` into the output ring."""
    row[oj + (c & mj)] = _cci_value(row[w + n - 1], m0, d0 / n)
    row[oj + ((c + 1) & mj)] = _cci_value(row[w + n], m1, d1 / n)
    row[oj + ((c + 2) & mj)] = _cci_value(row[w + n + 1], m2, d2 / n)
    row[oj + ((c + 3) & mj)] = _cci_value(row[w + n + 2], m3, d3 / n)


@loops
def cci_nb(mem, items, st, inp, roff, rdep, p, oj, mj):
    """Commodity channel index of the typical price; reference TA-Lib CCI: the window's
    mean and mean absolute deviation recomputed every bar, summed in TA-Lib's circular
    buffer order (slot ``i mod n`` holds the run's bar ``i``), then
    ``(tp - mean) / (0.015 * meandev)``; 0 when either the deviation of the current value
    or the mean deviation is within ``1e-14 * |mean|`` of 0 (TA-Lib 0.8's scaled guard).
    Four warm bars in a row (same run of slots, window in place) are computed together
    (:func:`_cci_four`), those of two symbols stepping the same bars side by side
    (:func:`kernels.ind.access.paired`). State: [valid count, buffer slot of the current
    bar]."""
    n = int(p[0])
    xo, xm = roff[inp[0]], rdep[inp[0]] - 1
    w = 0
    while w < items.shape[0]:
        row, c0, c1 = mem[items[w, 0]], items[w, 1], items[w, 2]
        m, k = row[st], int(row[st + 1])  # the slot as an int through the bars
        two = row
        m2, k2 = 0.0, 0
        pair = paired(items, w)
        if pair:
            two = mem[items[w + 1, 0]]
            m2, k2 = two[st], int(two[st + 1])
        c = c0
        while c < c1:
            four = _four_ahead(row, xo, xm, c, c1, n, m, k)
            if pair:
                four2 = _four_ahead(two, xo, xm, c, c1, n, m2, k2)
                if four and four2:
                    # Both symbols' next four bars together when their slots agree.
                    _cci_four(row, two, k == k2, xo, xm, c, n, k, oj, mj)
                    if k != k2:
                        _cci_four(two, two, False, xo, xm, c, n, k2, oj, mj)
                    k, k2 = _slot_after(k, 4, n), _slot_after(k2, 4, n)
                    c += 4
                    continue
                m2, k2 = _cci_bar(two, xo, xm, c, n, oj, mj, m2, k2)
                m, k = _cci_bar(row, xo, xm, c, n, oj, mj, m, k)
                c += 1
            elif four:
                _cci_four(row, row, False, xo, xm, c, n, k, oj, mj)
                k = _slot_after(k, 4, n)
                c += 4
            else:
                m, k = _cci_bar(row, xo, xm, c, n, oj, mj, m, k)
                c += 1
        row[st], row[st + 1] = m, float(k)
        if pair:
            two[st], two[st + 1] = m2, float(k2)
            w += 1
        w += 1


@njit(cache=True, nogil=True, inline="always")
def _four_ahead(row, xo, xm, c, c1, n, m, k):
    """Whether bars ``c .. c + 3`` of ``row`` can go through :func:`_cci_four` (warm, in this
    batch, in one run of slots, in place and numbers)."""
    return m >= n and c + 4 <= c1 and k + 4 <= n and _four_in_place(row, xo, xm, c, n)


@njit(cache=True, nogil=True, inline="always")
def _slot_after(k, steps, n):
    """The buffer slot ``steps`` bars after slot ``k`` (``k + steps <= n``): a compare, not
    a modulo."""
    return 0 if k + steps >= n else k + steps


@njit(cache=True, nogil=True, inline="always")
def _cci_bar(row, xo, xm, c, n, oj, mj, m, k):
    """CCI at bar ``c`` alone (see :func:`cci_nb`), written; returns the state after it."""
    x = row[xo + (c & xm)]
    v = math.nan
    if math.isnan(x):
        m, k = 0.0, 0
    else:
        m = min(m + 1.0, n)
        slot = k
        k = _slot_after(k, 1, n)
        if m >= n:
            v = _cci_one(row, xo, xm, c, n, slot, x)
    row[oj + (c & mj)] = v
    return m, k


@inlined_loops
def _four_in_place(row, xo, xm, c, n):
    """Whether bars ``c - n + 1 .. c + 3`` sit in order in the ring and ``c .. c + 3`` are
    numbers."""
    w = xo + ((c - n + 1) & xm)
    if w + n + 2 != xo + ((c + 3) & xm):
        return False
    return not (
        math.isnan(row[w + n - 1])
        or math.isnan(row[w + n])
        or math.isnan(row[w + n + 1])
        or math.isnan(row[w + n + 2])
    )


@njit(cache=True, nogil=True, inline="always")
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
def block_nb(o, mem, items, st, inp, roff, rdep, p, oj, mj):
    """Step a node of this family through the bars of ``items`` (see :mod:`kernels.ind`)."""
    if o == ops.RSI:
        rsi_nb(mem, items, st, inp, roff, rdep, p, oj, mj)
    elif o == ops.MACDLINE:
        macdline_nb(mem, items, st, inp, roff, rdep, p, oj, mj)
    elif o == ops.STOCHK:
        stochk_nb(mem, items, st, inp, roff, rdep, p, oj, mj)
    elif o == ops.ROC:
        roc_nb(mem, items, st, inp, roff, rdep, p, oj, mj)
    elif o == ops.WILLR:
        willr_nb(mem, items, st, inp, roff, rdep, p, oj, mj)
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
