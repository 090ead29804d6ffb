"""The checker: parse tree -> typed AST, reporting every error at once.

It resolves names (suggesting close matches for unknown ones), binds call arguments
(:mod:`.calls`), checks types, fields, lookbacks and timeframes, and normalises the tree (see
:mod:`kernels.lang.ast`). A sub-expression with an error checks as ``None``; its parents then skip
their own type checks, so one mistake is reported once, not once per enclosing operator.
"""

from __future__ import annotations

from collections.abc import Collection

import attrs

from kernels.lang import syntax as syn
from kernels.lang.ast import (
    Arith,
    Call,
    Compare,
    Const,
    Expr,
    ExprType,
    Lag,
    Logic,
    Neg,
    Not,
    On,
    Series,
    TickerField,
)
from kernels.lang.budget import BUDGET, Budget
from kernels.lang.calls import bind, describe
from kernels.lang.catalog import (
    ALIASES,
    FUNCTIONS,
    SERIES,
    TICKER_FIELDS,
    callable_names,
    resolve,
    resolve_field,
    value_names,
)
from kernels.lang.errors import CompileError, Diagnostic, SourceMap, Span, did_you_mean, quoted
from kernels.lang.parser import parse, too_deep
from kernels.lang.printer import to_source
from kernels.lang.signatures import FunctionSpec
from kernels.timeframes import TIMEFRAME_MS, timeframe_ms

#: The longest lookback ``x[n]`` (in bars, after adding nested lookbacks).
MAX_LOOKBACK = 1000

#: Functions whose value at a bar depends on that bar alone (they accept ticker fields).
POINTWISE = frozenset({"abs", "min", "max"})


@attrs.frozen
class _Context:
    #: Timeframe of the enclosing ``on(...)``, if any.
    on: str | None = None
    #: What needs the history of the expression being checked (``"a lookback"``, ``"sma()"``).
    history: str | None = None


