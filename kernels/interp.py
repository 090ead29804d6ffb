"""The plan interpreter: one precompiled numba function that steps every node of a plan.

Filters are never compiled to machine code of their own (DESIGN §3): a plan is data (the node
table below) and this fixed interpreter runs it. Array contract of :func:`run_nb`:

- node table, ``n`` nodes in topological order: ``op`` int64[n], ``ins`` int64[n, 4] input node
  ids (-1 unused), ``prm`` float64[n, 4] parameters, ``soff`` int64[n] state offsets,
  ``roff``/``rdep`` int64[n] output ring offsets and depths (see :mod:`kernels.ind`);
- ``mem`` float64[n_symbols, width]: per symbol, every node's state and output ring;
  ``count`` int64[n_symbols]: bars stepped per symbol (the ``c`` of the next bar);
- ``bars`` float64[n_symbols, n_t, 9]: the bars to step, fields as :data:`kernels.ops.OPEN` ...
  :data:`kernels.ops.OPEN_TIME`; a NaN open time means "no bar here" (the symbol does not
  advance at that step); ``ext`` float64[n_symbols, n_t, n_ext]: values of other
  timeframes' nodes (``EXT`` nodes read them);
- ``out_nodes`` int64[k] and ``out`` float64[n_symbols, n_t, k]: node outputs gathered per bar;
- ``scratch`` float64[width]: working row used when ``commit`` is false.

With ``commit`` the symbols' memory advances; without it (evaluating a forming bar) each
symbol's row is copied into ``scratch`` and stepped there, so committed state is untouched.
Releases the GIL: disjoint symbol ranges may run in parallel threads (each with its own
``scratch``).
"""

from __future__ import annotations

import math

from numba import njit

from kernels import ops
from kernels.ind.access import ago, cur
from kernels.ind.averages import ema_nb, rma_nb, sma_nb, sum_nb, wma_nb
from kernels.ind.oscillators import (
    cci_nb,
    macdline_nb,
    mfi_nb,
    roc_nb,
    rsi_nb,
    stochk_nb,
    willr_nb,
)
from kernels.ind.stats import highest_nb, lowest_nb, stddev_nb
from kernels.ind.trend import adx_nb, minus_di_nb, plus_di_nb, supertrend_nb, trange_nb
from kernels.ind.volume import obv_nb, vwap_session_nb

_CONST, _SRC, _EXT, _LAG = ops.CONST, ops.SRC, ops.EXT, ops.LAG
_ADD, _SUB, _MUL, _DIV, _NEG, _ABS, _MIN, _MAX = (
    ops.ADD, ops.SUB, ops.MUL, ops.DIV, ops.NEG, ops.ABS, ops.MIN, ops.MAX,
)  # fmt: skip
_LT, _LE, _GT, _GE, _EQ, _NE = ops.LT, ops.LE, ops.GT, ops.GE, ops.EQ, ops.NE
_AND, _OR, _NOT = ops.AND, ops.OR, ops.NOT
_XA, _XB, _RISING, _FALLING = ops.CROSS_ABOVE, ops.CROSS_BELOW, ops.RISING, ops.FALLING
_OPEN_TIME = ops.OPEN_TIME


@njit(cache=True, nogil=True, inline="always")
def _truth(b):
    return 1.0 if b else 0.0


@njit(cache=True, nogil=True)
def _basic(o, row, c, inp, roff, rdep, p, bar, ext_row):
    """Sources, arithmetic, comparisons, logic and the crossing helpers."""
    if o == _SRC:
        return bar[int(p[0])]
    if o == _CONST:
        return p[0]
    if o == _EXT:
        return ext_row[int(p[0])]
    a = cur(row, roff, rdep, inp[0], c)
    if o == _LAG:
        k = int(p[0])
        return ago(row, roff, rdep, inp[0], c, k) if k <= c else math.nan
    if o == _NEG:
        return -a
    if o == _ABS:
        return abs(a)
    if o == _NOT:
        return math.nan if math.isnan(a) else _truth(a == 0.0)
    if o in (_RISING, _FALLING):
        n = int(p[0])
        if n > c or math.isnan(a):
            return math.nan
        for k in range(1, n + 1):
            v = ago(row, roff, rdep, inp[0], c, k)
            if math.isnan(v):
                return math.nan
            if (o == _RISING and not a > v) or (o == _FALLING and not a < v):
                return 0.0
        return 1.0
    b = cur(row, roff, rdep, inp[1], c)
    if o == _ADD:
        return a + b
    if o == _SUB:
        return a - b
    if o == _MUL:
        return a * b
    if o == _DIV:
        return a / b if b != 0.0 else math.nan
    if math.isnan(a) or math.isnan(b):
        return math.nan
    if o == _LT:
        return _truth(a < b)
    if o == _LE:
        return _truth(a <= b)
    if o == _GT:
        return _truth(a > b)
    if o == _GE:
        return _truth(a >= b)
    if o == _EQ:
        return _truth(a == b)
    if o == _NE:
        return _truth(a != b)
    if o == _AND:
        return _truth(a != 0.0 and b != 0.0)
    if o == _OR:
        return _truth(a != 0.0 or b != 0.0)
    if o == _MIN:
        return min(a, b)
    if o == _MAX:
        return max(a, b)
    if o in (_XA, _XB):
        if c < 1:
            return math.nan
        a1 = ago(row, roff, rdep, inp[0], c, 1)
        b1 = ago(row, roff, rdep, inp[1], c, 1)
        if math.isnan(a1) or math.isnan(b1):
            return math.nan
        if o == _XA:
            return _truth(a > b and a1 <= b1)
        return _truth(a < b and a1 >= b1)
    return math.nan


