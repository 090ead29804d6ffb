"""Each function of :mod:`kernels.lang.catalog` as one kernel node or a small composition of
nodes (``bbands(20, 2).upper`` is ``sma + stddev * 2``); the compositions are the ones the
indicator tests verify against TA-Lib. :mod:`kernels.lower` looks a call up in :data:`RULES`
and hands it the nodes of its inputs."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from kernels import ops
from kernels.graph import Graph
from kernels.ind import structure
from kernels.ind.candle_patterns import PATTERNS
from kernels.lang.catalog import candle_name
from kernels.timeframes import DAY_MS, timeframe_ms

#: How one catalog function becomes nodes: (graph, input nodes, parameters, field, timeframe)
#: -> its output node.
Rule = Callable[[Graph, Sequence[int], Sequence[float], "str | None", str], int]


def _single(op: int) -> Rule:
    def rule(g: Graph, x: Sequence[int], p: Sequence[float], _f: str | None, _tf: str) -> int:
        return g.add(op, tuple(x), tuple(p))

    return rule


def _mul(g: Graph, k: float, x: int) -> int:
    return g.add(ops.MUL, (g.const(k), x))


def _dema(g: Graph, x: Sequence[int], p: Sequence[float], _f: str | None, _tf: str) -> int:
    e1 = g.add(ops.EMA, (x[0],), (p[0],))
    e2 = g.add(ops.EMA, (e1,), (p[0],))
    return g.add(ops.SUB, (_mul(g, 2.0, e1), e2))


def _tema(g: Graph, x: Sequence[int], p: Sequence[float], _f: str | None, _tf: str) -> int:
    e1 = g.add(ops.EMA, (x[0],), (p[0],))
    e2 = g.add(ops.EMA, (e1,), (p[0],))
    e3 = g.add(ops.EMA, (e2,), (p[0],))
    return g.add(ops.ADD, (g.add(ops.SUB, (_mul(g, 3.0, e1), _mul(g, 3.0, e2))), e3))


def _trima(g: Graph, x: Sequence[int], p: Sequence[float], _f: str | None, _tf: str) -> int:
    n = int(p[0])
    first, second = ((n + 1) // 2, (n + 1) // 2) if n % 2 else (n // 2, n // 2 + 1)
    inner = g.add(ops.SMA, (x[0],), (first,))
    return g.add(ops.SMA, (inner,), (second,))


def _hma(g: Graph, x: Sequence[int], p: Sequence[float], _f: str | None, _tf: str) -> int:
    n = int(p[0])
    half = g.add(ops.WMA, (x[0],), (max(1, n // 2),))
    full = g.add(ops.WMA, (x[0],), (n,))
    diff = g.add(ops.SUB, (_mul(g, 2.0, half), full))
    return g.add(ops.WMA, (diff,), (max(1, math.isqrt(n)),))


def _vwma(g: Graph, x: Sequence[int], p: Sequence[float], _f: str | None, _tf: str) -> int:
    v = g.src(ops.VOLUME)
    num = g.add(ops.SMA, (g.add(ops.MUL, (x[0], v)),), (p[0],))
    return g.add(ops.DIV, (num, g.add(ops.SMA, (v,), (p[0],))))


def _stoch(g: Graph, x: Sequence[int], p: Sequence[float], f: str | None, _tf: str) -> int:
    k = g.add(ops.STOCHK, tuple(x), (p[0],))
    slowk = g.add(ops.SMA, (k,), (p[1],))
    return slowk if f == "slowk" else g.add(ops.SMA, (slowk,), (p[2],))


def _stochf(g: Graph, x: Sequence[int], p: Sequence[float], f: str | None, _tf: str) -> int:
    k = g.add(ops.STOCHK, tuple(x), (p[0],))
    return k if f == "fastk" else g.add(ops.SMA, (k,), (p[1],))


def _stochrsi(g: Graph, x: Sequence[int], p: Sequence[float], f: str | None, _tf: str) -> int:
    r = g.add(ops.RSI, (x[0],), (p[0],))
    k = g.add(ops.STOCHK, (r, r, r), (p[1],))
    return k if f == "fastk" else g.add(ops.SMA, (k,), (p[2],))


def _macd(g: Graph, x: Sequence[int], p: Sequence[float], f: str | None, _tf: str) -> int:
    line = g.add(ops.MACDLINE, (x[0],), (p[0], p[1]))
    if f == "macd":
        return line
    signal = g.add(ops.EMA, (line,), (p[2],))
    return signal if f == "signal" else g.add(ops.SUB, (line, signal))


def _bands(g: Graph, mid: int, width: int, f: str | None) -> int:
    if f == "middle":
        return mid
    return g.add(ops.ADD if f == "upper" else ops.SUB, (mid, width))


def _bbands(g: Graph, x: Sequence[int], p: Sequence[float], f: str | None, _tf: str) -> int:
    mid = g.add(ops.SMA, (x[0],), (p[0],))
    dev = g.add(ops.STDDEV, (x[0],), (p[0], 1.0))
    return _bands(g, mid, g.add(ops.MUL, (dev, g.const(p[1]))), f)


def _atr_node(g: Graph, x: Sequence[int], n: float) -> int:
    return g.add(ops.RMA, (g.add(ops.TRANGE, tuple(x[:3])),), (n,))


def _atr(g: Graph, x: Sequence[int], p: Sequence[float], _f: str | None, _tf: str) -> int:
    return _atr_node(g, x, p[0])


def _natr(g: Graph, x: Sequence[int], p: Sequence[float], _f: str | None, _tf: str) -> int:
    ratio = g.add(ops.DIV, (_atr_node(g, x, p[0]), x[2]))
    return g.add(ops.MUL, (ratio, g.const(100.0)))


def _typical_of(g: Graph, x: Sequence[int]) -> int:
    hl = g.add(ops.ADD, (x[0], x[1]))
    return g.add(ops.DIV, (g.add(ops.ADD, (hl, x[2])), g.const(3.0)))


def _cci(g: Graph, x: Sequence[int], p: Sequence[float], _f: str | None, _tf: str) -> int:
    return g.add(ops.CCI, (_typical_of(g, x),), (p[0],))


def _mfi(g: Graph, x: Sequence[int], p: Sequence[float], _f: str | None, _tf: str) -> int:
    return g.add(ops.MFI, (_typical_of(g, x), x[3]), (p[0],))


def _vwap(g: Graph, x: Sequence[int], p: Sequence[float], _f: str | None, tf: str) -> int:
    tp, v = _typical_of(g, x), x[3]
    n = int(p[0])
    if n == 0:
        per_day = _session_per_day(tf)
        return g.add(ops.VWAP_SESSION, (tp, v, g.src(ops.OPEN_TIME)), (per_day,))
    num = g.add(ops.SUM, (g.add(ops.MUL, (tp, v)),), (n,))
    return g.add(ops.DIV, (num, g.add(ops.SUM, (v,), (n,))))


def _session_per_day(tf: str) -> int:
    # The parameter of the session kernels only sizes the warm-up: one UTC day of bars.
    return max(1, DAY_MS // timeframe_ms(tf))


def _vwap_bands(g: Graph, x: Sequence[int], p: Sequence[float], f: str | None, tf: str) -> int:
    tp, v, t = _typical_of(g, x), x[3], g.src(ops.OPEN_TIME)
    per_day = _session_per_day(tf)
    mid = g.add(ops.VWAP_SESSION, (tp, v, t), (per_day,))
    if f == "middle":
        return mid
    sd = g.add(ops.VWAP_SESSION_SD, (tp, v, t), (per_day,))
    return _bands(g, mid, g.add(ops.MUL, (sd, g.const(p[0]))), f)


def _rsi_divergence(
    g: Graph, x: Sequence[int], p: Sequence[float], _f: str | None, _tf: str
) -> int:
    r = g.add(ops.RSI, (x[0],), (p[0],))
    return g.add(ops.DIVERGENCE, (x[0], r), (p[1], p[2]))


def _volume_nodes(which: int) -> Rule:
    def rule(g: Graph, x: Sequence[int], p: Sequence[float], _f: str | None, _tf: str) -> int:
        if which == structure.NEAR:  # (tolerance_pct, lookback, bins)
            return g.add(ops.VOLUME_NODES, tuple(x), (p[1], p[2], which, p[0]))
        return g.add(ops.VOLUME_NODES, tuple(x), (p[0], p[1], which, 0.0))

    return rule


def _candle(index: int, penetration: float | None) -> Rule:
    def rule(g: Graph, x: Sequence[int], p: Sequence[float], _f: str | None, _tf: str) -> int:
        pen = p[0] if penetration is not None else 0.0
        return g.add(ops.CANDLE, tuple(x), (index, pen))

    return rule


def _diff_lag(g: Graph, x: Sequence[int], p: Sequence[float], _f: str | None, _tf: str) -> int:
    return g.add(ops.SUB, (x[0], g.add(ops.LAG, (x[0],), (p[0],))))


def _zscore(g: Graph, x: Sequence[int], p: Sequence[float], _f: str | None, _tf: str) -> int:
    mean = g.add(ops.SMA, (x[0],), (p[0],))
    dev = g.add(ops.STDDEV, (x[0],), (p[0], 1.0))
    return g.add(ops.DIV, (g.add(ops.SUB, (x[0], mean)), dev))


def _keltner(g: Graph, x: Sequence[int], p: Sequence[float], f: str | None, _tf: str) -> int:
    mid = g.add(ops.EMA, (x[2],), (p[0],))
    return _bands(g, mid, _mul(g, p[1], _atr_node(g, x, p[2])), f)


def _donchian(g: Graph, x: Sequence[int], p: Sequence[float], f: str | None, _tf: str) -> int:
    upper = g.add(ops.HIGHEST, (x[0],), (p[0],))
    lower = g.add(ops.LOWEST, (x[1],), (p[0],))
    if f == "upper":
        return upper
    if f == "lower":
        return lower
    return g.add(ops.DIV, (g.add(ops.ADD, (upper, lower)), g.const(2.0)))


def _supertrend(g: Graph, x: Sequence[int], p: Sequence[float], f: str | None, _tf: str) -> int:
    hl2 = g.add(ops.DIV, (g.add(ops.ADD, (x[0], x[1])), g.const(2.0)))
    atr = _atr_node(g, x, p[1])
    which = 1.0 if f == "direction" else 0.0
    return g.add(ops.SUPERTREND, (hl2, x[2], atr), (p[0], which))


#: Every catalog function's lowering, by canonical name.
RULES: dict[str, Rule] = {
    "sma": _single(ops.SMA),
    "ema": _single(ops.EMA),
    "wma": _single(ops.WMA),
    "rma": _single(ops.RMA),
    "sum": _single(ops.SUM),
    "dema": _dema,
    "tema": _tema,
    "trima": _trima,
    "hma": _hma,
    "vwma": _vwma,
    "rsi": _single(ops.RSI),
    "stoch": _stoch,
    "stochf": _stochf,
    "stochrsi": _stochrsi,
    "macd": _macd,
    "bbands": _bbands,
    "atr": _atr,
    "natr": _natr,
    "trange": _single(ops.TRANGE),
    "adx": _single(ops.ADX),
    "plus_di": _single(ops.PLUS_DI),
    "minus_di": _single(ops.MINUS_DI),
    "cci": _cci,
    "mfi": _mfi,
    "obv": _single(ops.OBV),
    "vwap": _vwap,
    "pvi": _single(ops.PVI),
    "nvi": _single(ops.NVI),
    "vwap_bands": _vwap_bands,
    "divergence": _single(ops.DIVERGENCE),
    "rsi_divergence": _rsi_divergence,
    "hvn_near": _volume_nodes(structure.NEAR),
    "hvn_above": _volume_nodes(structure.ABOVE),
    "hvn_below": _volume_nodes(structure.BELOW),
    "roc": _single(ops.ROC),
    "mom": _diff_lag,
    "change": _diff_lag,
    "willr": _single(ops.WILLR),
    "stddev": _single(ops.STDDEV),
    "highest": _single(ops.HIGHEST),
    "lowest": _single(ops.LOWEST),
    "zscore": _zscore,
    "keltner": _keltner,
    "donchian": _donchian,
    "supertrend": _supertrend,
    "crosses_above": _single(ops.CROSS_ABOVE),
    "crosses_below": _single(ops.CROSS_BELOW),
    "rising": _single(ops.RISING),
    "falling": _single(ops.FALLING),
    "abs": _single(ops.ABS),
    "min": _single(ops.MIN),
    "max": _single(ops.MAX),
}


RULES.update({candle_name(p.name): _candle(i, p.penetration) for i, p in enumerate(PATTERNS)})


def lowered_names() -> frozenset[str]:
    """Canonical function names with a lowering (tests check it covers the catalog)."""
    return frozenset(RULES)