class _Checker:
    """Checks one parse tree; see :func:`kernels.lang.check`."""

    def __init__(
        self, timeframe: str, streamed: frozenset[str] | None, diagnostics: list[Diagnostic]
    ) -> None:
        self.timeframe = timeframe
        self.streamed = streamed
        self.diagnostics = diagnostics
        self.timeframes: set[str] = {timeframe}

    def error(self, message: str, span: Span, expected: str | None = None) -> None:
        self.diagnostics.append(Diagnostic(message, span, expected))

    def require(self, expr: Expr | None, want: ExprType, where: str) -> Expr | None:
        """``expr`` if it has type ``want``; otherwise report and return None."""
        if expr is not None and expr.type != want:
            self.error(
                f"expected a {want} {where}, found a {expr.type}: {_short(expr)}", expr.span, want
            )
            return None
        return expr

    def check(self, node: syn.Node, ctx: _Context) -> Expr | None:
        """The typed expression of ``node``, or None after reporting why there is none."""
        match node:
            case syn.Number(value=value, span=span):
                return Const(value, "number", span=span)
            case syn.Bool(value=value, span=span):
                return Const(1.0 if value else 0.0, "bool", span=span)
            case syn.String(span=span):
                self.error(
                    'a string is only allowed as the timeframe of on("1h", ...)', span, "number"
                )
                return None
            case syn.Name():
                return self.name(node, ctx)
            case syn.CallSyntax():
                return self.call(node, None, node.span, ctx)
            case syn.Field():
                return self.field(node, ctx)
            case syn.Index():
                return self.lookback(node, ctx)
            case syn.Unary():
                return self.unary(node, ctx)
            case syn.Binary(op=op, left=left, right=right, span=span):
                lhs = self.require(self.check(left, ctx), "number", f"on the left of '{op}'")
                rhs = self.require(self.check(right, ctx), "number", f"on the right of '{op}'")
                return None if lhs is None or rhs is None else Arith(op, lhs, rhs, span=span)
            case syn.BoolOp():
                return self.bool_op(node, ctx)
            case syn.Chain(ops=ops, operands=operands, span=span):
                checked = [
                    self.require(self.check(o, ctx), "number", f"in a comparison ('{op}')")
                    for o, op in zip(operands, (ops[0], *ops), strict=True)
                ]
                if any(c is None for c in checked):
                    return None
                return Compare(ops, tuple(c for c in checked if c is not None), span=span)
            case syn.Bad(parts=parts):
                for part in parts:
                    self.check(part, ctx)
                return None
        raise AssertionError(f"unknown parse node {node!r}")  # pragma: no cover

    def name(self, node: syn.Name, ctx: _Context) -> Expr | None:
        name, span = node.name, node.span
        if name in SERIES:
            return Series(name, span=span)
        if name in TICKER_FIELDS:
            if ctx.history is not None:
                self.error(
                    f"ticker field '{name}' is a live value without history; it cannot be used "
                    f"in {ctx.history} (use a bar series such as close)",
                    span,
                    "series",
                )
                return None
            return TickerField(name, span=span)
        if name.startswith("_"):
            self.error(
                f"'{quoted(name)}' is not allowed: names starting with '_' are reserved", span
            )
        elif resolve(name) is not None or name == "on":
            self.error(f"{name} is a function: call it, e.g. {_example(name)}", span, "value")
        else:
            suggestion = did_you_mean(name, value_names()) or did_you_mean(name, callable_names())
            self.error(f"unknown name '{quoted(name)}'{suggestion}", span, "series or ticker field")
        return None

    def unary(self, node: syn.Unary, ctx: _Context) -> Expr | None:
        if node.op == "-":
            if isinstance(node.operand, syn.Number):
                return Const(-node.operand.value, "number", span=node.span)
            operand = self.require(self.check(node.operand, ctx), "number", "after '-'")
            return None if operand is None else Neg(operand, span=node.span)
        operand = self.require(self.check(node.operand, ctx), "bool", "after 'not'")
        return None if operand is None else Not(operand, span=node.span)

    def bool_op(self, node: syn.BoolOp, ctx: _Context) -> Expr | None:
        flat: list[Expr] = []
        ok = True
        for operand in node.operands:
            checked = self.require(
                self.check(operand, ctx), "bool", f"as an operand of '{node.op}'"
            )
            if checked is None:
                ok = False
            elif isinstance(checked, Logic) and checked.op == node.op:
                flat.extend(checked.operands)  # from parentheses: (a and b) and c
            else:
                flat.append(checked)
        return Logic(node.op, tuple(flat), span=node.span) if ok else None

    def lookback(self, node: syn.Index, ctx: _Context) -> Expr | None:
        bars = self.bars(node.index)
        operand = self.check(node.operand, attrs.evolve(ctx, history="a lookback x[n]"))
        if isinstance(operand, Const):
            self.error("a lookback needs a series, found a constant", operand.span, "series")
            return None
        if operand is None or bars is None:
            return None
        if isinstance(operand, Lag):
            bars, operand = bars + operand.bars, operand.operand
            if bars > MAX_LOOKBACK:
                self.error(
                    f"lookback too long: {bars} bars in all (at most {MAX_LOOKBACK})",
                    node.span,
                    f"0..{MAX_LOOKBACK}",
                )
                return None
        if bars == 0:
            return operand
        return Lag(operand, bars, operand.type, span=node.span)

    def bars(self, index: syn.Node) -> int | None:
        """The number of bars of a lookback ``x[index]``, or None after reporting."""
        expected = f"0..{MAX_LOOKBACK}"
        if isinstance(index, syn.Bad):
            return None
        if (
            isinstance(index, syn.Unary)
            and index.op == "-"
            and isinstance(index.operand, syn.Number)
        ):
            message = "lookback must not be negative: x[n] is n bars ago; the future is unknown"
            self.error(message, index.span, expected)
            return None
        if not isinstance(index, syn.Number):
            message = f"lookback must be a whole number literal of bars, found {describe(index)}"
            self.error(message, index.span, expected)
            return None
        if not index.value.is_integer():
            found = quoted(index.text)
            self.error(f"lookback must be a whole number of bars, found {found}", index.span)
            return None
        if index.value > MAX_LOOKBACK:
            message = f"lookback too long: {quoted(index.text)} bars (at most {MAX_LOOKBACK})"
            self.error(message, index.span, expected)
            return None
        return int(index.value)

    def field(self, node: syn.Field, ctx: _Context) -> Expr | None:
        if isinstance(node.operand, syn.CallSyntax) and node.operand.name != "on":
            return self.call(node.operand, node, node.span, ctx)
        if isinstance(node.operand, syn.CallSyntax):
            message = 'a field goes on the indicator inside on(): on("1h", macd(12, 26, 9).hist)'
        else:
            message = (
                f"attribute '{quoted(node.name)}' is not allowed: only the outputs of a "
                "multi-output indicator have fields, e.g. macd(12, 26, 9).hist"
            )
        self.error(message, node.name_span)
        if not isinstance(node.operand, syn.Name):
            self.check(node.operand, ctx)
        return None

    def call(
        self, node: syn.CallSyntax, field: syn.Field | None, span: Span, ctx: _Context
    ) -> Expr | None:
        """A call, with the ``.field`` that follows it if any."""
        if node.name == "on":
            return self.on(node, ctx)
        spec = resolve(node.name)
        if spec is None:
            self.unknown_function(node, ctx)
            return None
        history = ctx if spec.name in POINTWISE else attrs.evolve(ctx, history=f"{spec.name}()")
        binding = bind(spec, node, self.error)
        if binding is None:
            self.check_arguments(node, history)
            return None
        inputs: list[Expr | None] = []
        for spec_input, given in zip(spec.inputs, binding.inputs, strict=True):
            if given is None:
                assert spec_input.default is not None
                inputs.append(Series(spec_input.default, span=node.name_span))
            else:
                where = f"for input '{spec_input.name}' of {spec.name}"
                inputs.append(self.require(self.check(given, history), "number", where))
        picked = self.pick_field(spec, field, node.span)
        if any(i is None for i in inputs) or picked is False:
            return None
        checked = tuple(i for i in inputs if i is not None)
        name = None if picked is True else picked
        return Call(spec.name, checked, binding.params, name, spec.result, span=span)

    def pick_field(self, spec: FunctionSpec, field: syn.Field | None, span: Span) -> str | bool:
        """The canonical field picked, True when there is correctly none, False after an error."""
        if field is None:
            if spec.outputs is None:
                return True
            fields = ", ".join(f".{o}" for o in spec.outputs)
            self.error(
                f"{spec.name} has several outputs: pick one of {fields}",
                span,
                "a field",
            )
            return False
        if spec.outputs is None:
            self.error(
                f"{spec.name} has a single output: it has no field '{quoted(field.name)}'",
                field.name_span,
                "no field",
            )
            return False
        picked = resolve_field(spec, field.name)
        if picked is None:
            known = (*spec.outputs, *spec.field_aliases)
            self.error(
                f"{spec.name} has no field '{quoted(field.name)}'{did_you_mean(field.name, known)} "
                f"(its fields are {', '.join(spec.outputs)})",
                field.name_span,
                " | ".join(spec.outputs),
            )
            return False
        return picked

    def unknown_function(self, node: syn.CallSyntax, ctx: _Context) -> None:
        name, span = node.name, node.name_span
        if name.startswith("_"):
            self.error(
                f"'{quoted(name)}' is not allowed: names starting with '_' are reserved", span
            )
            return
        if name in SERIES or name in TICKER_FIELDS:
            self.error(
                f"{name} is not a function; write {name}[n] for its value n bars ago",
                span,
                "function",
            )
        else:
            suggestion = did_you_mean(name, callable_names())
            self.error(f"unknown function '{quoted(name)}'{suggestion}", span, "function")
        self.check_arguments(node, attrs.evolve(ctx, history=f"{quoted(name)}()"))

    def check_arguments(self, node: syn.CallSyntax, ctx: _Context) -> None:
        """Check argument expressions of a call that could not be bound, for their own errors."""
        for arg in node.args:
            if not isinstance(arg.value, syn.String | syn.Number | syn.Unary | syn.Bad):
                self.check(arg.value, ctx)

    def on(self, node: syn.CallSyntax, ctx: _Context) -> Expr | None:
        usage = 'on("1h", expression)'
        if ctx.on is not None:
            self.error(
                f'on() cannot be nested (already inside on("{ctx.on}", ...))', node.name_span
            )
            self.check_arguments(node, ctx)
            return None
        args = node.args
        if len(args) != 2 or any(a.name is not None for a in args):
            self.error(
                f"on takes a timeframe and an expression, {usage}; found {_arguments(args)}",
                node.span,
                usage,
            )
            self.check_arguments(node, ctx)
            return None
        timeframe = self.timeframe_argument(args[0].value)
        operand = self.check(args[1].value, attrs.evolve(ctx, on=timeframe or "?"))
        if timeframe is None or operand is None:
            return None
        self.timeframes.add(timeframe)
        return On(timeframe, operand, operand.type, span=node.span)

    def timeframe_argument(self, node: syn.Node) -> str | None:
        if not isinstance(node, syn.String):
            found = describe(node)
            message = f'the first argument of on() is a timeframe string like "1h", found {found}'
            self.error(message, node.span, "timeframe")
            return None
        name = node.value
        if name not in TIMEFRAME_MS:
            self.error(
                f"unknown timeframe '{quoted(name)}'{did_you_mean(name, list(TIMEFRAME_MS))} "
                f"(expected one of {', '.join(TIMEFRAME_MS)})",
                node.span,
                "timeframe",
            )
            return None
        if TIMEFRAME_MS[name] < TIMEFRAME_MS[self.timeframe]:
            self.error(
                f"timeframe '{name}' is shorter than the trader's own ({self.timeframe}); "
                f"on() needs {self.timeframe} or longer",
                node.span,
                "timeframe",
            )
            return None
        if self.streamed is not None and name not in self.streamed:
            self.error(not_streamed(name, self.streamed), node.span, "timeframe")
            return None
        return name


