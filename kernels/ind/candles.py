"""TA-Lib's candlestick patterns: one kernel interpreting each pattern's bytecode.

See :mod:`kernels.ind` for the array contract and :mod:`kernels.ind.candle_code` for the
patterns' language. A ``CANDLE`` node's parameters are the pattern's index in
:data:`kernels.ind.candle_patterns.PATTERNS` and its penetration; its inputs are open, high,
low and close. Its output equals TA-Lib's ``CDL*`` function (-200..200) from the pattern's
lookback on, NaN before.

**TA-Lib's arithmetic, exactly.** TA-Lib keeps each candle average's sum as a running total:
summed over its first window in bar order, then, after each bar's recognition, the newest
candle's range added and the oldest's subtracted (``total += new - old``). The kernel keeps the
same totals in its state, started at the same bars of the run and updated in the same order,
so every comparison sees the same floats and the output is TA-Lib's, bit for bit.

State: [valid bars, registers R0 .. T1, the pattern's running totals, its stack].
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from kernels import ops
from kernels.ind import candle_code as cc
from kernels.ind.candle_patterns import PATTERNS
from kernels.jit import family, loops
from kernels.ops import OpSpec, Params


def _tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(patterns, code, constants, totals) of every pattern, for the kernel."""
    pat = np.zeros((len(PATTERNS), 8), dtype=np.int64)
    code: list[tuple[int, int, int]] = []
    consts: list[float] = []
    totals: list[tuple[int, int, int]] = []
    for i, p in enumerate(PATTERNS):
        a = cc.assemble(p)
        shifted = [
            (op, x + len(consts), y) if op == cc.I_CONST else (op, x, y) for op, x, y in a.code
        ]
        pat[i] = (
            len(code),
            len(code) + len(shifted),
            len(totals),
            len(a.totals),
            p.lookback,
            p.pre,
            a.depth,
            0,
        )
        code.extend(shifted)
        consts.extend(a.consts)
        totals.extend(a.totals)
    return (
        pat,
        np.asarray(code, dtype=np.int64).reshape(-1, 3),
        np.asarray(consts or [0.0], dtype=np.float64),
        np.asarray(totals or [(0, 0, 0)], dtype=np.int64).reshape(-1, 3),
    )


_PAT, _CODE, _CONSTS, _TOTS = _tables()
_SET = np.asarray(cc.SETTINGS, dtype=np.float64)
#: State slots before a pattern's totals: the valid bars, then registers R0 .. T1.
_HEAD = 1 + cc.T1


def state_size(index: int) -> int:
    """State slots of pattern ``index``."""
    row = _PAT[index]
    return int(_HEAD + row[3] + row[6])


@njit(cache=True, nogil=True, inline="always")
def _range(rtype, op_, hi, lw, cl):
    """TA_CANDLERANGE: real body, high-low range or both shadows."""
    if rtype == cc.REAL_BODY:
        return abs(cl - op_)
    if rtype == cc.HIGH_LOW:
        return hi - lw
    return (hi - max(cl, op_)) + (min(cl, op_) - lw)


@njit(cache=True, nogil=True, inline="always")
def _at(row, fo, fm, f, i):
    """Field ``f`` (open, high, low, close) of bar ``i``."""
    return row[fo[f] + (i & fm[f])]


