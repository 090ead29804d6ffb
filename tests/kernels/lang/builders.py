"""Terse constructors of typed AST nodes for expected values (spans are ignored by equality), and
the assertion that a filter is rejected with a given message at a given place."""

from __future__ import annotations

import pytest

from kernels.lang import CompileError, ast, check
from kernels.lang.catalog import FUNCTIONS
from kernels.lang.errors import Span

NOWHERE = Span(0, 0, 1, 1, 1, 1)


def num(value: float) -> ast.Const:
    return ast.Const(float(value), "number", span=NOWHERE)


def flag(value: bool) -> ast.Const:
    return ast.Const(1.0 if value else 0.0, "bool", span=NOWHERE)


def series(name: str) -> ast.Series:
    return ast.Series(name, span=NOWHERE)


def ticker(name: str) -> ast.TickerField:
    return ast.TickerField(name, span=NOWHERE)


def call(
    name: str,
    *params: float,
    inputs: tuple[ast.Expr, ...] | None = None,
    field: str | None = None,
) -> ast.Call:
    """A call with the catalog's default inputs unless given; params default to the catalog's."""
    spec = FUNCTIONS[name]
    if inputs is None:
        inputs = tuple(series(i.default or "?") for i in spec.inputs)
    values = tuple(float(p) for p in params) + tuple(p.default for p in spec.params[len(params) :])
    return ast.Call(name, inputs, values, field, spec.result, span=NOWHERE)


def lag(operand: ast.Expr, bars: int) -> ast.Lag:
    return ast.Lag(operand, bars, operand.type, span=NOWHERE)


def neg(operand: ast.Expr) -> ast.Neg:
    return ast.Neg(operand, span=NOWHERE)


def not_(operand: ast.Expr) -> ast.Not:
    return ast.Not(operand, span=NOWHERE)


def arith(op: str, left: ast.Expr, right: ast.Expr) -> ast.Arith:
    return ast.Arith(op, left, right, span=NOWHERE)  # type: ignore[arg-type]


def logic(op: str, *operands: ast.Expr) -> ast.Logic:
    return ast.Logic(op, operands, span=NOWHERE)  # type: ignore[arg-type]


def compare(*parts: ast.Expr | str) -> ast.Compare:
    """``compare(a, "<", b, "<", c)``."""
    operands = tuple(p for p in parts if not isinstance(p, str))
    ops = tuple(p for p in parts if isinstance(p, str))
    return ast.Compare(ops, operands, span=NOWHERE)


def on(timeframe: str, operand: ast.Expr) -> ast.On:
    return ast.On(timeframe, operand, operand.type, span=NOWHERE)


def assert_reported(source: str, line: int, col: int, fragment: str) -> None:
    """``check(source)`` fails with a diagnostic at ``line:col`` whose message has ``fragment``."""
    with pytest.raises(CompileError) as info:
        check(source)
    found = [(d.span.line, d.span.col, d.message) for d in info.value.diagnostics]
    assert any((ln, c) == (line, col) and fragment in m for ln, c, m in found), found