def not_streamed(timeframe: str, streamed: Collection[str]) -> str:
    """The message of a timeframe this machine does not stream."""
    names = ", ".join(sorted(streamed, key=timeframe_ms)) or "none"
    return f"timeframe '{timeframe}' is not streamed here (streamed: {names})"


def _short(expr: Expr, limit: int = 40) -> str:
    text = to_source(expr)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _example(name: str) -> str:
    if name == "on":
        return 'on("1h", close > ema(200))'
    spec = FUNCTIONS[ALIASES.get(name, name)]
    return f"{name}({', '.join(i.name for i in spec.inputs if i.default is None)})"


def _arguments(args: tuple[syn.Arg, ...]) -> str:
    if not args:
        return "no arguments"
    return f"{len(args)} argument{'s' if len(args) > 1 else ''}"


@attrs.frozen
class Clause:
    """A top-level ``and`` operand of a filter, labelled with its canonical text."""

    label: str
    expr: Expr


@attrs.frozen
class CheckedFilter:
    """A filter that compiles.

    Attributes:
        source: the text as given.
        expr: its typed AST.
        clauses: the top-level ``and`` operands (the whole filter when there is no top-level
            ``and``), each a named condition whose operand values explain a match.
        timeframes: the trader's own timeframe and every timeframe of an ``on()``.
        normalized: the canonical text of ``expr`` (:func:`to_source`).
    """

    source: str
    expr: Expr
    clauses: tuple[Clause, ...]
    timeframes: frozenset[str]
    normalized: str


