"""Market structure over a window: divergences between a price and an oscillator, and the
high-volume nodes of a volume profile.

See :mod:`kernels.ind` for the array contract. Neither is a running statistic: both look at a
window of the last ``lookback`` bars every bar (the divergence tracks its window's extremes as
TA-Lib's MAX/MIN do and rescans only when one leaves; the profile is rebuilt each bar), so
their ring depths and costs grow with ``lookback``.
"""

from __future__ import annotations

import math

from kernels import ops
from kernels.ind.stats import track
from kernels.jit import family, loops
from kernels.ops import OpSpec, Params

#: VOLUME_NODES outputs (``p[2]``): near a node (1.0 / 0.0), distance to the nearest node
#: above the close, below it (percent of the close).
NEAR, ABOVE, BELOW = 0, 1, 2


@loops
def divergence_nb(mem, items, st, inp, roff, rdep, p, oj, mj):
    """Regular divergence of price ``a`` and oscillator ``b`` over ``p[0]`` (lookback) bars,
    the earlier extreme at least ``p[1]`` (min_sep) bars back: +1 (bullish) when ``a`` is below
    the lowest ``a`` of bars ``c - lookback .. c - min_sep`` while ``b`` is above ``b`` at that
    low's bar (a lower low of price, a higher low of the oscillator); -1 (bearish) when ``a``
    is above that window's highest ``a`` while ``b`` is below ``b`` at that high's bar; else
    0. Among equal extremes the newest bar is the one compared. Reference: a loop over the
    window (tests). State: [valid count, lowest, its bar, highest, its bar]."""
    n = int(p[0])
    sep = int(p[1])
    span = n - sep + 1
    ao, am = roff[inp[0]], rdep[inp[0]] - 1
    bo, bm = roff[inp[1]], rdep[inp[1]] - 1
    for w in range(items.shape[0]):
        row, c0, c1 = mem[items[w, 0]], items[w, 1], items[w, 2]
        m, lo, hi = row[st], row[st + 1], row[st + 3]
        lo_bar, hi_bar = int(row[st + 2]), int(row[st + 4])
        for c in range(c0, c1):
            a, b = row[ao + (c & am)], row[bo + (c & bm)]
            v = math.nan
            if math.isnan(a) or math.isnan(b):
                m = 0.0
            else:
                full = m > n
                m = min(m + 1.0, n + 1.0)
                if m > n:
                    e = c - sep
                    x = row[ao + (e & am)]
                    lo, lo_bar = track(row, ao, am, e, span, x, lo, lo_bar, False, not full)
                    hi, hi_bar = track(row, ao, am, e, span, x, hi, hi_bar, True, not full)
                    v = 0.0
                    if a < lo and b > row[bo + (lo_bar & bm)]:
                        v = 1.0
                    elif a > hi and b < row[bo + (hi_bar & bm)]:
                        v = -1.0
            row[oj + (c & mj)] = v
        row[st], row[st + 1], row[st + 2], row[st + 3], row[st + 4] = m, lo, lo_bar, hi, hi_bar


@loops
def _profile(row, prof, ho, hm, lo_, lm, co, cm, vo, vm, c, n, bins, bottom, top):
    """The volume profile of bars ``c - n + 1 .. c`` over ``bottom .. top`` into ``row[prof ..
    prof + bins - 1]`` (bar ``i`` in bin ``floor((tp_i - bottom) * (bins / (top - bottom)))``,
    the top bin closed); returns the mean bin volume."""
    scale = bins / (top - bottom)
    for j in range(bins):
        row[prof + j] = 0.0
    total = 0.0
    for k in range(n):
        i = c - k
        tp = (row[ho + (i & hm)] + row[lo_ + (i & lm)] + row[co + (i & cm)]) / 3.0
        j = min(max(int((tp - bottom) * scale), 0), bins - 1)
        vk = row[vo + (i & vm)]
        row[prof + j] += vk
        total += vk
    return total / bins


@loops
def _nearest(row, prof, bins, bottom, width, mean, x, which, tol):
    """The output of :func:`volume_nodes_nb` from a profile."""
    best = math.inf
    for j in range(bins):
        vj = row[prof + j]
        left = row[prof + j - 1] if j > 0 else 0.0
        right = row[prof + j + 1] if j < bins - 1 else 0.0
        if vj > mean and vj >= left and vj >= right:
            d = (bottom + (j + 0.5) * width - x) / x * 100.0
            if which == BELOW:
                d = -d
            elif which == NEAR:
                d = abs(d)
            if d >= 0.0 and d < best:
                best = d
    if which == NEAR:
        return 1.0 if best <= tol else 0.0
    return best if best < math.inf else math.nan