@njit(cache=True, nogil=True)
def _indicator(o, row, st, c, inp, roff, rdep, p):
    if o == ops.EMA:
        return ema_nb(row, st, c, inp, roff, rdep, p)
    if o == ops.SMA:
        return sma_nb(row, st, c, inp, roff, rdep, p)
    if o == ops.RSI:
        return rsi_nb(row, st, c, inp, roff, rdep, p)
    if o == ops.RMA:
        return rma_nb(row, st, c, inp, roff, rdep, p)
    if o == ops.STDDEV:
        return stddev_nb(row, st, c, inp, roff, rdep, p)
    if o == ops.WMA:
        return wma_nb(row, st, c, inp, roff, rdep, p)
    if o == ops.SUM:
        return sum_nb(row, st, c, inp, roff, rdep, p)
    if o == ops.HIGHEST:
        return highest_nb(row, st, c, inp, roff, rdep, p)
    if o == ops.LOWEST:
        return lowest_nb(row, st, c, inp, roff, rdep, p)
    if o == ops.MACDLINE:
        return macdline_nb(row, st, c, inp, roff, rdep, p)
    if o == ops.STOCHK:
        return stochk_nb(row, st, c, inp, roff, rdep, p)
    if o == ops.TRANGE:
        return trange_nb(row, st, c, inp, roff, rdep, p)
    if o == ops.ROC:
        return roc_nb(row, st, c, inp, roff, rdep, p)
    if o == ops.WILLR:
        return willr_nb(row, st, c, inp, roff, rdep, p)
    if o == ops.CCI:
        return cci_nb(row, st, c, inp, roff, rdep, p)
    if o == ops.MFI:
        return mfi_nb(row, st, c, inp, roff, rdep, p)
    if o == ops.PLUS_DI:
        return plus_di_nb(row, st, c, inp, roff, rdep, p)
    if o == ops.MINUS_DI:
        return minus_di_nb(row, st, c, inp, roff, rdep, p)
    if o == ops.ADX:
        return adx_nb(row, st, c, inp, roff, rdep, p)
    if o == ops.SUPERTREND:
        return supertrend_nb(row, st, c, inp, roff, rdep, p)
    if o == ops.OBV:
        return obv_nb(row, st, c, inp, roff, rdep, p)
    if o == ops.VWAP_SESSION:
        return vwap_session_nb(row, st, c, inp, roff, rdep, p)
    return math.nan


@njit(cache=True, nogil=True)
def run_nb(op, ins, prm, soff, roff, rdep, mem, count, bars, ext, lo, hi, commit, out_nodes, out,
           scratch):  # fmt: skip
    """Step symbols ``lo..hi-1`` through ``bars`` (see the module docstring)."""
    n_nodes = op.shape[0]
    n_t = bars.shape[1]
    n_out = out_nodes.shape[0]
    for s in range(lo, hi):
        if commit:
            row = mem[s]
        else:
            scratch[:] = mem[s]
            row = scratch
        c = count[s]
        for t in range(n_t):
            bar = bars[s, t]
            if math.isnan(bar[_OPEN_TIME]):
                # No bar for this symbol at this step: nothing advances; report latest values.
                for k in range(n_out):
                    i = out_nodes[k]
                    out[s, t, k] = row[roff[i] + (c - 1) % rdep[i]] if c > 0 else math.nan
                continue
            ext_row = ext[s, t]
            for j in range(n_nodes):
                o = op[j]
                if o < 30:
                    v = _basic(o, row, c, ins[j], roff, rdep, prm[j], bar, ext_row)
                else:
                    v = _indicator(o, row, soff[j], c, ins[j], roff, rdep, prm[j])
                row[roff[j] + c % rdep[j]] = v
            for k in range(n_out):
                i = out_nodes[k]
                out[s, t, k] = row[roff[i] + c % rdep[i]]
            c += 1
        if commit:
            count[s] = c
