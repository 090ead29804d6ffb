"""Lowering checked filters to plan nodes.

Every function of :mod:`kernels.lang.catalog` becomes one kernel node or a small composition of
nodes (:mod:`kernels.compositions`). Nodes go into one :class:`~kernels.graph.Graph` per
timeframe, shared by every trader, so equal subexpressions are computed once.

The plan is never deeper than the typed AST by more than a constant per level, except for
``and``/``or`` of many operands and long comparison chains, which become balanced trees of
two-input nodes (depth log2 n, not n). A watcher, when given, sees every expression as soon as it
is lowered (the budget is checked there, :mod:`kernels.footprint`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from kernels import ops
from kernels.compositions import RULES
from kernels.graph import Graph, Mark
from kernels.lang import ast
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

    def copy(self) -> ExtRegistry:
        """An independent copy."""
        other = ExtRegistry()
        other.sources = self.sources.copy()
        other._index = self._index.copy()
        return other

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
        rule = RULES.get(call.name)
        if rule is None:
            raise LoweringError(f"no lowering for {call.name!r}")
        inputs = [self.lower(i, tf) for i in call.inputs]
        return rule(g, inputs, call.params, call.field, tf)


def balanced(g: Graph, op: int, nodes: Sequence[int]) -> int:
    """``nodes[0] op nodes[1] op ...`` for an associative ``op`` (``and``, ``or``) as a
    balanced tree of two-input nodes, operands in order."""
    level = list(nodes)
    while len(level) > 1:
        paired = [g.add(op, (a, b)) for a, b in zip(level[::2], level[1::2], strict=False)]
        level = paired + level[len(paired) * 2 :]
    return level[0]
