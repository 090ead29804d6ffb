"""Lowering checked filters to plan nodes.

Every function of :mod:`kernels.lang.catalog` becomes one kernel node or a small composition of
nodes (``bbands(20, 2).upper`` is ``sma + stddev * 2``); the compositions are the ones the
indicator tests verify against TA-Lib. Nodes go into one :class:`~kernels.graph.Graph` per
timeframe, shared by every trader, so equal subexpressions are computed once.

The plan is never deeper than the typed AST by more than a constant per level, except for
``and``/``or`` of many operands and long comparison chains, which become balanced trees of
two-input nodes (depth log2 n, not n). A watcher, when given, sees every expression as soon as it
is lowered (the budget is checked there, :mod:`kernels.footprint`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from kernels import ops
from kernels.graph import Graph, Mark
from kernels.ind import structure
from kernels.ind.candle_patterns import PATTERNS
from kernels.lang import ast
from kernels.lang.catalog import candle_name
from kernels.timeframes import DAY_MS, timeframe_ms

_SERIES = {
    "open": ops.OPEN,
    "high": ops.HIGH,
    "low": ops.LOW,
    "close": ops.CLOSE,
    "volume": ops.VOLUME,
    "quote_volume": ops.QUOTE_VOLUME,
    "trades": ops.TRADES,
    "taker_buy_volume": ops.TAKER_BUY_VOLUME,
}
#: Bars of history kept of every value another timeframe reads, so bars stepped late (a repaired
#: gap) read them as they were when those bars closed.
EXT_HISTORY = 64

#: Called with each expression lowered, its timeframe and its node.
Watch = Callable[[ast.Expr, str, int], None]

_ARITH = {"+": ops.ADD, "-": ops.SUB, "*": ops.MUL, "/": ops.DIV}
_COMPARE = {"<": ops.LT, "<=": ops.LE, ">": ops.GT, ">=": ops.GE, "==": ops.EQ, "!=": ops.NE}


class LoweringError(Exception):
    """A checked expression the lowering does not know (a bug: the checker let it through)."""


class ExtRegistry:
    """External inputs of one timeframe's graph: values of other timeframes' nodes."""

    def __init__(self) -> None:
        self.sources: list[tuple[str, int]] = []
        self._index: dict[tuple[str, int], int] = {}

    def index(self, timeframe: str, node: int) -> int:
        """The ext slot carrying ``node`` of ``timeframe``'s graph."""
        key = (timeframe, node)
        found = self._index.get(key)
        if found is None:
            found = len(self.sources)
            self.sources.append(key)
            self._index[key] = found
        return found

    def truncate(self, n: int) -> None:
        """Forget every slot from the ``n``-th on."""
        for key in self.sources[n:]:
            del self._index[key]
        del self.sources[n:]


#: Where a :class:`Lowerer` was: per timeframe, its graph's mark and the ext slots held.
LowererMark = dict[str, tuple[Mark, int]]


