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
  here a quickselect in ``scratch`` without a branch on the values (:func:`_median`), or,
  when the caller keeps a column's known values sorted as rows enter and leave its window
  (:func:`window_nb`: the daemon's records, a few rows in and out at each close), read
  there (:func:`_middle`).

The reference is the numpy computation (the tests hold the two equal, bit for bit, over random
records with signed zeros, ties, unknown and infinite values).
"""

from __future__ import annotations

import numpy as np

from kernels.jit import entry, inlined_loops, loops

#: Per horizon column of ``out``: known values, positive ones, their sum, their median.
PER_HORIZON = 4
#: After the horizons: trades known, their sum, the sum of the gains, of the losses, then the
#: signals complete, with the target touched first, with the stop touched first.
TRADES, TRADE_SUM, GAINS, LOSSES, COMPLETES, TARGETS, STOPS = range(7)
#: Values of ``out`` after the horizons'.
AFTER_HORIZONS = 7
#: Rows a record's kernel reads at a time (~5 KiB of rows: the cache holds them while each
#: column is read).
_BLOCK = 64
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
def _median(a, start, n):
    """``np.median`` of ``a[start : start + n]`` (``n`` > 0, no NaN), reordering them.

    The middle value ``a[k]`` is selected first: each round moves the values below a pivot
    (the median of three values at pseudo-random places of the part left: no order of the
    values, an organ pipe say, makes every round a poor one) to the front of that part, then
    those equal to it, with stores rather than branches (a branch on random returns is
    mispredicted half the time: with Wirth's selection, a record of 1,000 rows, 21 of them in
    turn, took 87 us, now 53), until ``a[k]`` is in a run of values equal to the pivot or
    alone; none before it is larger, none after it smaller."""
    k = start + n // 2
    lo, hi = start, start + n
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
    lower = a[start]
    for i in range(start + 1, k):
        lower = max(lower, a[i])
    return (0.0 + ((0.0 + lower) + a[k])) / 2.0


@inlined_loops
def _middle(ordered, k, n):
    """``np.median`` of ``ordered[k, :n]`` (``n`` > 0, sorted): :func:`_median`'s arithmetic
    on the same order statistics."""
    mid = n // 2
    if n % 2:
        return (0.0 + (0.0 + ordered[k, mid])) / 1.0
    return (0.0 + ((0.0 + ordered[k, mid - 1]) + ordered[k, mid])) / 2.0


@entry
def record_sums_nb(rows, horizons, trade, flags, scratch, out, ordered, counts):
    """The sums of a record over ``rows`` (``(n, WIDTH)``, :mod:`kernels.track_record`'s
    columns): per horizon column ``0 .. horizons - 1``, :data:`PER_HORIZON` values at
    ``out[PER_HORIZON * k]``; then from ``out[PER_HORIZON * horizons]`` the trades' (column
    ``trade``) and the three flags' counts (columns ``flags .. flags + 2``, counting values
    other than 0.0). ``scratch``: at least ``(horizons + 2) * n`` values, overwritten. A
    median of no value is NaN. ``ordered[k, :counts[k]]``, when ``ordered`` has a row per
    horizon, are horizon ``k``'s known values sorted (:func:`window_nb`): its median is read
    there (when the count is the column's), not selected.

    The rows are read once, :data:`_BLOCK` at a time (each block's columns read while it is
    in the cache), column ``k``'s known values gathered at ``scratch[k * n]`` (the trades'
    after the horizons'), their counts kept in ``out`` meanwhile."""
    n = rows.shape[0]
    base = PER_HORIZON * horizons
    for k in range(horizons):
        out[PER_HORIZON * k] = 0.0
        out[PER_HORIZON * k + 1] = 0.0
    for c in range(base + TRADES, base + AFTER_HORIZONS):
        out[c] = 0.0
    for lo in range(0, n, _BLOCK):
        hi = min(n, lo + _BLOCK)
        for k in range(horizons + 1):
            column = k if k < horizons else trade
            tally = PER_HORIZON * k if k < horizons else base + TRADES
            m = int(out[tally])
            positive = 0
            for t in range(lo, hi):
                v = rows[t, column]
                if v == v:
                    scratch[k * n + m] = v
                    m += 1
                    positive += v > 0
            out[tally] = m
            if k < horizons:
                out[tally + 1] += positive
        for f in range(3):
            count = 0
            for t in range(lo, hi):
                count += rows[t, flags + f] != 0.0
            out[base + COMPLETES + f] += count
    for k in range(horizons):
        at = PER_HORIZON * k
        m = int(out[at])
        out[at + 2] = 0.0 + _pairwise(scratch, k * n, m)
        if m == 0:
            out[at + 3] = np.nan
        elif ordered.shape[0] == horizons and counts[k] == m:
            out[at + 3] = _middle(ordered, k, m)
        else:
            out[at + 3] = _median(scratch, k * n, m)
    m = int(out[base + TRADES])
    trades = horizons * n
    out[base + TRADE_SUM] = 0.0 + _pairwise(scratch, trades, m)
    # The gains, then the losses, each in the order of the trades (as boolean indexing).
    for sign in range(2):
        kept = 0
        for t in range(trades, trades + m):
            v = scratch[t]
            if (v > 0) if sign == 0 else (v < 0):
                scratch[trades + n + kept] = v
                kept += 1
        out[base + (GAINS if sign == 0 else LOSSES)] = 0.0 + _pairwise(scratch, trades + n, kept)


@inlined_loops
def _place(ordered, k, n, v, after):
    """The first place of ``ordered[k, :n]`` (sorted) whose value is not below ``v``
    (``after``: above it)."""
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) >> 1
        w = ordered[k, mid]
        if w < v or (after and w == v):
            lo = mid + 1
        else:
            hi = mid
    return lo


