"""CCI, the commodity channel index: a kernel of the oscillators family
(:mod:`kernels.ind.oscillators`), in a module of its own.

See :mod:`kernels.ind` for the array contract.
"""

from __future__ import annotations

import math

from kernels.ind.access import paired
from kernels.jit import inlined_loops, loops


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


@inlined_loops
def _cci_add(row, w, n, i, t0, t1, t2, t3):
    """The four sums of :func:`_cci_four` after their ``i``-th value past the common ones."""
    v = row[w + i]
    t0 += v
    t1 += row[w + n] if i == 0 else v
    t2 += row[w + n + i] if i < 2 else v
    t3 += row[w + n + i] if i < 3 else v
    return t0, t1, t2, t3


@inlined_loops
def _cci_dev(row, w, n, i, m0, m1, m2, m3, d0, d1, d2, d3):
    """The four deviation sums of :func:`_cci_four` after their ``i``-th value past the
    common ones."""
    v = row[w + i]
    d0 += abs(v - m0)
    d1 += abs((row[w + n] if i == 0 else v) - m1)
    d2 += abs((row[w + n + i] if i < 2 else v) - m2)
    d3 += abs((row[w + n + i] if i < 3 else v) - m3)
    return d0, d1, d2, d3


@inlined_loops
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


@inlined_loops
def _four_ahead(row, xo, xm, c, c1, n, m, k):
    """Whether bars ``c .. c + 3`` of ``row`` can go through :func:`_cci_four` (warm, in this
    batch, in one run of slots, in place and numbers)."""
    return m >= n and c + 4 <= c1 and k + 4 <= n and _four_in_place(row, xo, xm, c, n)


@inlined_loops
def _slot_after(k, steps, n):
    """The buffer slot ``steps`` bars after slot ``k`` (``k + steps <= n``): a compare, not
    a modulo."""
    return 0 if k + steps >= n else k + steps


@inlined_loops
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
