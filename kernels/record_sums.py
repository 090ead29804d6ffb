"""A track record's sums in one call: what :func:`kernels.track_record.record_of` took from
numpy column by column (the daemon sums every trader's record up at each close with a complete
signal of it), with the same bits.

Per column, the values that are not NaN are gathered in order into ``scratch`` (as numpy's
boolean indexing gathers them), then:

- a **sum** is numpy's own: ``np.add.reduce`` over a contiguous array adds pairwise (fewer than
  8 values one by one from 0.0; up to 128 in 8 running sums combined as
  ``((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))``, then the rest one by one; beyond, the
  two halves, the first a multiple of 8 long), onto 0.0. :func:`_pairwise` does the same
  additions in the same order;
- a **median** is ``np.median``'s: the middle value, or the two middle ones, added onto 0.0
  (numpy's mean of them) and divided by their count. Each is an order statistic, the same
  value whichever way it is found (but for the sign of a zero, which adding onto 0.0 drops):
  here a quickselect in ``scratch`` without a branch on the values (:func:`_median`).

The reference is the numpy computation (the tests hold the two equal, bit for bit, over random
records with signed zeros, ties, unknown and infinite values).
"""

from __future__ import annotations

import numpy as np

from kernels.jit import entry, loops

#: Per horizon column of ``out``: known values, positive ones, their sum, their median.
PER_HORIZON = 4
#: After the horizons: trades known, their sum, the sum of the gains, of the losses, then the
#: signals complete, with the target touched first, with the stop touched first.
TRADES, TRADE_SUM, GAINS, LOSSES, COMPLETES, TARGETS, STOPS = range(7)
#: Values of ``out`` after the horizons'.
AFTER_HORIZONS = 7
#: A linear congruential generator's constants (Knuth's MMIX): the median's pivots' places.
_MUL, _ADD = 6364136223846793005, 1442695040888963407


@loops
def _pairwise(a, lo, n):
    """numpy's pairwise sum of ``a[lo : lo + n]`` (module docstring)."""
    if n < 8:
        res = 0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    if n <= 128:
        r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
        r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
        i = lo + 8
        end = lo + n - n % 8
        while i < end:
            r0 += a[i]
            r1 += a[i + 1]
            r2 += a[i + 2]
            r3 += a[i + 3]
            r4 += a[i + 4]
            r5 += a[i + 5]
            r6 += a[i + 6]
            r7 += a[i + 7]
            i += 8
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while i < lo + n:
            res += a[i]
            i += 1
        return res
    half = n // 2
    half -= half % 8
    return _pairwise(a, lo, half) + _pairwise(a, lo + half, n - half)


@loops
def _median(a, n):
    """``np.median`` of ``a[:n]`` (``n`` > 0, no NaN), reordering ``a[:n]``.

    The middle value ``a[k]`` is selected first: each round moves the values below a pivot
    (the median of three values at pseudo-random places of the part left: no order of the
    values, an organ pipe say, makes every round a poor one) to the front of that part, then
    those equal to it, with stores rather than branches (a branch on random returns is
    mispredicted half the time: with Wirth's selection, a record of 1,000 rows, 21 of them in
    turn, took 87 us, now 53), until ``a[k]`` is in a run of values equal to the pivot or
    alone; none before it is larger, none after it smaller."""
    k = n // 2
    lo, hi = 0, n
    state = n
    while hi - lo > 1:
        # Knuth's MMIX steps (wrapping int64 arithmetic); their high bits place the values.
        state = state * _MUL + _ADD
        x = a[lo + ((state >> 33) & 0x7FFFFFFF) % (hi - lo)]
        state = state * _MUL + _ADD
        y = a[lo + ((state >> 33) & 0x7FFFFFFF) % (hi - lo)]
        state = state * _MUL + _ADD
        z = a[lo + ((state >> 33) & 0x7FFFFFFF) % (hi - lo)]
        pivot = max(min(x, y), min(max(x, y), z))
        below = lo
        for i in range(lo, hi):
            v = a[i]
            a[i] = a[below]
            a[below] = v
            below += v < pivot
        if k < below:
            hi = below
            continue
        upto = below
        for i in range(below, hi):
            v = a[i]
            a[i] = a[upto]
            a[upto] = v
            upto += v <= pivot
        if k < upto:
            break
        lo = upto
    if n % 2:
        return (0.0 + (0.0 + a[k])) / 1.0
    lower = a[0]
    for i in range(1, k):
        lower = max(lower, a[i])
    return (0.0 + ((0.0 + lower) + a[k])) / 2.0


@entry
def record_sums_nb(rows, horizons, trade, flags, scratch, out):
    """The sums of a record over ``rows`` (``(n, WIDTH)``, :mod:`kernels.track_record`'s
    columns): per horizon column ``0 .. horizons - 1``, :data:`PER_HORIZON` values at
    ``out[PER_HORIZON * k]``; then from ``out[PER_HORIZON * horizons]`` the trades' (column
    ``trade``) and the three flags' counts (columns ``flags .. flags + 2``, counting values
    other than 0.0). ``scratch``: at least ``2 * n`` values, overwritten. A median of no value
    is NaN."""
    n = rows.shape[0]
    base = PER_HORIZON * horizons
    m = 0
    total = 0.0
    # Each horizon's column, then the trades' (left gathered in scratch[:m] after the loop).
    for k in range(horizons + 1):
        column = k if k < horizons else trade
        m = 0
        positive = 0
        for t in range(n):
            v = rows[t, column]
            if v == v:
                scratch[m] = v
                m += 1
                if v > 0:
                    positive += 1
        total = 0.0 + _pairwise(scratch, 0, m)
        if k < horizons:
            at = PER_HORIZON * k
            out[at] = m
            out[at + 1] = positive
            out[at + 2] = total
            out[at + 3] = _median(scratch, m) if m else np.nan
    out[base + TRADES] = m
    out[base + TRADE_SUM] = total
    # The gains, then the losses, each in the order of the trades (as boolean indexing).
    for sign in range(2):
        kept = 0
        for t in range(m):
            v = scratch[t]
            if (v > 0) if sign == 0 else (v < 0):
                scratch[m + kept] = v
                kept += 1
        out[base + (GAINS if sign == 0 else LOSSES)] = 0.0 + _pairwise(scratch, m, kept)
    for f in range(3):
        count = 0
        for t in range(n):
            if rows[t, flags + f] != 0.0:
                count += 1
        out[base + COMPLETES + f] = count
