"""A user's traders compiled together into one plan per timeframe.

:class:`Program` checks each trader's filter, lowers it into the shared per-timeframe graphs
(common subexpressions computed once across all traders) and records, per trader, the node of
its whole filter and of each top-level clause with the operands worth showing ("why it fired").
Adding a trader costs microseconds and compiles no machine code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs

from kernels import ops
from kernels.graph import Graph, Layout, layout
from kernels.lang import CheckedFilter, CompileError, ast, check
from kernels.lang.printer import to_source
from kernels.lower import ExtRegistry, Lowerer
from kernels.timeframes import timeframe_ms

#: Structural identity of a node, stable across rebuilds of the graphs.
Signature = tuple[object, ...]


@attrs.frozen
class TraderDef:
    """A trader as configured: an id, a filter in the Vyx language and its timeframe."""

    id: str
    filter: str
    timeframe: str = "5m"
    name: str = ""


@attrs.frozen
class Operand:
    """A value shown with a signal: its canonical text and the node (of the trader's
    timeframe) holding it."""

    label: str
    node: int


@attrs.frozen
class ClausePlan:
    """One top-level ``and`` clause of a filter."""

    label: str
    node: int
    operands: tuple[Operand, ...]


@attrs.frozen
class TraderPlan:
    """A compiled trader: where its result and clauses live in the plan."""

    definition: TraderDef
    checked: CheckedFilter
    root: int
    clauses: tuple[ClausePlan, ...]

    @property
    def id(self) -> str:
        """The trader's id."""
        return self.definition.id

    @property
    def timeframe(self) -> str:
        """The timeframe the trader screens on."""
        return self.definition.timeframe


def _operand_exprs(expr: ast.Expr) -> list[ast.Expr]:
    """Sub-expressions of a clause worth reporting: comparison sides, crossing inputs, ..."""
    if isinstance(expr, ast.Compare):
        return [o for o in expr.operands if not isinstance(o, ast.Const)]
    if isinstance(expr, ast.Call) and expr.name in (
        "crosses_above",
        "crosses_below",
        "rising",
        "falling",
    ):
        return [i for i in expr.inputs if not isinstance(i, ast.Const)]
    if isinstance(expr, ast.Not):
        return _operand_exprs(expr.operand)
    if isinstance(expr, ast.Logic):
        found: list[ast.Expr] = []
        for operand in expr.operands:
            found.extend(_operand_exprs(operand))
        return found
    return []


class Program:
    """Traders compiled into shared per-timeframe graphs."""

    def __init__(self, traders: Iterable[TraderDef] = ()) -> None:
        self.graphs: dict[str, Graph] = {}
        self.exts: dict[str, ExtRegistry] = {}
        self.traders: dict[str, TraderPlan] = {}
        self._lowerer = Lowerer(self.graphs, self.exts)
        for trader in traders:
            self.add(trader)

    def add(self, trader: TraderDef, *, require_bool: bool = True) -> TraderPlan:
        """Compile and add ``trader`` (replacing one with the same id only by rebuilding, see
        :func:`build`); raises :class:`~kernels.lang.CompileError`. Without ``require_bool``
        the expression may be a number (``vyx eval``)."""
        timeframe_ms(trader.timeframe)
        checked = check(trader.filter, timeframe=trader.timeframe, require_bool=require_bool)
        tf = trader.timeframe
        lw = self._lowerer
        root = lw.lower(checked.expr, tf)
        clauses = []
        for clause in checked.clauses:
            node = lw.lower(clause.expr, tf)
            clauses.append(ClausePlan(clause.label, node, self._operands(clause.expr, tf)))
        plan = TraderPlan(trader, checked, root, tuple(clauses))
        self.traders[trader.id] = plan
        return plan

    def _operands(self, expr: ast.Expr, tf: str) -> tuple[Operand, ...]:
        lw = self._lowerer
        if isinstance(expr, ast.On) and expr.timeframe != tf:
            found = []
            for o in _operand_exprs(expr.operand):
                inner = lw.lower(o, expr.timeframe)
                label = f'on("{expr.timeframe}", {to_source(o)})'
                found.append(Operand(label, lw.ext(tf, expr.timeframe, inner)))
            return tuple(found)
        seen: dict[str, Operand] = {}
        for o in _operand_exprs(expr):
            label = to_source(o)
            if label not in seen:
                seen[label] = Operand(label, lw.lower(o, tf))
        return tuple(seen.values())

    @property
    def timeframes(self) -> tuple[str, ...]:
        """Timeframes with a graph, longest first (the order screens at one instant run in)."""
        return tuple(sorted(self.graphs, key=timeframe_ms, reverse=True))

    def layouts(self) -> dict[str, Layout]:
        """The executable layout of every timeframe's graph."""
        return {tf: layout(g) for tf, g in self.graphs.items()}

    def signatures(self, tf: str) -> list[Signature]:
        """Structural signature of every node of ``tf``'s graph (stable across rebuilds)."""
        memo: dict[tuple[str, int], Signature] = {}
        return [self._signature(tf, j, memo) for j in range(len(self.graphs[tf]))]

    def _signature(self, tf: str, j: int, memo: dict[tuple[str, int], Signature]) -> Signature:
        key = (tf, j)
        found = memo.get(key)
        if found is not None:
            return found
        node = self.graphs[tf].nodes[j]
        if node.op == ops.EXT:
            src_tf, src = self.exts[tf].sources[int(node.params[0])]
            sig: Signature = ("ext", src_tf, self._signature(src_tf, src, memo))
        else:
            inputs = tuple(self._signature(tf, i, memo) for i in node.inputs)
            sig = (node.op, node.params, inputs)
        memo[key] = sig
        return sig

    def warmup(self, trader_id: str, layouts: Mapping[str, Layout]) -> dict[str, int]:
        """Bars of history each timeframe needs before ``trader_id`` may fire."""
        plan = self.traders[trader_id]
        tf = plan.timeframe
        needs = {tf: int(layouts[tf].warm[plan.root]) + 1}
        for node in self.graphs[tf].closure([plan.root]):
            key = self.graphs[tf].nodes[node]
            if key.op == ops.EXT:
                src_tf, src = self.exts[tf].sources[int(key.params[0])]
                needs[src_tf] = max(needs.get(src_tf, 0), int(layouts[src_tf].warm[src]) + 1)
        return needs


def build(traders: Iterable[TraderDef]) -> tuple[Program, dict[str, CompileError]]:
    """Compile ``traders``; those that do not compile are left out and returned with their
    errors (a trader is never silently skipped)."""
    program = Program()
    errors: dict[str, CompileError] = {}
    for trader in traders:
        try:
            program.add(trader)
        except CompileError as exc:
            errors[trader.id] = exc
    return program, errors