@loops
def volume_nodes_nb(mem, items, st, inp, roff, rdep, p, oj, mj):
    """High-volume nodes of the volume profile of (high, low, close, volume) over the last
    ``p[0]`` bars: the range from the lowest low to the highest high split into ``p[1]`` equal
    bins, each bar's volume in the bin of its typical price ``(h + l + c) / 3`` (see
    :func:`_profile`); a *node* is a bin holding more than the mean bin volume and no less
    than either neighbour (a missing neighbour counts 0), at its bin's centre. ``p[2]``
    (:data:`NEAR`, :data:`ABOVE`, :data:`BELOW`) picks the output: 1.0 when a node's centre is
    within ``p[3]`` percent of the close (else 0.0), or the distance in percent of the close
    to the nearest node above it (below it), NaN when there is none (or the window is flat).
    Reference: a NumPy transcription of this definition (tests). State: [valid count, the
    window's highest high and its bar, lowest low and its bar (tracked as TA-Lib's MAX/MIN),
    the profile's ``p[1]`` bins (rebuilt every bar)]."""
    n = int(p[0])
    bins = int(p[1])
    which = int(p[2])
    tol = p[3]
    ho, hm = roff[inp[0]], rdep[inp[0]] - 1
    lo_, lm = roff[inp[1]], rdep[inp[1]] - 1
    co, cm = roff[inp[2]], rdep[inp[2]] - 1
    vo, vm = roff[inp[3]], rdep[inp[3]] - 1
    prof = st + 5
    for w in range(items.shape[0]):
        row, c0, c1 = mem[items[w, 0]], items[w, 1], items[w, 2]
        m, top, top_bar = row[st], row[st + 1], int(row[st + 2])
        bottom, bottom_bar = row[st + 3], int(row[st + 4])
        for c in range(c0, c1):
            h, lo = row[ho + (c & hm)], row[lo_ + (c & lm)]
            x, vol = row[co + (c & cm)], row[vo + (c & vm)]
            out = math.nan
            if math.isnan(h) or math.isnan(lo) or math.isnan(x) or math.isnan(vol):
                m = 0.0
            else:
                full = m >= n
                m = min(m + 1.0, float(n))
                if m >= n:
                    top, top_bar = track(row, ho, hm, c, n, h, top, top_bar, True, not full)
                    bottom, bottom_bar = track(
                        row, lo_, lm, c, n, lo, bottom, bottom_bar, False, not full
                    )
                    out = 0.0 if which == NEAR else math.nan
                    if top > bottom and x > 0.0:
                        mean = _profile(
                            row, prof, ho, hm, lo_, lm, co, cm, vo, vm, c, n, bins, bottom, top
                        )
                        width = (top - bottom) / bins
                        out = _nearest(row, prof, bins, bottom, width, mean, x, which, tol)
            row[oj + (c & mj)] = out
        row[st], row[st + 1], row[st + 2] = m, top, top_bar
        row[st + 3], row[st + 4] = bottom, bottom_bar


@family
def block_nb(o, mem, items, st, inp, roff, rdep, p, oj, mj, tmp):
    """Step a node of this family through the bars of ``items`` (see :mod:`kernels.ind`)."""
    if o == ops.DIVERGENCE:
        divergence_nb(mem, items, st, inp, roff, rdep, p, oj, mj)
    elif o == ops.VOLUME_NODES:
        volume_nodes_nb(mem, items, st, inp, roff, rdep, p, oj, mj)


def _lookback(p: Params) -> int:
    return int(p[0])


SPECS: dict[int, OpSpec] = {
    # Both inputs read back to the window's start; the extremes are tracked (a rescan only when
    # one leaves the window, every bar for a monotone input).
    ops.DIVERGENCE: OpSpec(
        "divergence",
        2,
        lambda _p: 5,
        lambda p: (_lookback(p) + 1, _lookback(p) + 1),
        _lookback,
        "regular divergence over a window (tests: a loop over the window)",
        lambda p: 2 + _lookback(p),
    ),
    # One pass over the window and two over the bins every bar, and the window's high and low
    # tracked (a rescan when one leaves the window: every bar for a monotone input).
    ops.VOLUME_NODES: OpSpec(
        "volume_nodes",
        4,
        lambda p: 5 + int(p[1]),
        lambda p: (_lookback(p),) * 4,
        lambda p: _lookback(p) - 1,
        "volume-profile high-volume nodes (tests: a NumPy transcription)",
        lambda p: 4 + _lookback(p) + int(p[1]) // 2,
    ),
}

#: Opcodes this family runs (see :mod:`kernels.families`).
OPCODES = tuple(SPECS)
