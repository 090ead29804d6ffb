"""Volume indicators: OBV and the UTC-session VWAP.

See :mod:`kernels.ind` for the array contract. The rolling VWAP is not a kernel: the lowering
builds it as ``SUM(tp * volume, n) / SUM(volume, n)``.
"""

from __future__ import annotations

import math

from kernels import ops
from kernels.ind.access import cur
from kernels.ind.trend import reset
from kernels.jit import loops
from kernels.ops import OpSpec, Params, fixed_cost

_DAY_MS = 86_400_000.0


@loops
def obv_nb(row, st, c, inp, roff, rdep, p):
    """On-balance volume of (close, volume); reference TA-Lib OBV: starts at the run's first
    volume, then adds the volume when the close rose, subtracts it when it fell.
    State: [valid flag, previous close, OBV]."""
    x = cur(row, roff, rdep, inp[0], c)
    v = cur(row, roff, rdep, inp[1], c)
    if math.isnan(x) or math.isnan(v):
        return reset(row, st, 3)
    if row[st] == 0.0:
        obv = v
    else:
        obv = row[st + 2]
        prev = row[st + 1]
        if x > prev:
            obv += v
        elif x < prev:
            obv -= v
    row[st] = 1.0
    row[st + 1] = x
    row[st + 2] = obv
    return obv


@loops
def vwap_session_nb(row, st, c, inp, roff, rdep, p):
    """VWAP of (typical price, volume, open time in epoch ms) anchored at 00:00 UTC; reference
    TradingView ta.vwap with a daily anchor on a UTC chart: ``sum(tp * v) / sum(v)`` over the
    bars since the session (UTC day) began, a new sum starting on the first bar of each day.
    A run (the first bar stepped, or the bar after a NaN input) starts a session too, as a
    chart's first bar does in Pine. While the session's volume is 0 the VWAP is NaN (Pine's
    0 / 0 is ``na``); the sums carry on, so it returns with the first traded volume.
    ``p[0]`` (bars per UTC day) only sets the warm-up: a history that starts mid-day has a
    partial first session. State: [valid flag, UTC day number, sum tp * v, sum v]."""
    tp = cur(row, roff, rdep, inp[0], c)
    v = cur(row, roff, rdep, inp[1], c)
    t = cur(row, roff, rdep, inp[2], c)
    if math.isnan(tp) or math.isnan(v) or math.isnan(t):
        return reset(row, st, 4)
    day = math.floor(t / _DAY_MS)
    if row[st] == 0.0 or day != row[st + 1]:
        sum_pv = tp * v
        sum_v = v
    else:
        sum_pv = row[st + 2] + tp * v
        sum_v = row[st + 3] + v
    row[st] = 1.0
    row[st + 1] = day
    row[st + 2] = sum_pv
    row[st + 3] = sum_v
    if sum_v == 0.0:
        return math.nan
    return sum_pv / sum_v


@loops
def block_nb(o, mem, items, st, inp, roff, rdep, p, oj, mj):
    """Step a node of this family through the bars of ``items`` (see :mod:`kernels.ind`)."""
    if o == ops.OBV:
        for w in range(items.shape[0]):
            row = mem[items[w, 0]]
            for c in range(items[w, 1], items[w, 2]):
                row[oj + (c & mj)] = obv_nb(row, st, c, inp, roff, rdep, p)
    elif o == ops.VWAP_SESSION:
        for w in range(items.shape[0]):
            row = mem[items[w, 0]]
            for c in range(items[w, 1], items[w, 2]):
                row[oj + (c & mj)] = vwap_session_nb(row, st, c, inp, roff, rdep, p)


def _session_warmup(p: Params) -> int:
    # Worst case, the first bar is the day's second: a full session needs bars_per_day - 1 more.
    bars_per_day = int(p[0]) if len(p) > 0 else 0
    return max(bars_per_day - 1, 0)


SPECS: dict[int, OpSpec] = {
    ops.OBV: OpSpec(
        "obv", 2, lambda _p: 3, lambda _p: (1, 1), lambda _p: 0, "TA-Lib OBV", fixed_cost(2)
    ),
    ops.VWAP_SESSION: OpSpec(
        "vwap",
        3,
        lambda _p: 4,
        lambda _p: (1, 1, 1),
        _session_warmup,
        "TradingView ta.vwap (anchor: UTC day)",
        fixed_cost(5),
    ),
}

#: Opcodes this family runs (see :mod:`kernels.families`).
OPCODES = tuple(SPECS)