def check(
    source: str,
    *,
    timeframe: str = "5m",
    require_bool: bool = True,
    budget: Budget = BUDGET,
    timeframes: Collection[str] | None = None,
) -> CheckedFilter:
    """Compile ``source`` to a typed, checked filter.

    Args:
        source: the filter text.
        timeframe: the trader's own timeframe; ``on()`` may only ask for one at least as long.
        require_bool: whether the whole expression must be a condition; ``False`` also accepts a
            number expression (``vyx eval``).
        budget: the limits of the text's length and nesting depth (the plan's limits are
            :class:`kernels.program.Program`'s).
        timeframes: the timeframes streamed, when known: the trader's own timeframe and every
            ``on()`` timeframe must be one of them.

    Raises:
        CompileError: with every problem found, when the text is not a valid filter.
        kernels.timeframes.TimeframeError: when ``timeframe`` itself is not a timeframe name.
    """
    timeframe_ms(timeframe)
    if len(source) > budget.max_chars:
        # Nothing else is looked at: every later step is linear in a text of bounded length.
        # The span is the first character over the limit, mapped in the bounded prefix (a map
        # of the whole text would cost seconds for a text of many megabytes).
        span = SourceMap(source[: budget.max_chars + 1]).span(
            budget.max_chars, budget.max_chars + 1
        )
        message = f"filter too long ({len(source)} characters > {budget.max_chars})"
        raise CompileError([Diagnostic(message, span)])
    tree, diagnostics = parse(source, budget.max_depth)
    deep = syn.first_below(tree, budget.max_depth + 1)
    if deep is not None or any(d.message.startswith("filter too deeply") for d in diagnostics):
        # The checker and printer recurse once per level: never run them over such a tree.
        if deep is not None:
            message = too_deep(budget.max_depth + 1, budget.max_depth)
            diagnostics.append(Diagnostic(message, deep.span))
        raise CompileError(diagnostics)
    streamed = None if timeframes is None else frozenset(timeframes)
    if streamed is not None and timeframe not in streamed:
        message = f"the trader's {not_streamed(timeframe, streamed)}"
        diagnostics.append(Diagnostic(message, tree.span, "timeframe"))
    checker = _Checker(timeframe, streamed, diagnostics)
    expr = checker.check(tree, _Context())
    if require_bool:
        expr = checker.require(expr, "bool", "for the whole filter (a condition)")
    if diagnostics or expr is None:
        raise CompileError(diagnostics)
    operands = expr.operands if isinstance(expr, Logic) and expr.op == "and" else (expr,)
    return CheckedFilter(
        source=source,
        expr=expr,
        clauses=tuple(Clause(to_source(o), o) for o in operands),
        timeframes=frozenset(checker.timeframes),
        normalized=to_source(expr),
    )