# The numba opcode switch, the one function allowed over 80 lines: one loop over a candle
# program's instructions, one branch per opcode, kept whole so the per-bar loop stays a single
# compiled function (split, every instruction of every bar would go through a call).
@loops
def _eval(row, st, q0, q1, tot, sp, c, j, fo, fm, pen):
    """Run instructions ``q0 .. q1 - 1`` at bar ``c`` (run index ``j``): returns the output
    register. ``fo``/``fm``: ring offsets and masks of open, high, low, close."""
    out = 0.0
    q = q0
    while q < q1:
        op, a, b = _CODE[q, 0], _CODE[q, 1], _CODE[q, 2]
        q += 1
        if op == cc.I_AND_JUMP:
            if row[sp - 1] == 0.0:
                q += a
            else:
                sp -= 1
        elif op == cc.I_OR_JUMP:
            if row[sp - 1] != 0.0:
                q += a
            else:
                sp -= 1
        elif op == cc.I_JUMP_ZERO:
            sp -= 1
            if row[sp] == 0.0:
                q += a
        elif op == cc.I_JUMP:
            q += a
        elif op <= cc.I_AVG:
            if op == cc.I_FIELD:
                v = _at(row, fo, fm, a, c - b)
            elif op == cc.I_CONST:
                v = _CONSTS[a]
            elif op == cc.I_AVG:
                v = _SET[a, 2] * (row[tot + b] / _SET[a, 1])
                v = v / 2.0 if int(_SET[a, 0]) == cc.SHADOWS else v
            else:
                i = c - a
                x_o, x_c = _at(row, fo, fm, 0, i), _at(row, fo, fm, 3, i)
                if op == cc.I_BODY:
                    v = abs(x_c - x_o)
                elif op == cc.I_UPPER:
                    v = _at(row, fo, fm, 1, i) - max(x_c, x_o)
                elif op == cc.I_LOWER:
                    v = min(x_c, x_o) - _at(row, fo, fm, 2, i)
                elif op == cc.I_RANGE:
                    v = _at(row, fo, fm, 1, i) - _at(row, fo, fm, 2, i)
                elif op == cc.I_COLOR:
                    v = 1.0 if x_c >= x_o else -1.0
                elif op == cc.I_TOP:
                    v = max(x_c, x_o)
                else:  # I_BOTTOM
                    v = min(x_c, x_o)
            row[sp] = v
            sp += 1
        elif op == cc.I_AVG_SELF:  # the candle's own range
            i = c - b
            rtype = int(_SET[a, 0])
            v = _SET[a, 2] * _range(
                rtype,
                _at(row, fo, fm, 0, i),
                _at(row, fo, fm, 1, i),
                _at(row, fo, fm, 2, i),
                _at(row, fo, fm, 3, i),
            )
            row[sp] = v / 2.0 if rtype == cc.SHADOWS else v
            sp += 1
        elif op == cc.I_PARAM:
            row[sp] = pen
            sp += 1
        elif op == cc.I_REG:
            row[sp] = row[st + a]
            sp += 1
        elif op == cc.I_INDEX:
            row[sp] = float(j)
            sp += 1
        elif op == cc.I_NEG:
            row[sp - 1] = -row[sp - 1]
        elif op == cc.I_NOT:
            row[sp - 1] = 0.0 if row[sp - 1] != 0.0 else 1.0
        elif op == cc.I_FIELD_AT:
            row[sp - 1] = _at(row, fo, fm, a, c - (j - int(row[sp - 1])))
        elif op == cc.I_SET:
            sp -= 1
            if a == cc.OUT:
                out = row[sp]
            else:
                row[st + a] = row[sp]
        else:
            sp -= 1
            x, y = row[sp - 1], row[sp]
            if op == cc.I_ADD:
                v = x + y
            elif op == cc.I_SUB:
                v = x - y
            elif op == cc.I_MUL:
                v = x * y
            elif op == cc.I_DIV:
                v = x / y
            elif op == cc.I_MAX:
                v = max(x, y)
            elif op == cc.I_MIN:
                v = min(x, y)
            elif op == cc.I_LT:
                v = 1.0 if x < y else 0.0
            elif op == cc.I_LE:
                v = 1.0 if x <= y else 0.0
            elif op == cc.I_GT:
                v = 1.0 if x > y else 0.0
            elif op == cc.I_GE:
                v = 1.0 if x >= y else 0.0
            elif op == cc.I_EQ:
                v = 1.0 if x == y else 0.0
            else:  # I_NE
                v = 1.0 if x != y else 0.0
            row[sp - 1] = v
    return out


