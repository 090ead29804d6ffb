"""A user's traders compiled together into one plan per timeframe.

:func:`compile_trader` compiles one trader's filter, once: checked, lowered on its own within the
budget of one filter, its warm-up derived (a :class:`CompiledTrader`, which travels with the
trader). :class:`Program` links compiled traders into the shared per-timeframe graphs (common
subexpressions computed once across all traders) and records, per trader, the node of its
whole filter and of each top-level clause with the operands worth showing ("why it fired").
Adding a trader costs microseconds and compiles no machine code.

Every trader is held to the :class:`~kernels.lang.Budget`: its filter alone (lowered on its own
first), then all traders together; a trader over budget is a :class:`~kernels.lang.CompileError`
and leaves the program as it was. Whatever a trader contains, :meth:`Program.add` raises nothing
else. Everything here is linear in the size of the filters: a node's signature is a fixed-size
digest of its operation and its inputs' digests, never a copy of its subtree.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Collection, Iterable, Mapping, Sequence

import attrs

from kernels import ops
from kernels.footprint import Guard, Limits, OverBudget
from kernels.graph import I64, Graph, Layout, layout
from kernels.lang import BUDGET, Budget, CheckedFilter, CompileError, Diagnostic, ast, check
from kernels.lang.errors import SourceMap
from kernels.lang.printer import to_source
from kernels.lower import ExtRegistry, Lowerer, LowererMark
from kernels.timeframes import TimeframeError, timeframe_ms

#: Structural identity of a node, stable across rebuilds of the graphs (and processes): a
#: 16-byte digest of its operation, parameters and inputs' signatures.
Signature = bytes


@attrs.frozen
class TraderDef:
    """A trader as configured: an id, a filter in the Vyx language, its timeframe, its name,
    the direction of its trades (``"long"`` or ``"short"``: how its signals' outcomes are
    scored, :mod:`kernels.outcomes`) and its cooldown: the fewest bars of its timeframe
    between two of its signals on one symbol (0 .. :data:`~kernels.edges.MAX_COOLDOWN_BARS`;
    None: the executor's or backtest's default, the machine's ``SIGNAL_COOLDOWN_BARS``)."""

    id: str
    filter: str
    timeframe: str = "5m"
    name: str = ""
    direction: str = "long"
    cooldown: int | None = None

    def cooldown_or(self, default: int) -> int:
        """The trader's cooldown in bars, ``default`` when it has none of its own."""
        return default if self.cooldown is None else self.cooldown


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

    def explain(
        self, row: Sequence[float], col: Mapping[int, int]
    ) -> tuple[tuple[str, ...], dict[str, dict[str, object]]]:
        """Why it fired (or not) at one bar, for the live screener and the backtest alike.

        Args:
            row: the bar's gathered outputs, as Python floats (``ndarray.tolist()``: numpy
                scalars cost several microseconds a value).
            col: output column of each node of the plan.

        Returns:
            The labels of the clauses that held, and per clause label
            ``{"held": bool, "values": {operand label: value, None while NaN}}``.
        """
        clauses: dict[str, dict[str, object]] = {}
        matched: list[str] = []
        for clause in self.clauses:
            held = row[col[clause.node]] == 1.0
            if held:
                matched.append(clause.label)
            values = {}
            for o in clause.operands:
                v = row[col[o.node]]
                values[o.label] = None if v != v else v
            clauses[clause.label] = {"held": held, "values": values}
        return tuple(matched), clauses


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


@attrs.frozen(eq=False)
class CompiledTrader:
    """A trader's filter compiled once: checked, held to the budget of a filter alone, with
    the history it needs. It travels with the trader from where the trader is admitted to the
    executor, which links it into the shared plan (:meth:`Program.add`) without compiling it
    again; the daemon sizes its rings from :attr:`warmup`."""

    definition: TraderDef
    checked: CheckedFilter
    #: Bars of history each timeframe needs before the trader may fire (its own timeframe
    #: and every ``on()`` one).
    warmup: Mapping[str, int]
    #: The budget it was held to.
    budget: Budget

    @property
    def id(self) -> str:
        """The trader's id."""
        return self.definition.id

    def of(self, definition: TraderDef) -> CompiledTrader | None:
        """This compile as ``definition``'s, when that has the same filter and timeframe (all a
        compile reads: its name, direction or cooldown may differ), else None."""
        if definition == self.definition:
            return self
        d = self.definition
        if (definition.filter, definition.timeframe) != (d.filter, d.timeframe):
            return None
        return attrs.evolve(self, definition=definition)

    def runs_on(self, budget: Budget, timeframes: Collection[str] | None) -> bool:
        """Was it compiled as a :class:`Program` of ``budget`` streaming ``timeframes``
        (None: any) compiles it: to that budget, reading only those timeframes?"""
        streamed = timeframes is None or self.checked.timeframes <= frozenset(timeframes)
        return self.budget == budget and streamed


def compile_trader(
    trader: TraderDef,
    *,
    budget: Budget = BUDGET,
    timeframes: Collection[str] | None = None,
    require_bool: bool = True,
) -> CompiledTrader:
    """Compile ``trader``'s filter: parse and check it (:func:`kernels.lang.check`), lower it on
    its own within ``budget``'s limits of one filter, and derive its warm-up.

    Args:
        trader: the trader.
        budget: the limits of one filter.
        timeframes: the timeframes streamed, when known (see :class:`Program`).
        require_bool: whether the filter must be a condition (``vyx eval``: no).

    Raises:
        CompileError: anything wrong with it (whatever it contains, nothing else).
    """
    source = trader.filter if isinstance(trader.filter, str) else ""
    try:
        timeframe_ms(trader.timeframe)
    except TimeframeError as exc:
        raise CompileError([Diagnostic(str(exc), SourceMap(source).span(0, 0))]) from None
    if not isinstance(trader.filter, str):
        message = f"a filter is text, found {type(trader.filter).__name__}"
        raise CompileError([Diagnostic(message, SourceMap("").span(0, 0))])
    checked = check(
        trader.filter,
        timeframe=trader.timeframe,
        require_bool=require_bool,
        budget=budget,
        timeframes=timeframes,
    )
    b = budget
    alone = Lowerer({}, {})
    alone.watch = guard = Guard(
        alone.graphs, Limits(b.max_nodes, b.max_work, b.max_width, b.max_warmup), "filter"
    )
    try:
        root, _ = _lower_trader(alone, checked, trader.timeframe)
        guard.check(checked.expr.span)
    except OverBudget as exc:
        raise CompileError([exc.diagnostic]) from None
    warm = {tf: g.warm for tf, g in alone.graphs.items()}
    warmup = _warmup(alone.graphs, alone.exts, warm, trader.timeframe, root)
    return CompiledTrader(trader, checked, warmup, budget)


@attrs.frozen(eq=False)
class _Linked:
    """A trader :meth:`Program.add` linked: what it lowered, and the graphs before it."""

    plan: TraderPlan
    #: Compiled by the program itself, from its definition, as a condition.
    from_text: bool
    #: The program's graphs before it was linked.
    mark: LowererMark


class Program:
    """Traders compiled into shared per-timeframe graphs.

    Args:
        traders: traders to add (each must compile).
        budget: the limits of each filter and of all traders together.
        timeframes: the timeframes streamed, when known: a trader whose timeframe or ``on()``
            is not one of them does not compile.
    """

    def __init__(
        self,
        traders: Iterable[TraderDef | CompiledTrader] = (),
        *,
        budget: Budget = BUDGET,
        timeframes: Collection[str] | None = None,
    ) -> None:
        self.graphs: dict[str, Graph] = {}
        self.exts: dict[str, ExtRegistry] = {}
        self.traders: dict[str, TraderPlan] = {}
        self.budget = budget
        self.streamed = None if timeframes is None else frozenset(timeframes)
        self._lowerer = Lowerer(self.graphs, self.exts)
        self._signature_cache: dict[str, list[Signature]] | None = None
        #: Every trader linked, in order (:meth:`linked_prefix`).
        self._linked: list[_Linked] = []
        for trader in traders:
            self.add(trader)

    def add(self, trader: TraderDef | CompiledTrader, *, require_bool: bool = True) -> TraderPlan:
        """Link ``trader`` into the shared graphs, compiling it first unless it comes compiled
        (:func:`compile_trader`) as this program would compile it: to the same budget, reading
        only timeframes streamed here. A trader with the same id is replaced only by
        rebuilding, see :func:`build`. Without ``require_bool`` the expression may be a number
        (``vyx eval``).

        Raises:
            CompileError: the trader does not compile, is over budget alone, reads a timeframe
                not streamed here or would take all traders together over budget (the
                program is left as it was).
        """
        from_text = not self._takes_compiled(trader)
        if not isinstance(trader, CompiledTrader) or from_text:
            # Not compiled, or to another budget, or reading a timeframe not streamed here:
            # compiled against this program (the checker's diagnostics say exactly where).
            definition = trader.definition if isinstance(trader, CompiledTrader) else trader
            trader = compile_trader(
                definition, budget=self.budget, timeframes=self.streamed, require_bool=require_bool
            )
        b = self.budget
        together = Guard(
            self.graphs, Limits(b.max_user_nodes, b.max_user_work, b.max_user_width), "traders"
        )
        mark = self._lowerer.mark()
        try:
            self._lowerer.watch = together
            root, clauses = _lower_trader(
                self._lowerer, trader.checked, trader.definition.timeframe
            )
            together.check(trader.checked.expr.span)
        except OverBudget as exc:
            self._lowerer.rollback(mark)
            raise CompileError([exc.diagnostic]) from None
        finally:
            self._lowerer.watch = None
        plan = TraderPlan(trader.definition, trader.checked, root, clauses)
        self.traders[trader.id] = plan
        self._linked.append(_Linked(plan, from_text and require_bool, mark))
        self._signature_cache = None
        return plan

    def _takes_compiled(self, trader: TraderDef | CompiledTrader) -> bool:
        """Does :meth:`add` link ``trader`` as compiled (not compiling it again)?"""
        return isinstance(trader, CompiledTrader) and trader.runs_on(self.budget, self.streamed)

    def _links_as(self, trader: TraderDef | CompiledTrader, linked: _Linked) -> bool:
        """Would :meth:`add` (as :func:`build` calls it) link ``trader`` as it linked
        ``linked``: the same definition, lowered from the same checked filter?"""
        plan = linked.plan
        if isinstance(trader, CompiledTrader) and self._takes_compiled(trader):
            same = trader.checked is plan.checked or trader.checked == plan.checked
            return trader.definition == plan.definition and same
        definition = trader.definition if isinstance(trader, CompiledTrader) else trader
        return linked.from_text and definition == plan.definition

    def linked_prefix(
        self,
        traders: Sequence[TraderDef | CompiledTrader],
        budget: Budget,
        timeframes: Collection[str] | None,
    ) -> tuple[Program, int]:
        """A new program of ``budget`` streaming ``timeframes`` with the first ``n`` of
        ``traders`` linked, exactly as linking them into an empty one makes it, and ``n``:
        the most of them this program linked first, in the same order and the same way
        (none when its budget or timeframes differ). Copies what it keeps, without lowering
        again; this program is left as it is."""
        streamed = None if timeframes is None else frozenset(timeframes)
        program = Program(budget=budget, timeframes=timeframes)
        if budget != self.budget or streamed != self.streamed:
            return program, 0
        n = 0
        for trader, linked in zip(traders, self._linked, strict=False):
            if not self._links_as(trader, linked):
                break
            n += 1
        if n == 0:
            return program, 0
        program.graphs.update({tf: g.copy() for tf, g in self.graphs.items()})
        program.exts.update({tf: e.copy() for tf, e in self.exts.items()})
        if n < len(self._linked):
            program._lowerer.rollback(self._linked[n].mark)
        program._linked = self._linked[:n]
        for linked in program._linked:
            program.traders[linked.plan.id] = linked.plan
        return program, n

    @property
    def timeframes(self) -> tuple[str, ...]:
        """Timeframes with a graph, longest first (the order screens at one instant run in)."""
        return tuple(sorted(self.graphs, key=timeframe_ms, reverse=True))

    def layouts(self) -> dict[str, Layout]:
        """The executable layout of every timeframe's graph."""
        return {tf: layout(g) for tf, g in self.graphs.items()}

    def signatures(self, tf: str) -> list[Signature]:
        """Structural signature of every node of ``tf``'s graph (stable across rebuilds)."""
        if self._signature_cache is None:
            self._signature_cache = self._signatures()
        return self._signature_cache[tf]

    def _signatures(self) -> dict[str, list[Signature]]:
        """Every graph's signatures, in one pass over each graph in node order.

        Nodes come after their inputs, and an ``on()`` reads a longer timeframe, which is done
        first: every input's signature exists when a node's is made.
        """
        sigs: dict[str, list[Signature]] = {}
        for tf in self.timeframes:
            own: list[Signature] = []
            sigs[tf] = own
            sources = self.exts[tf].sources
            for node in self.graphs[tf].nodes:
                digest = hashlib.blake2b(digest_size=16)
                digest.update(struct.pack(f"<q{len(node.params)}d", node.op, *node.params))
                if node.op == ops.EXT:
                    src_tf, src = sources[int(node.params[0])]
                    digest.update(src_tf.encode())
                    digest.update(sigs[src_tf][src])
                for i in node.inputs:
                    digest.update(own[i])
                own.append(digest.digest())
        return sigs

    def warmup(self, trader_id: str, layouts: Mapping[str, Layout]) -> dict[str, int]:
        """Bars of history each timeframe needs before ``trader_id`` may fire."""
        plan = self.traders[trader_id]
        warm = {tf: lay.warm for tf, lay in layouts.items()}
        return _warmup(self.graphs, self.exts, warm, plan.timeframe, plan.root)


def _warmup(
    graphs: Mapping[str, Graph],
    exts: Mapping[str, ExtRegistry],
    warm: Mapping[str, Sequence[int] | I64],
    tf: str,
    root: int,
) -> dict[str, int]:
    """Bars of history each timeframe needs before node ``root`` of ``tf`` is valid (``warm``:
    each timeframe's warm-up per node, as :class:`~kernels.graph.Graph` keeps it)."""
    needs = {tf: int(warm[tf][root]) + 1}
    for node in graphs[tf].closure([root]):
        key = graphs[tf].nodes[node]
        if key.op == ops.EXT:
            src_tf, src = exts[tf].sources[int(key.params[0])]
            needs[src_tf] = max(needs.get(src_tf, 0), int(warm[src_tf][src]) + 1)
    return needs


def _lower_trader(
    lw: Lowerer, checked: CheckedFilter, tf: str
) -> tuple[int, tuple[ClausePlan, ...]]:
    """Lower a checked filter: the node of the whole filter, and its clauses."""
    root = lw.lower(checked.expr, tf)
    clauses = tuple(
        ClausePlan(clause.label, lw.lower(clause.expr, tf), _operands(lw, clause.expr, tf))
        for clause in checked.clauses
    )
    return root, clauses


def _operands(lw: Lowerer, expr: ast.Expr, tf: str) -> tuple[Operand, ...]:
    """The operands worth showing of a clause, lowered."""
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


def build(
    traders: Iterable[TraderDef | CompiledTrader],
    *,
    budget: Budget = BUDGET,
    timeframes: Collection[str] | None = None,
    base: Program | None = None,
) -> tuple[Program, dict[str, CompileError]]:
    """Link ``traders`` in order, compiling those not compiled yet (see :class:`Program` for
    ``budget`` and ``timeframes``); those that do not compile, alone or after the ones before
    them, are left out and returned with their errors (a trader is never silently skipped).

    With ``base`` (the running program, say) the first traders it linked the same way are
    copied from it rather than lowered again (:meth:`Program.linked_prefix`): the program is
    the same; ``base`` is left as it is."""
    traders = list(traders)
    if base is None:
        program, n = Program(budget=budget, timeframes=timeframes), 0
    else:
        program, n = base.linked_prefix(traders, budget, timeframes)
    errors: dict[str, CompileError] = {}
    for trader in traders[n:]:
        try:
            program.add(trader)
        except CompileError as exc:
            errors[trader.id] = exc
    return program, errors