class Lowerer:
    """Adds nodes for checked expressions to per-timeframe graphs."""

    def __init__(
        self, graphs: dict[str, Graph], exts: dict[str, ExtRegistry], watch: Watch | None = None
    ) -> None:
        self.graphs = graphs
        self.exts = exts
        self.watch = watch

    def mark(self) -> LowererMark:
        """The graphs as they are now, for :meth:`rollback`."""
        return {tf: (g.mark(), len(self.exts[tf].sources)) for tf, g in self.graphs.items()}

    def rollback(self, mark: LowererMark) -> None:
        """Forget every node, ext slot and graph added since ``mark``."""
        for tf in [tf for tf in self.graphs if tf not in mark]:
            del self.graphs[tf], self.exts[tf]
        for tf, (graph_mark, n_ext) in mark.items():
            self.graphs[tf].rollback(graph_mark)
            self.exts[tf].truncate(n_ext)

    def graph(self, tf: str) -> Graph:
        """The graph of ``tf`` (created on first use)."""
        if tf not in self.graphs:
            self.graphs[tf] = Graph()
            self.exts[tf] = ExtRegistry()
        return self.graphs[tf]

    def ext(self, base_tf: str, source_tf: str, node: int) -> int:
        """A node of ``base_tf`` carrying ``node`` of ``source_tf`` at its last closed bar."""
        self.graph(base_tf)
        k = self.exts[base_tf].index(source_tf, node)
        self.graph(source_tf).pin(node, EXT_HISTORY)
        return self.graphs[base_tf].add(ops.EXT, (), (k,))

    def lower(self, expr: ast.Expr, tf: str) -> int:
        """The node computing ``expr`` on timeframe ``tf``."""
        node = self._lower(expr, tf)
        if self.watch is not None:
            self.watch(expr, tf, node)
        return node

    def _lower(self, expr: ast.Expr, tf: str) -> int:
        g = self.graph(tf)
        if isinstance(expr, ast.Const):
            return g.const(expr.value)
        if isinstance(expr, ast.Series):
            return self._series(g, expr.name)
        if isinstance(expr, ast.TickerField):
            return self._ticker(g, expr.name, tf)
        if isinstance(expr, ast.Call):
            return self._call(g, expr, tf)
        if isinstance(expr, ast.Lag):
            return g.add(ops.LAG, (self.lower(expr.operand, tf),), (expr.bars,))
        if isinstance(expr, ast.Neg):
            return g.add(ops.NEG, (self.lower(expr.operand, tf),))
        if isinstance(expr, ast.Not):
            return g.add(ops.NOT, (self.lower(expr.operand, tf),))
        if isinstance(expr, ast.Arith):
            a, b = self.lower(expr.left, tf), self.lower(expr.right, tf)
            return g.add(_ARITH[expr.op], (a, b))
        if isinstance(expr, ast.Logic):
            op = ops.AND if expr.op == "and" else ops.OR
            return balanced(g, op, [self.lower(o, tf) for o in expr.operands])
        if isinstance(expr, ast.Compare):
            nodes = [self.lower(o, tf) for o in expr.operands]
            pairs = [
                g.add(_COMPARE[cmp], (nodes[i], nodes[i + 1])) for i, cmp in enumerate(expr.ops)
            ]
            return balanced(g, ops.AND, pairs)
        if isinstance(expr, ast.On):
            if expr.timeframe == tf:
                return self.lower(expr.operand, tf)
            inner = self.lower(expr.operand, expr.timeframe)
            return self.ext(tf, expr.timeframe, inner)
        raise LoweringError(f"cannot lower {type(expr).__name__}")

    def _series(self, g: Graph, name: str) -> int:
        field = _SERIES.get(name)
        if field is not None:
            return g.src(field)
        h, lo = g.src(ops.HIGH), g.src(ops.LOW)
        if name == "hl2":  # TA-Lib MEDPRICE: (h + l) / 2
            return g.add(ops.DIV, (g.add(ops.ADD, (h, lo)), g.const(2.0)))
        c = g.src(ops.CLOSE)
        if name == "hlc3":  # TA-Lib TYPPRICE: (h + l + c) / 3
            hl = g.add(ops.ADD, (h, lo))
            return g.add(ops.DIV, (g.add(ops.ADD, (hl, c)), g.const(3.0)))
        if name == "ohlc4":  # TA-Lib AVGPRICE: (o + h + l + c) / 4
            oh = g.add(ops.ADD, (g.src(ops.OPEN), h))
            ohl = g.add(ops.ADD, (oh, lo))
            return g.add(ops.DIV, (g.add(ops.ADD, (ohl, c)), g.const(4.0)))
        raise LoweringError(f"unknown series {name!r}")

    def _ticker(self, g: Graph, name: str, tf: str) -> int:
        # Ticker fields are derived from the candles of the evaluated timeframe, so a backtest
        # computes exactly what the live screen does (docs/language.md: "Ticker fields").
        bars_24h = max(1, DAY_MS // timeframe_ms(tf))
        close = g.src(ops.CLOSE)
        if name == "price":
            return close
        if name == "change_24h":
            first_open = g.src(ops.OPEN)
            if bars_24h > 1:
                first_open = g.add(ops.LAG, (first_open,), (bars_24h - 1,))
            diff = g.add(ops.SUB, (close, first_open))
            ratio = g.add(ops.DIV, (diff, first_open))
            return g.add(ops.MUL, (ratio, g.const(100.0)))
        if name == "quote_volume_24h":
            return g.add(ops.SUM, (g.src(ops.QUOTE_VOLUME),), (bars_24h,))
        raise LoweringError(f"unknown ticker field {name!r}")

    def _call(self, g: Graph, call: ast.Call, tf: str) -> int:
        rule = _RULES.get(call.name)
        if rule is None:
            raise LoweringError(f"no lowering for {call.name!r}")
        inputs = [self.lower(i, tf) for i in call.inputs]
        return rule(self, g, inputs, call.params, call.field, tf)


def balanced(g: Graph, op: int, nodes: Sequence[int]) -> int:
    """``nodes[0] op nodes[1] op ...`` for an associative ``op`` (``and``, ``or``) as a
    balanced tree of two-input nodes, operands in order."""
    level = list(nodes)
    while len(level) > 1:
        paired = [g.add(op, (a, b)) for a, b in zip(level[::2], level[1::2], strict=False)]
        level = paired + level[len(paired) * 2 :]
    return level[0]


_Rule = Callable[[Lowerer, Graph, Sequence[int], Sequence[float], "str | None", str], int]


def _single(op: int) -> _Rule:
    def rule(
        _lw: Lowerer, g: Graph, x: Sequence[int], p: Sequence[float], _f: str | None, _tf: str
    ) -> int:
        return g.add(op, tuple(x), tuple(p))

    return rule


def _mul(g: Graph, k: float, x: int) -> int:
    return g.add(ops.MUL, (g.const(k), x))


def _dema(
    _lw: Lowerer, g: Graph, x: Sequence[int], p: Sequence[float], _f: str | None, _tf: str
) -> int:
    e1 = g.add(ops.EMA, (x[0],), (p[0],))
    e2 = g.add(ops.EMA, (e1,), (p[0],))
    return g.add(ops.SUB, (_mul(g, 2.0, e1), e2))


def _tema(
    _lw: Lowerer, g: Graph, x: Sequence[int], p: Sequence[float], _f: str | None, _tf: str
) -> int:
    e1 = g.add(ops.EMA, (x[0],), (p[0],))
    e2 = g.add(ops.EMA, (e1,), (p[0],))
    e3 = g.add(ops.EMA, (e2,), (p[0],))
    return g.add(ops.ADD, (g.add(ops.SUB, (_mul(g, 3.0, e1), _mul(g, 3.0, e2))), e3))


def _trima(
    _lw: Lowerer, g: Graph, x: Sequence[int], p: Sequence[float], _f: str | None, _tf: str
) -> int:
    n = int(p[0])
    first, second = ((n + 1) // 2, (n + 1) // 2) if n % 2 else (n // 2, n // 2 + 1)
    inner = g.add(ops.SMA, (x[0],), (first,))
    return g.add(ops.SMA, (inner,), (second,))


def _hma(
    _lw: Lowerer, g: Graph, x: Sequence[int], p: Sequence[float], _f: str | None, _tf: str
) -> int:
    n = int(p[0])
    half = g.add(ops.WMA, (x[0],), (max(1, n // 2),))
    full = g.add(ops.WMA, (x[0],), (n,))
    diff = g.add(ops.SUB, (_mul(g, 2.0, half), full))
    return g.add(ops.WMA, (diff,), (max(1, math.isqrt(n)),))


def _vwma(
    _lw: Lowerer, g: Graph, x: Sequence[int], p: Sequence[float], _f: str | None, _tf: str
) -> int:
    v = g.src(ops.VOLUME)
    num = g.add(ops.SMA, (g.add(ops.MUL, (x[0], v)),), (p[0],))
    return g.add(ops.DIV, (num, g.add(ops.SMA, (v,), (p[0],))))


def _stoch(
    _lw: Lowerer, g: Graph, x: Sequence[int], p: Sequence[float], f: str | None, _tf: str
) -> int:
    k = g.add(ops.STOCHK, tuple(x), (p[0],))
    slowk = g.add(ops.SMA, (k,), (p[1],))
    return slowk if f == "slowk" else g.add(ops.SMA, (slowk,), (p[2],))


def _stochf(
    _lw: Lowerer, g: Graph, x: Sequence[int], p: Sequence[float], f: str | None, _tf: str
) -> int:
    k = g.add(ops.STOCHK, tuple(x), (p[0],))
    return k if f == "fastk" else g.add(ops.SMA, (k,), (p[1],))


def _stochrsi(
    _lw: Lowerer, g: Graph, x: Sequence[int], p: Sequence[float], f: str | None, _tf: str
) -> int:
    r = g.add(ops.RSI, (x[0],), (p[0],))
    k = g.add(ops.STOCHK, (r, r, r), (p[1],))
    return k if f == "fastk" else g.add(ops.SMA, (k,), (p[2],))


def _macd(
    _lw: Lowerer, g: Graph, x: Sequence[int], p: Sequence[float], f: str | None, _tf: str
) -> int:
    line = g.add(ops.MACDLINE, (x[0],), (p[0], p[1]))
    if f == "macd":
        return line
    signal = g.add(ops.EMA, (line,), (p[2],))
    return signal if f == "signal" else g.add(ops.SUB, (line, signal))


def _bands(g: Graph, mid: int, width: int, f: str | None) -> int:
    if f == "middle":
        return mid
    return g.add(ops.ADD if f == "upper" else ops.SUB, (mid, width))


def _bbands(
    _lw: Lowerer, g: Graph, x: Sequence[int], p: Sequence[float], f: str | None, _tf: str
) -> int:
    mid = g.add(ops.SMA, (x[0],), (p[0],))
    dev = g.add(ops.STDDEV, (x[0],), (p[0], 1.0))
    return _bands(g, mid, g.add(ops.MUL, (dev, g.const(p[1]))), f)


def _atr_node(g: Graph, x: Sequence[int], n: float) -> int:
    return g.add(ops.RMA, (g.add(ops.TRANGE, tuple(x[:3])),), (n,))


def _atr(
    _lw: Lowerer, g: Graph, x: Sequence[int], p: Sequence[float], _f: str | None, _tf: str
) -> int:
    return _atr_node(g, x, p[0])


def _natr(
    _lw: Lowerer, g: Graph, x: Sequence[int], p: Sequence[float], _f: str | None, _tf: str
) -> int:
    ratio = g.add(ops.DIV, (_atr_node(g, x, p[0]), x[2]))
    return g.add(ops.MUL, (ratio, g.const(100.0)))


def _typical_of(g: Graph, x: Sequence[int]) -> int:
    hl = g.add(ops.ADD, (x[0], x[1]))
    return g.add(ops.DIV, (g.add(ops.ADD, (hl, x[2])), g.const(3.0)))


def _cci(
    _lw: Lowerer, g: Graph, x: Sequence[int], p: Sequence[float], _f: str | None, _tf: str
) -> int:
    return g.add(ops.CCI, (_typical_of(g, x),), (p[0],))


def _mfi(
    _lw: Lowerer, g: Graph, x: Sequence[int], p: Sequence[float], _f: str | None, _tf: str
) -> int:
    return g.add(ops.MFI, (_typical_of(g, x), x[3]), (p[0],))


def _vwap(
    _lw: Lowerer, g: Graph, x: Sequence[int], p: Sequence[float], _f: str | None, tf: str
) -> int:
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


def _vwap_bands(
    _lw: Lowerer, g: Graph, x: Sequence[int], p: Sequence[float], f: str | None, tf: str
) -> int:
    tp, v, t = _typical_of(g, x), x[3], g.src(ops.OPEN_TIME)
    per_day = _session_per_day(tf)
    mid = g.add(ops.VWAP_SESSION, (tp, v, t), (per_day,))
    if f == "middle":
        return mid
    sd = g.add(ops.VWAP_SESSION_SD, (tp, v, t), (per_day,))
    return _bands(g, mid, g.add(ops.MUL, (sd, g.const(p[0]))), f)


def _rsi_divergence(
    _lw: Lowerer, g: Graph, x: Sequence[int], p: Sequence[float], _f: str | None, _tf: str
) -> int:
    r = g.add(ops.RSI, (x[0],), (p[0],))
    return g.add(ops.DIVERGENCE, (x[0], r), (p[1], p[2]))


def _volume_nodes(which: int) -> _Rule:
    def rule(
        _lw: Lowerer, g: Graph, x: Sequence[int], p: Sequence[float], _f: str | None, _tf: str
    ) -> int:
        if which == structure.NEAR:  # (tolerance_pct, lookback, bins)
            return g.add(ops.VOLUME_NODES, tuple(x), (p[1], p[2], which, p[0]))
        return g.add(ops.VOLUME_NODES, tuple(x), (p[0], p[1], which, 0.0))

    return rule


def _candle(index: int, penetration: float | None) -> _Rule:
    def rule(
        _lw: Lowerer, g: Graph, x: Sequence[int], p: Sequence[float], _f: str | None, _tf: str
    ) -> int:
        pen = p[0] if penetration is not None else 0.0
        return g.add(ops.CANDLE, tuple(x), (index, pen))

    return rule


def _diff_lag(
    _lw: Lowerer, g: Graph, x: Sequence[int], p: Sequence[float], _f: str | None, _tf: str
) -> int:
    return g.add(ops.SUB, (x[0], g.add(ops.LAG, (x[0],), (p[0],))))


def _zscore(
    _lw: Lowerer, g: Graph, x: Sequence[int], p: Sequence[float], _f: str | None, _tf: str
) -> int:
    mean = g.add(ops.SMA, (x[0],), (p[0],))
    dev = g.add(ops.STDDEV, (x[0],), (p[0], 1.0))
    return g.add(ops.DIV, (g.add(ops.SUB, (x[0], mean)), dev))


def _keltner(
    _lw: Lowerer, g: Graph, x: Sequence[int], p: Sequence[float], f: str | None, _tf: str
) -> int:
    mid = g.add(ops.EMA, (x[2],), (p[0],))
    return _bands(g, mid, _mul(g, p[1], _atr_node(g, x, p[2])), f)


def _donchian(
    _lw: Lowerer, g: Graph, x: Sequence[int], p: Sequence[float], f: str | None, _tf: str
) -> int:
    upper = g.add(ops.HIGHEST, (x[0],), (p[0],))
    lower = g.add(ops.LOWEST, (x[1],), (p[0],))
    if f == "upper":
        return upper
    if f == "lower":
        return lower
    return g.add(ops.DIV, (g.add(ops.ADD, (upper, lower)), g.const(2.0)))


def _supertrend(
    _lw: Lowerer, g: Graph, x: Sequence[int], p: Sequence[float], f: str | None, _tf: str
) -> int:
    hl2 = g.add(ops.DIV, (g.add(ops.ADD, (x[0], x[1])), g.const(2.0)))
    atr = _atr_node(g, x, p[1])
    which = 1.0 if f == "direction" else 0.0
    return g.add(ops.SUPERTREND, (hl2, x[2], atr), (p[0], which))


_RULES: dict[str, _Rule] = {
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


_RULES.update({candle_name(p.name): _candle(i, p.penetration) for i, p in enumerate(PATTERNS)})


def lowered_names() -> frozenset[str]:
    """Canonical function names with a lowering (tests check it covers the catalog)."""
    return frozenset(_RULES)
