"""Oscillators: RSI, the MACD line, stochastic %K, ROC, Williams %R, CCI, MFI.

See :mod:`kernels.ind` for the array contract.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import cast

from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from kernels import ops
from kernels.ind.access import ago, cur
from kernels.ind.stats import window_extreme
from kernels.jit import loops
from kernels.ops import OpSpec, Params, fixed_cost, scan_cost


@loops
def rsi_nb(row, st, c, inp, roff, rdep, p):
    """Relative strength index; reference TA-Lib RSI (Wilder averages of gains and losses,
    seeded with their plain mean over the first ``n`` changes; 0 when both are 0).
    State: [valid count, previous value, average gain, average loss]."""
    n = int(p[0])
    x = cur(row, roff, rdep, inp[0], c)
    if math.isnan(x):
        row[st] = 0.0
        row[st + 1] = 0.0
        row[st + 2] = 0.0
        row[st + 3] = 0.0
        return math.nan
    m = row[st] + 1.0
    diff = x - row[st + 1]
    row[st + 1] = x
    if m == 1.0:
        row[st] = m
        return math.nan
    gain = row[st + 2]
    loss = row[st + 3]
    if m <= n + 1:
        if diff < 0:
            loss -= diff
        else:
            gain += diff
        row[st] = m
        if m < n + 1:
            row[st + 2] = gain
            row[st + 3] = loss
            return math.nan
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
    row[st + 2] = gain
    row[st + 3] = loss
    total = gain + loss
    if total != 0.0:
        return 100.0 * (gain / total)
    return 0.0


@loops
def block_nb(o, mem, items, st, inp, roff, rdep, p, oj, mj):
    """Step a node of this family through the bars of ``items`` (see :mod:`kernels.ind`)."""
    if o == ops.RSI:
        for w in range(items.shape[0]):
            row = mem[items[w, 0]]
            for c in range(items[w, 1], items[w, 2]):
                row[oj + (c & mj)] = rsi_nb(row, st, c, inp, roff, rdep, p)
    elif o == ops.MACDLINE:
        for w in range(items.shape[0]):
            row = mem[items[w, 0]]
            for c in range(items[w, 1], items[w, 2]):
                row[oj + (c & mj)] = macdline_nb(row, st, c, inp, roff, rdep, p)
    elif o == ops.STOCHK:
        for w in range(items.shape[0]):
            row = mem[items[w, 0]]
            for c in range(items[w, 1], items[w, 2]):
                row[oj + (c & mj)] = stochk_nb(row, st, c, inp, roff, rdep, p)
    elif o == ops.ROC:
        for w in range(items.shape[0]):
            row = mem[items[w, 0]]
            for c in range(items[w, 1], items[w, 2]):
                row[oj + (c & mj)] = roc_nb(row, st, c, inp, roff, rdep, p)
    elif o == ops.WILLR:
        for w in range(items.shape[0]):
            row = mem[items[w, 0]]
            for c in range(items[w, 1], items[w, 2]):
                row[oj + (c & mj)] = willr_nb(row, st, c, inp, roff, rdep, p)
    elif o == ops.CCI:
        for w in range(items.shape[0]):
            row = mem[items[w, 0]]
            for c in range(items[w, 1], items[w, 2]):
                row[oj + (c & mj)] = cci_nb(row, st, c, inp, roff, rdep, p)
    elif o == ops.MFI:
        for w in range(items.shape[0]):
            row = mem[items[w, 0]]
            for c in range(items[w, 1], items[w, 2]):
                row[oj + (c & mj)] = mfi_nb(row, st, c, inp, roff, rdep, p)


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


@loops
def macdline_nb(row, st, c, inp, roff, rdep, p):
    """MACD line, fast EMA - slow EMA; reference TA-Lib MACD ``outMACD`` (default
    compatibility). Periods are swapped when ``slow < fast``, as TA-Lib does. Both EMAs are
    seeded with a plain mean on the same bar, the ``slow``-th: the slow one over its first
    ``slow`` values, the fast one over the last ``fast`` of them; then
    ``(x - prev) * k + prev`` with ``k = 2 / (period + 1)``, fused into one rounding as the
    TA-Lib 0.8 wheel does on FMA-capable CPUs (its ``TA_MACD.fma`` clone; TA-Lib on a CPU
    without FMA rounds twice and differs by an ulp now and then). The line is valid from the
    seed bar on (TA-Lib computes these values too but emits them only from the signal's
    lookback on: ``talib.MACD(x, fast, slow, 1)[0]`` shows them all).
    State: [valid count, fast sum then fast EMA, slow sum then slow EMA]."""
    fast = int(p[0])
    slow = int(p[1])
    if slow < fast:
        fast, slow = slow, fast
    x = cur(row, roff, rdep, inp[0], c)
    if math.isnan(x):
        row[st] = 0.0
        row[st + 1] = 0.0
        row[st + 2] = 0.0
        return math.nan
    m = row[st] + 1.0
    if m <= slow:
        row[st] = m
        if m > slow - fast:
            row[st + 1] += x
        row[st + 2] += x
        if m < slow:
            return math.nan
        prev_fast = row[st + 1] / fast
        prev_slow = row[st + 2] / slow
    else:
        prev_fast = row[st + 1]
        prev_slow = row[st + 2]
        prev_fast = fma(x - prev_fast, 2.0 / (fast + 1), prev_fast)
        prev_slow = fma(x - prev_slow, 2.0 / (slow + 1), prev_slow)
    row[st + 1] = prev_fast
    row[st + 2] = prev_slow
    return prev_fast - prev_slow


@njit(cache=True, nogil=True, inline="always")
def _flat(a, b):
    # TA-Lib's TA_IS_ZERO_SCALED(a - b, |a| + |b|): a range within ~90 ulp of its extremes.
    return abs(a - b) <= 1e-14 * (abs(a) + abs(b))


@njit(cache=True, nogil=True, inline="always")
def _hlc_window(row, st, c, inp, roff, rdep, n):
    """(close, highest high, lowest low) over the last ``n`` bars of the (high, low, close)
    inputs; the close is NaN while fewer than ``n`` valid bars were seen (any NaN input
    resets). State: [valid count, highest high and its bar, lowest low and its bar] (see
    :func:`kernels.ind.stats.window_extreme`)."""
    h = cur(row, roff, rdep, inp[0], c)
    lo = cur(row, roff, rdep, inp[1], c)
    cl = cur(row, roff, rdep, inp[2], c)
    if math.isnan(h) or math.isnan(lo) or math.isnan(cl):
        row[st] = 0.0
        return math.nan, h, lo
    full = row[st] >= n
    m = min(row[st] + 1.0, n)
    row[st] = m
    if m < n:
        return math.nan, h, lo
    h = window_extreme(row, st + 1, c, inp[0], roff, rdep, n, h, True, not full)
    lo = window_extreme(row, st + 3, c, inp[1], roff, rdep, n, lo, False, not full)
    return cl, h, lo


@loops
def stochk_nb(row, st, c, inp, roff, rdep, p):
    """Fast stochastic %K of (high, low, close); reference TA-Lib STOCHF ``outFastK`` as
    TA-Lib 0.8 computes it: ``((close - lowest) / (highest - lowest)) * 100`` (older
    releases divided by ``(highest - lowest) / 100``, which rounds differently), 0 when the
    window is flat (``|highest - lowest| <= 1e-14 * (|highest| + |lowest|)``, TA-Lib 0.8's
    scaled guard). State: see :func:`_hlc_window`."""
    cl, highest, lowest = _hlc_window(row, st, c, inp, roff, rdep, int(p[0]))
    if math.isnan(cl):
        return math.nan
    if _flat(highest, lowest):
        return 0.0
    return ((cl - lowest) / (highest - lowest)) * 100.0


@loops
def roc_nb(row, st, c, inp, roff, rdep, p):
    """Rate of change in percent, ``(x / x[n] - 1) * 100``; reference TA-Lib ROC (0 when
    ``x[n] == 0``). State: [valid count]."""
    n = int(p[0])
    x = cur(row, roff, rdep, inp[0], c)
    if math.isnan(x):
        row[st] = 0.0
        return math.nan
    m = min(row[st] + 1.0, n + 1)
    row[st] = m
    if m <= n:
        return math.nan
    prev = ago(row, roff, rdep, inp[0], c, n)
    if prev != 0.0:
        return (x / prev - 1.0) * 100.0
    return 0.0


@loops
def willr_nb(row, st, c, inp, roff, rdep, p):
    """Williams %R of (high, low, close); reference TA-Lib WILLR as TA-Lib 0.8 computes it:
    ``((close - highest) / (highest - lowest)) * 100``, 0 when the window is flat (same
    scaled guard as :func:`stochk_nb`). State: see :func:`_hlc_window`."""
    cl, highest, lowest = _hlc_window(row, st, c, inp, roff, rdep, int(p[0]))
    if math.isnan(cl):
        return math.nan
    if _flat(highest, lowest):
        return 0.0
    return ((cl - highest) / (highest - lowest)) * 100.0


@loops
def cci_nb(row, st, c, inp, roff, rdep, p):
    """Commodity channel index of the typical price; reference TA-Lib CCI: the window's
    mean and mean absolute deviation recomputed every bar, summed in TA-Lib's circular
    buffer order (slot ``i mod n`` holds the run's bar ``i``), then
    ``(tp - mean) / (0.015 * meandev)``; 0 when either the deviation of the current value
    or the mean deviation is within ``1e-14 * |mean|`` of 0 (TA-Lib 0.8's scaled guard).
    State: [valid count, buffer slot of the current bar]."""
    n = int(p[0])
    x = cur(row, roff, rdep, inp[0], c)
    if math.isnan(x):
        row[st] = 0.0
        row[st + 1] = 0.0
        return math.nan
    m = min(row[st] + 1.0, n)
    row[st] = m
    slot = int(row[st + 1])
    row[st + 1] = (slot + 1) % n
    if m < n:
        return math.nan
    # Buffer order: lags slot, slot - 1, ..., 0, then n - 1, ..., slot + 1 (the ``(slot - j)
    # mod n`` of TA-Lib's loop, without a modulo per value).
    total = 0.0
    for k in range(slot, -1, -1):
        total += ago(row, roff, rdep, inp[0], c, k)
    for k in range(n - 1, slot, -1):
        total += ago(row, roff, rdep, inp[0], c, k)
    mean = total / n
    dev = 0.0
    for k in range(slot, -1, -1):
        dev += abs(ago(row, roff, rdep, inp[0], c, k) - mean)
    for k in range(n - 1, slot, -1):
        dev += abs(ago(row, roff, rdep, inp[0], c, k) - mean)
    dev /= n
    diff = x - mean
    scale = 1e-14 * abs(mean)
    if abs(diff) <= scale or abs(dev) <= scale:
        return 0.0
    return diff / (0.015 * dev)


@loops
def mfi_nb(row, st, c, inp, roff, rdep, p):
    """Money flow index of (typical price, volume); reference TA-Lib MFI (0.8 rules): a
    bar's flow ``tp * volume`` counts as positive when tp rose, negative when it fell, and
    as no flow when ``|tp - tp[1]| <= 1e-14 * (|tp| + |tp[1]|)``; after ``n`` bars in a row
    without flow both sums are reset to exactly 0; the output is
    ``100 * clamp(pos, 0, pos + neg) / (pos + neg)``, 0 when ``pos + neg <= 0``.
    State: [valid count, previous tp, positive sum, negative sum, bars without flow,
    ring slot, positive flows (n), negative flows (n)]."""
    n = int(p[0])
    x = cur(row, roff, rdep, inp[0], c)
    vol = cur(row, roff, rdep, inp[1], c)
    if math.isnan(x) or math.isnan(vol):
        for k in range(6):
            row[st + k] = 0.0
        return math.nan
    m = row[st] + 1.0
    prev = row[st + 1]
    row[st + 1] = x
    if m == 1.0:
        row[st] = m
        return math.nan
    pos_sum = row[st + 2]
    neg_sum = row[st + 3]
    slot = int(row[st + 5])
    pos_at = st + 6 + slot
    neg_at = st + 6 + n + slot
    if m > n + 1:
        pos_sum -= row[pos_at]
        neg_sum -= row[neg_at]
    move = x - prev
    flow = 0.0 if abs(move) <= 1e-14 * (abs(x) + abs(prev)) else x * vol
    pos_flow = 0.0 if move < 0.0 else flow
    neg_flow = flow if move < 0.0 else 0.0
    row[pos_at] = pos_flow
    row[neg_at] = neg_flow
    pos_sum += pos_flow
    neg_sum += neg_flow
    idle = row[st + 4] + 1.0 if flow == 0.0 else 0.0
    if idle >= n:
        idle = n
        pos_sum = 0.0
        neg_sum = 0.0
    row[st + 2] = pos_sum
    row[st + 3] = neg_sum
    row[st + 4] = idle
    row[st + 5] = (slot + 1) % n
    row[st] = min(m, n + 2)
    if m < n + 1:
        return math.nan
    total = pos_sum + neg_sum
    if total <= 0.0:
        return 0.0
    clamped = 0.0 if pos_sum < 0.0 else min(pos_sum, total)
    return 100.0 * (clamped / total)


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
