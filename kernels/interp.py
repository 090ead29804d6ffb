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
                    out[s, t, k] = row[roff[i] + ((c - 1) & (rdep[i] - 1))] if c > 0 else math.nan
                continue
            ext_row = ext[s, t]
            for j in range(n_nodes):
                o = op[j]
                if o >= 30:
                    # Tuples, not array views: a view per node would cost reference counting.
                    inp = (ins[j, 0], ins[j, 1], ins[j, 2], ins[j, 3])
                    p = (prm[j, 0], prm[j, 1], prm[j, 2], prm[j, 3])
                    st = soff[j]
                    # Every kernel is called right here: behind one more function call (a
                    # dispatcher) each step cost ~60 ns more.
                    if o == ops.EMA:
                        v = ema_nb(row, st, c, inp, roff, rdep, p)
                    elif o == ops.SMA:
                        v = sma_nb(row, st, c, inp, roff, rdep, p)
                    elif o == ops.RSI:
                        v = rsi_nb(row, st, c, inp, roff, rdep, p)
                    elif o == ops.RMA:
                        v = rma_nb(row, st, c, inp, roff, rdep, p)
                    elif o == ops.STDDEV:
                        v = stddev_nb(row, st, c, inp, roff, rdep, p)
                    elif o == ops.WMA:
                        v = wma_nb(row, st, c, inp, roff, rdep, p)
                    elif o == ops.SUM:
                        v = sum_nb(row, st, c, inp, roff, rdep, p)
                    elif o == ops.HIGHEST:
                        v = highest_nb(row, st, c, inp, roff, rdep, p)
                    elif o == ops.LOWEST:
                        v = lowest_nb(row, st, c, inp, roff, rdep, p)
                    elif o == ops.MACDLINE:
                        v = macdline_nb(row, st, c, inp, roff, rdep, p)
                    elif o == ops.STOCHK:
                        v = stochk_nb(row, st, c, inp, roff, rdep, p)
                    elif o == ops.TRANGE:
                        v = trange_nb(row, st, c, inp, roff, rdep, p)
                    elif o == ops.ROC:
                        v = roc_nb(row, st, c, inp, roff, rdep, p)
                    elif o == ops.WILLR:
                        v = willr_nb(row, st, c, inp, roff, rdep, p)
                    elif o == ops.CCI:
                        v = cci_nb(row, st, c, inp, roff, rdep, p)
                    elif o == ops.MFI:
                        v = mfi_nb(row, st, c, inp, roff, rdep, p)
                    elif o == ops.PLUS_DI:
                        v = plus_di_nb(row, st, c, inp, roff, rdep, p)
                    elif o == ops.MINUS_DI:
                        v = minus_di_nb(row, st, c, inp, roff, rdep, p)
                    elif o == ops.ADX:
                        v = adx_nb(row, st, c, inp, roff, rdep, p)
                    elif o == ops.SUPERTREND:
                        v = supertrend_nb(row, st, c, inp, roff, rdep, p)
                    elif o == ops.OBV:
                        v = obv_nb(row, st, c, inp, roff, rdep, p)
                    elif o == ops.VWAP_SESSION:
                        v = vwap_session_nb(row, st, c, inp, roff, rdep, p)
                    else:
                        v = math.nan
                elif o == _SRC:
                    v = bar[int(prm[j, 0])]
                elif o == _CONST:
                    v = prm[j, 0]
                elif o == _EXT:
                    v = ext_row[int(prm[j, 0])]
                else:
                    # Written out here rather than in a helper: as a separate function (even
                    # inlined) this part cost ten times more per node.
                    i0 = ins[j, 0]
                    a = row[roff[i0] + (c & (rdep[i0] - 1))]
                    if o == _LAG:
                        k = int(prm[j, 0])
                        v = row[roff[i0] + ((c - k) & (rdep[i0] - 1))] if k <= c else math.nan
                    elif o == _NEG:
                        v = -a
                    elif o == _ABS:
                        v = abs(a)
                    elif o == _NOT:
                        v = math.nan if math.isnan(a) else (1.0 if a == 0.0 else 0.0)
                    elif o in (_RISING, _FALLING):
                        n = int(prm[j, 0])
                        if n > c or math.isnan(a):
                            v = math.nan
                        else:
                            v = 1.0
                            for k in range(1, n + 1):
                                w = row[roff[i0] + ((c - k) & (rdep[i0] - 1))]
                                if math.isnan(w):
                                    v = math.nan
                                    break
                                if (o == _RISING and not a > w) or (o == _FALLING and not a < w):
                                    v = 0.0
                                    break
                    else:
                        i1 = ins[j, 1]
                        b = row[roff[i1] + (c & (rdep[i1] - 1))]
                        if o == _ADD:
                            v = a + b
                        elif o == _SUB:
                            v = a - b
                        elif o == _MUL:
                            v = a * b
                        elif o == _DIV:
                            v = a / b if b != 0.0 else math.nan
                        elif math.isnan(a) or math.isnan(b):
                            v = math.nan
                        elif o == _LT:
                            v = 1.0 if a < b else 0.0
                        elif o == _LE:
                            v = 1.0 if a <= b else 0.0
                        elif o == _GT:
                            v = 1.0 if a > b else 0.0
                        elif o == _GE:
                            v = 1.0 if a >= b else 0.0
                        elif o == _EQ:
                            v = 1.0 if a == b else 0.0
                        elif o == _NE:
                            v = 1.0 if a != b else 0.0
                        elif o == _AND:
                            v = 1.0 if (a != 0.0 and b != 0.0) else 0.0
                        elif o == _OR:
                            v = 1.0 if (a != 0.0 or b != 0.0) else 0.0
                        elif o == _MIN:
                            v = min(a, b)
                        elif o == _MAX:
                            v = max(a, b)
                        elif (o in (_XA, _XB)) and c >= 1:
                            a1 = row[roff[i0] + ((c - 1) & (rdep[i0] - 1))]
                            b1 = row[roff[i1] + ((c - 1) & (rdep[i1] - 1))]
                            if math.isnan(a1) or math.isnan(b1):
                                v = math.nan
                            elif o == _XA:
                                v = 1.0 if (a > b and a1 <= b1) else 0.0
                            else:
                                v = 1.0 if (a < b and a1 >= b1) else 0.0
                        else:
                            v = math.nan
                row[roff[j] + (c & (rdep[j] - 1))] = v
            for k in range(n_out):
                i = out_nodes[k]
                out[s, t, k] = row[roff[i] + (c & (rdep[i] - 1))]
            c += 1
        if commit:
            count[s] = c
