"""Volume indicators: OBV, the positive and negative volume indexes, the UTC-session VWAP and
its volume-weighted standard deviation (the VWAP bands).

See :mod:`kernels.ind` for the array contract. The rolling VWAP is not a kernel: the lowering
builds it as ``SUM(tp * volume, n) / SUM(volume, n)``; the bands are ``VWAP ± k * SD``.
"""

from __future__ import annotations

import math

from kernels import ops
from kernels.jit import family, loops
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
def volume_index_nb(mem, items, st, inp, roff, rdep, oj, mj, positive):
    """Positive (``positive``) or negative volume index of (close, volume);
    reference TradingView ta.pvi / ta.nvi: it starts at 1.0 and, on a bar whose volume is
    above (pvi) or below (nvi) the previous bar's, grows by the close's rate of change,
    ``index + (close - prev) / prev * index``; other bars carry it. A zero close (or previous
    close) carries it too, and an index that reached 0 restarts at 1.0, as in Pine. The first
    bar of a run has no previous bar: 1.0. State: [valid flag, previous close, previous
    volume, index]."""
    xo, xm = roff[inp[0]], rdep[inp[0]] - 1
    vo, vm = roff[inp[1]], rdep[inp[1]] - 1
    for w in range(items.shape[0]):
        row, c0, c1 = mem[items[w, 0]], items[w, 1], items[w, 2]
        seen, prev, prev_v, index = row[st], row[st + 1], row[st + 2], row[st + 3]
        for c in range(c0, c1):
            x, v = row[xo + (c & xm)], row[vo + (c & vm)]
            if math.isnan(x) or math.isnan(v):
                seen, prev, prev_v, index = 0.0, 0.0, 0.0, 0.0
                row[oj + (c & mj)] = math.nan
                continue
            base = 1.0 if seen == 0.0 or index == 0.0 else index
            index = base
            grew = (v > prev_v) if positive else (v < prev_v)
            if seen != 0.0 and x != 0.0 and prev != 0.0 and grew:
                index = base + ((x - prev) / prev) * base
            seen, prev, prev_v = 1.0, x, v
            row[oj + (c & mj)] = index
        row[st], row[st + 1], row[st + 2], row[st + 3] = seen, prev, prev_v, index


@loops
def vwap_session_sd_nb(mem, items, st, inp, roff, rdep, p, oj, mj):
    """Volume-weighted standard deviation of the typical price around the session VWAP, the
    sums anchored as :func:`vwap_session_nb` anchors them; reference TradingView ta.vwap's
    bands (``stdev_mult``): ``sqrt(max(sum(v * tp²) / sum(v) - vwap², 0))``, NaN while the
    session's volume is 0. State: [valid flag, UTC day number, sum tp * v, sum v, sum v * tp²]."""
    po, pm = roff[inp[0]], rdep[inp[0]] - 1
    vo, vm = roff[inp[1]], rdep[inp[1]] - 1
    to, tm = roff[inp[2]], rdep[inp[2]] - 1
    for w in range(items.shape[0]):
        row, c0, c1 = mem[items[w, 0]], items[w, 1], items[w, 2]
        seen, day, sum_pv, sum_v, sum_ppv = (
            row[st],
            row[st + 1],
            row[st + 2],
            row[st + 3],
            row[st + 4],
        )
        for c in range(c0, c1):
            tp, v, t = row[po + (c & pm)], row[vo + (c & vm)], row[to + (c & tm)]
            if math.isnan(tp) or math.isnan(v) or math.isnan(t):
                seen, day, sum_pv, sum_v, sum_ppv = 0.0, 0.0, 0.0, 0.0, 0.0
                row[oj + (c & mj)] = math.nan
                continue
            today = math.floor(t / _DAY_MS)
            if seen == 0.0 or today != day:
                sum_pv, sum_v, sum_ppv = tp * v, v, v * (tp * tp)
            else:
                sum_pv = sum_pv + tp * v
                sum_v = sum_v + v
                sum_ppv = sum_ppv + v * (tp * tp)
            seen, day = 1.0, today
            sd = math.nan
            if sum_v != 0.0:
                vwap = sum_pv / sum_v
                sd = math.sqrt(max(sum_ppv / sum_v - vwap * vwap, 0.0))
            row[oj + (c & mj)] = sd
        row[st], row[st + 1], row[st + 2], row[st + 3], row[st + 4] = (
            seen,
            day,
            sum_pv,
            sum_v,
            sum_ppv,
        )


@family
def block_nb(o, mem, items, st, inp, roff, rdep, p, oj, mj, tmp):
    """Step a node of this family through the bars of ``items`` (see :mod:`kernels.ind`)."""
    if o == ops.OBV:
        obv_nb(mem, items, st, inp, roff, rdep, p, oj, mj)
    elif o == ops.VWAP_SESSION:
        vwap_session_nb(mem, items, st, inp, roff, rdep, p, oj, mj)
    elif o == ops.PVI or o == ops.NVI:
        volume_index_nb(mem, items, st, inp, roff, rdep, oj, mj, o == ops.PVI)
    elif o == ops.VWAP_SESSION_SD:
        vwap_session_sd_nb(mem, items, st, inp, roff, rdep, p, oj, mj)


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
    **{
        op: OpSpec(
            name,
            2,
            lambda _p: 4,
            lambda _p: (1, 1),
            lambda _p: 0,
            f"TradingView ta.{name}",
            fixed_cost(3),
        )
        for op, name in ((ops.PVI, "pvi"), (ops.NVI, "nvi"))
    },
    ops.VWAP_SESSION_SD: OpSpec(
        "vwap_sd",
        3,
        lambda _p: 5,
        lambda _p: (1, 1, 1),
        _session_warmup,
        "TradingView ta.vwap bands (stdev_mult; anchor: UTC day)",
        fixed_cost(7),
    ),
}

#: Opcodes this family runs (see :mod:`kernels.families`).
OPCODES = tuple(SPECS)
