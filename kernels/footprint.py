"""What a plan costs, and the budget check made while a filter is lowered.

A plan's footprint is its plan nodes, its work per bar and symbol, its width (floats per
symbol) and the warm-up each timeframe needs (see :class:`kernels.lang.Budget`).
:class:`kernels.graph.Graph` keeps these up to date as nodes are added, so a :class:`Guard`
watching a lowering (:class:`kernels.lower.Lowerer`) checks them after every expression and stops
at the first one that takes the plan over a limit: that expression's span is where the error is
reported, and nothing larger than the limit is ever built.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from kernels.graph import Graph
from kernels.lang import Diagnostic, Expr, Span


@attrs.frozen
class Footprint:
    """What the plan of some graphs costs."""

    #: Plan nodes.
    nodes: int
    #: Work of one bar for one symbol, in simple node steps.
    work: int
    #: Floats kept per symbol (state and rings).
    width: int
    #: Bars of history each timeframe needs before every node is valid.
    warmup: Mapping[str, int]


def footprint(graphs: Mapping[str, Graph]) -> Footprint:
    """The footprint of ``graphs`` (one per timeframe)."""
    return Footprint(
        nodes=sum(len(g) for g in graphs.values()),
        work=sum(g.work for g in graphs.values()),
        width=sum(g.width for g in graphs.values()),
        warmup={tf: max(g.warm, default=-1) + 1 for tf, g in graphs.items()},
    )


@attrs.frozen
class Limits:
    """The limits a :class:`Guard` enforces (warm-up None: not checked)."""

    nodes: int
    work: int
    width: int
    warmup: int | None = None


class OverBudget(Exception):
    """A lowering went over a limit: :attr:`diagnostic` says which, where."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


class Guard:
    """Watches a lowering into ``graphs``; raises :class:`OverBudget` at the first expression
    after which they exceed ``limits``. ``subject`` names what is measured in messages
    (``"filter"``, ``"traders together"``)."""

    def __init__(self, graphs: Mapping[str, Graph], limits: Limits, subject: str) -> None:
        self.graphs = graphs
        self.limits = limits
        self.subject = subject

    def __call__(self, expr: Expr, tf: str, node: int) -> None:
        """Check the graphs after ``expr`` was lowered to ``node`` of ``tf``."""
        limit = self.limits.warmup
        bars = self.graphs[tf].warm[node] + 1
        if limit is not None and bars > limit:
            message = f"{self.subject} needs too much history ({bars} bars of {tf} > {limit})"
            raise OverBudget(Diagnostic(message, expr.span))
        self.check(expr.span)

    def check(self, span: Span) -> None:
        """Raise :class:`OverBudget` at ``span`` if the graphs exceed the size limits."""
        graphs = self.graphs.values()
        nodes = sum(len(g) for g in graphs)
        if nodes > self.limits.nodes:
            self._over(f"too large ({nodes} plan nodes > {self.limits.nodes})", span)
        work = sum(g.work for g in graphs)
        if work > self.limits.work:
            self._over(
                f"too slow to step ({work} units of work per bar > {self.limits.work})", span
            )
        width = sum(g.width for g in graphs)
        if width > self.limits.width:
            message = f"too wide ({width} floats of state per symbol > {self.limits.width})"
            self._over(message, span)

    def _over(self, what: str, span: Span) -> None:
        raise OverBudget(Diagnostic(f"{self.subject} {what}", span))