@entry
def window_nb(ordered, counts, rows, first, count, held):
    """Keep ``ordered[k, :counts[k]]`` the known (not NaN) values of column ``k`` of a window
    of at most ``size = ordered.shape[1]`` rows of ``rows``, sorted, for each row ``k`` of
    ``ordered``, as rows ``first .. first + count - 1`` enter it in turn (it held ``held``,
    the rows just before ``first``): as each enters, the row ``size`` before it leaves once
    the window is full."""
    size = ordered.shape[1]
    for i in range(count):
        row = first + i
        _enter(ordered, counts, rows, row, row - size if held + i >= size else -1)


@inlined_loops
def _enter(ordered, counts, rows, entering, leaving):
    """Row ``entering`` enters the window, row ``leaving`` leaves it (-1: none): a value out
    (one equal to it: the same median) and a value in, each place found by bisection, the
    values between the two places moved by one."""
    for k in range(ordered.shape[0]):
        n = counts[k]
        out = rows[leaving, k] if leaving >= 0 else np.nan
        gone = -1
        if out == out:
            gone = _place(ordered, k, n, out, False)
            if gone == n or ordered[k, gone] != out:
                gone = -1  # not held (never, when every value entered through here)
        v = rows[entering, k]
        if v != v:
            if gone >= 0:
                for i in range(gone, n - 1):
                    ordered[k, i] = ordered[k, i + 1]
                counts[k] = n - 1
            continue
        at = _place(ordered, k, n, v, True)
        if gone >= 0:
            # Out at gone, in at the place left: only the values between them move.
            if at > gone:
                for i in range(gone, at - 1):
                    ordered[k, i] = ordered[k, i + 1]
                ordered[k, at - 1] = v
            else:
                for i in range(gone, at, -1):
                    ordered[k, i] = ordered[k, i - 1]
                ordered[k, at] = v
        elif n < ordered.shape[1]:  # never full: a value left first
            for i in range(n, at, -1):
                ordered[k, i] = ordered[k, i - 1]
            ordered[k, at] = v
            counts[k] = n + 1
