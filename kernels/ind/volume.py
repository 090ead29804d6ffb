"""Volume indicators: OBV and the UTC-session VWAP.

See :mod:`kernels.ind` for the array contract. The rolling VWAP is not a kernel: the lowering
builds it as ``SUM(tp * volume, n) / SUM(volume, n)``.
"""

from __future__ import annotations

import math

from kernels import ops
from kernels.jit import loops
from kernels.ops import OpSpec, Params, fixed_cost

_DAY_MS = 86_400_000.0


@loops
def obv_nb(mem, items, st, inp, roff, rdep, p, oj, mj):
    """On-balance volume of (close, volume); reference TA-Lib OBV: starts at the run's first
    volume, then adds the volume when the close rose, subtracts it when it fell.
    State: [valid flag, previous close, OBV]."""
    xo, xm = roff[inp[0]], rdep[inp[0]] - 1
    vo, vm = roff[inp[1]], rdep[inp[1]] - 1
    for w in range(items.shape[0]):
        row, c0, c1 = mem[items[w, 0]], items[w, 1], items[w, 2]
        seen, prev, obv = row[st], row[st + 1], row[st + 2]
        for c in range(c0, c1):
            x, v = row[xo + (c & xm)], row[vo + (c & vm)]
            if math.isnan(x) or math.isnan(v):
                seen, prev, obv = 0.0, 0.0, 0.0
                row[oj + (c & mj)] = math.nan
                continue
            if seen == 0.0:
                obv = v
            elif x > prev:
                obv += v
            elif x < prev:
                obv -= v
            seen, prev = 1.0, x
            row[oj + (c & mj)] = obv
        row[st], row[st + 1], row[st + 2] = seen, prev, obv


@loops
def vwap_session_nb(mem, items, st, inp, roff, rdep, p, oj, mj):
    """VWAP of (typical price, volume, open time in epoch ms) anchored at 00:00 UTC; reference
    TradingView ta.vwap with a daily anchor on a UTC chart: ``sum(tp * v) / sum(v)`` over the
    bars since the session (UTC day) began, a new sum starting on the first bar of each day.
    A run (the first bar stepped, or the bar after a NaN input) starts a session too, as a
    chart's first bar does in Pine. While the session's volume is 0 the VWAP is NaN (Pine's
    0 / 0 is ``na``); the sums carry on, so it returns with the first traded volume.
    ``p[0]`` (bars per UTC day) only sets the warm-up: a history that starts mid-day has a
    partial first session. State: [valid flag, UTC day number, sum tp * v, sum v]."""
    po, pm = roff[inp[0]], rdep[inp[0]] - 1
    vo, vm = roff[inp[1]], rdep[inp[1]] - 1
    to, tm = roff[inp[2]], rdep[inp[2]] - 1
    for w in range(items.shape[0]):
        row, c0, c1 = mem[items[w, 0]], items[w, 1], items[w, 2]
        seen, day, sum_pv, sum_v = row[st], row[st + 1], row[st + 2], row[st + 3]
        for c in range(c0, c1):
            tp, v, t = row[po + (c & pm)], row[vo + (c & vm)], row[to + (c & tm)]
            if math.isnan(tp) or math.isnan(v) or math.isnan(t):
                seen, day, sum_pv, sum_v = 0.0, 0.0, 0.0, 0.0
                row[oj + (c & mj)] = math.nan
                continue
            today = math.floor(t / _DAY_MS)
            if seen == 0.0 or today != day:
                sum_pv = tp * v
                sum_v = v
            else:
                sum_pv = sum_pv + tp * v
                sum_v = sum_v + v
            seen, day = 1.0, today
            row[oj + (c & mj)] = math.nan if sum_v == 0.0 else sum_pv / sum_v
        row[st], row[st + 1], row[st + 2], row[st + 3] = seen, day, sum_pv, sum_v


@loops
def block_nb(o, mem, items, st, inp, roff, rdep, p, oj, mj):
    """Step a node of this family through the bars of ``items`` (see :mod:`kernels.ind`)."""
    if o == ops.OBV:
        obv_nb(mem, items, st, inp, roff, rdep, p, oj, mj)
    elif o == ops.VWAP_SESSION:
        vwap_session_nb(mem, items, st, inp, roff, rdep, p, oj, mj)


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