@loops
def _roll(row, tot, t0, n_tot, c, j, lookback, fo, fm):
    """The running totals after bar ``c`` (run index ``j``): summed over their first window
    before ``lookback`` (where TA-Lib's loop starts), then the newest range in and the oldest
    out (TA-Lib's order)."""
    for t in range(n_tot):
        rtype, period, k = _TOTS[t0 + t, 0], _TOTS[t0 + t, 1], _TOTS[t0 + t, 2]
        if j < lookback:
            if lookback - k - period <= j < lookback - k:
                row[tot + t] += _range(
                    rtype,
                    row[fo[0] + (c & fm[0])],
                    row[fo[1] + (c & fm[1])],
                    row[fo[2] + (c & fm[2])],
                    row[fo[3] + (c & fm[3])],
                )
            continue
        i, e = c - k, c - k - period
        new = _range(
            rtype,
            row[fo[0] + (i & fm[0])],
            row[fo[1] + (i & fm[1])],
            row[fo[2] + (i & fm[2])],
            row[fo[3] + (i & fm[3])],
        )
        old = _range(
            rtype,
            row[fo[0] + (e & fm[0])],
            row[fo[1] + (e & fm[1])],
            row[fo[2] + (e & fm[2])],
            row[fo[3] + (e & fm[3])],
        )
        row[tot + t] += new - old


@loops
def candle_nb(mem, items, st, inp, roff, rdep, p, oj, mj):
    """TA-Lib's ``CDL*`` pattern ``p[0]`` (penetration ``p[1]``) of (open, high, low, close);
    see the module docstring."""
    k = int(p[0])
    q0, q1, t0, n_tot = _PAT[k, 0], _PAT[k, 1], _PAT[k, 2], _PAT[k, 3]
    lookback, pre = _PAT[k, 4], _PAT[k, 5]
    fo = (roff[inp[0]], roff[inp[1]], roff[inp[2]], roff[inp[3]])
    fm = (rdep[inp[0]] - 1, rdep[inp[1]] - 1, rdep[inp[2]] - 1, rdep[inp[3]] - 1)
    tot = st + _HEAD
    sp = tot + n_tot
    for w in range(items.shape[0]):
        row, c0, c1 = mem[items[w, 0]], items[w, 1], items[w, 2]
        for c in range(c0, c1):
            bad = False
            for f in range(4):
                bad = bad or math.isnan(row[fo[f] + (c & fm[f])])
            if bad:
                for s in range(_HEAD + n_tot):
                    row[st + s] = 0.0
                row[oj + (c & mj)] = math.nan
                continue
            j = int(row[st])
            out = math.nan
            if j >= lookback - pre:
                v = _eval(row, st, q0, q1, tot, sp, c, j, fo, fm, p[1])
                out = v if j >= lookback else math.nan
            _roll(row, tot, t0, n_tot, c, j, lookback - pre, fo, fm)
            row[st] = j + 1.0
            row[oj + (c & mj)] = out


@family
def block_nb(o, mem, items, st, inp, roff, rdep, p, oj, mj, tmp):
    """Step a node of this family through the bars of ``items`` (see :mod:`kernels.ind`)."""
    if o == ops.CANDLE:
        candle_nb(mem, items, st, inp, roff, rdep, p, oj, mj)


def _lookback(p: Params) -> int:
    return int(_PAT[int(p[0]), 4])


def _cost(p: Params) -> int:
    # Measured (benchmarks: a pattern's code run to its end, every test passing): about three
    # instructions per simple node step, plus each running total's two ranges; most bars
    # fail a pattern's first tests and cost a fraction of it.
    row = _PAT[int(p[0])]
    return int(3 + (row[1] - row[0]) // 3 + 2 * row[3])


SPECS: dict[int, OpSpec] = {
    ops.CANDLE: OpSpec(
        "candle",
        4,
        lambda p: state_size(int(p[0])),
        lambda p: (_lookback(p) + 1,) * 4,
        _lookback,
        "TA-Lib CDL* (kernels.ind.candle_patterns names each)",
        _cost,
    ),
}

#: Opcodes this family runs (see :mod:`kernels.families`).
OPCODES = tuple(SPECS)
