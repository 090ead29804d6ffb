"""Hypothesis: random valid typed ASTs print to text that checks back to the same AST."""

from __future__ import annotations

import functools
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.lang import ast, check, to_source
from kernels.lang.catalog import FUNCTIONS, SERIES, TICKER_FIELDS
from kernels.lang.checker import POINTWISE
from kernels.lang.signatures import FunctionSpec
from kernels.timeframes import TIMEFRAME_MS

from .builders import NOWHERE, compare, flag, lag, neg, not_, num, on, series, ticker

ON_TIMEFRAMES = [tf for tf, ms in TIMEFRAME_MS.items() if ms >= TIMEFRAME_MS["5m"]]
CONSTS = st.floats(allow_nan=False, allow_infinity=False).map(num)
BARS = st.integers(1, 1000)
COMPARE_OPS = st.sampled_from(["<", "<=", ">", ">=", "==", "!="])


def flatten(op: str, operands: list[ast.Expr]) -> ast.Expr:
    """A Logic node as the checker builds it: same-operator operands merged."""
    flat: list[ast.Expr] = []
    for operand in operands:
        if isinstance(operand, ast.Logic) and operand.op == op:
            flat.extend(operand.operands)
        else:
            flat.append(operand)
    return ast.Logic(op, tuple(flat), span=NOWHERE)  # type: ignore[arg-type]


def lag_of(operand: ast.Expr, bars: int) -> ast.Expr:
    """A lookback as the checker builds it: nested lookbacks merged, within 1000 bars."""
    if isinstance(operand, ast.Lag):
        return lag(operand.operand, min(operand.bars + bars, 1000))
    return lag(operand, bars)


def lag_operand(expr: ast.Expr) -> bool:
    return not isinstance(expr, ast.Const)


def negatable(expr: ast.Expr) -> bool:
    # ``-2`` is the literal -2, so only a negative literal (-0 too) ever appears under a Neg.
    return not (isinstance(expr, ast.Const) and math.copysign(1.0, expr.value) > 0)


def calls(
    specs: list[FunctionSpec], numbers: st.SearchStrategy[ast.Expr]
) -> st.SearchStrategy[ast.Expr]:
    @st.composite
    def build(draw: st.DrawFn) -> ast.Expr:
        spec = draw(st.sampled_from(specs))
        defaults = all(i.default is not None for i in spec.inputs) and draw(st.booleans())
        inputs: tuple[ast.Expr, ...]
        if defaults:
            inputs = tuple(series(i.default or "") for i in spec.inputs)
        else:
            inputs = tuple(draw(numbers) for _ in spec.inputs)
        params = []
        for p in spec.params:
            if p.kind == "int":
                params.append(float(draw(st.integers(int(p.min), int(p.max)))))
            else:
                params.append(draw(st.floats(p.min, p.max)))
        names = [p.name for p in spec.params]
        for first, second in spec.ordered:  # e.g. min_sep < lookback
            i, j = names.index(first), names.index(second)
            params[i] = min(params[i], params[j] - 1.0)
        field = draw(st.sampled_from(spec.outputs)) if spec.outputs else None
        return ast.Call(spec.name, inputs, tuple(params), field, spec.result, span=NOWHERE)

    return build()


NUMBER_SPECS = [s for s in FUNCTIONS.values() if s.result == "number" and s.name not in POINTWISE]
POINTWISE_SPECS = [FUNCTIONS[name] for name in sorted(POINTWISE)]
BOOL_SPECS = [s for s in FUNCTIONS.values() if s.result == "bool"]


@functools.cache
def numbers(depth: int, on_ok: bool = True, ticker_ok: bool = True) -> st.SearchStrategy[ast.Expr]:
    leaves: list[st.SearchStrategy[ast.Expr]] = [CONSTS, st.sampled_from(SERIES).map(series)]
    if ticker_ok:
        leaves.append(st.sampled_from(TICKER_FIELDS).map(ticker))
    if depth == 0:
        return st.one_of(leaves)
    inner = numbers(depth - 1, on_ok, ticker_ok)
    history = numbers(depth - 1, on_ok, False)
    options: list[st.SearchStrategy[ast.Expr]] = [
        *leaves,
        inner.filter(negatable).map(neg),
        st.builds(
            lambda op, a, b: ast.Arith(op, a, b, span=NOWHERE),
            st.sampled_from(["+", "-", "*", "/"]),
            inner,
            inner,
        ),
        st.builds(lag_of, history.filter(lag_operand), BARS),
        calls(NUMBER_SPECS, history),
        calls(POINTWISE_SPECS, inner),
    ]
    if on_ok:
        options.append(
            st.builds(on, st.sampled_from(ON_TIMEFRAMES), numbers(depth - 1, False, ticker_ok))
        )
    return st.one_of(options)


@functools.cache
def bools(depth: int, on_ok: bool = True, ticker_ok: bool = True) -> st.SearchStrategy[ast.Expr]:
    leaves: list[st.SearchStrategy[ast.Expr]] = [st.booleans().map(flag)]
    if depth == 0:
        return st.one_of(leaves)
    inner = bools(depth - 1, on_ok, ticker_ok)
    operands = numbers(depth - 1, on_ok, ticker_ok)

    @st.composite
    def comparisons(draw: st.DrawFn) -> ast.Expr:
        n = draw(st.integers(1, 3))
        parts: list[ast.Expr | str] = [draw(operands)]
        for _ in range(n):
            parts += [draw(COMPARE_OPS), draw(operands)]
        return compare(*parts)

    options: list[st.SearchStrategy[ast.Expr]] = [
        *leaves,
        comparisons(),
        st.builds(flatten, st.sampled_from(["and", "or"]), st.lists(inner, min_size=2, max_size=4)),
        inner.map(not_),
        calls(BOOL_SPECS, numbers(depth - 1, on_ok, False)),
        st.builds(lag_of, bools(depth - 1, on_ok, False).filter(lag_operand), BARS),
    ]
    if on_ok:
        options.append(
            st.builds(on, st.sampled_from(ON_TIMEFRAMES), bools(depth - 1, False, ticker_ok))
        )
    return st.one_of(options)


def round_trip(expr: ast.Expr) -> None:
    text = to_source(expr)
    checked = check(text, require_bool=False)
    assert checked.expr == expr, text
    assert checked.normalized == text


@settings(max_examples=300, deadline=None)
@given(bools(3))
def test_bool_round_trip(expr: ast.Expr) -> None:
    round_trip(expr)


@settings(max_examples=300, deadline=None)
@given(numbers(3))
def test_number_round_trip(expr: ast.Expr) -> None:
    round_trip(expr)


@settings(deadline=None)
@given(bools(2))
def test_a_bool_filter_is_a_valid_filter(expr: ast.Expr) -> None:
    checked = check(to_source(expr))
    assert checked.expr == expr
    assert "5m" in checked.timeframes
