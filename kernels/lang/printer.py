"""The canonical printer: typed AST back to filter text.

``check(to_source(e))`` gives back an expression equal to ``e`` (equality ignores spans). The text
uses the fewest parentheses the precedence rules allow, canonical names, every parameter written
out (``rsi(14)``, ``macd(12, 26, 9).hist``) and series inputs only where they differ from the
defaults (``sma(rsi(14), 5)`` but ``ema(50)`` for ``ema(close, 50)``).
"""

from __future__ import annotations

import math

from kernels.lang.ast import (
    Arith,
    Call,
    Compare,
    Const,
    Expr,
    Lag,
    Logic,
    Neg,
    Not,
    On,
    Series,
    TickerField,
)
from kernels.lang.catalog import FUNCTIONS
from kernels.lang.signatures import format_number

# Binding powers, as in the parser; PRIMARY is anything that never needs parentheses.
OR, AND, NOT, CMP, ADD, MUL, UNARY, PRIMARY = 1, 2, 3, 4, 5, 6, 7, 8


def to_source(expr: Expr) -> str:
    """Canonical filter text of ``expr``."""
    match expr:
        case Const(value=value, type="bool"):
            return "true" if value else "false"
        case Const(value=value):
            return format_number(value)
        case Series(name=name) | TickerField(name=name):
            return name
        case Call():
            return _call(expr)
        case Lag(operand=operand, bars=bars):
            return f"{_wrap(operand, PRIMARY)}[{bars}]"
        case Neg(operand=operand):
            return "-" + _wrap(operand, UNARY)
        case Not(operand=operand):
            return "not " + _wrap(operand, NOT)
        case Arith(op=op, left=left, right=right):
            power = _power(expr)
            return f"{_wrap(left, power)} {op} {_wrap(right, power + 1)}"
        case Logic(op=op, operands=operands):
            return f" {op} ".join(_wrap(o, _power(expr) + 1) for o in operands)
        case Compare(ops=ops, operands=operands):
            parts = [_wrap(operands[0], CMP + 1)]
            for symbol, operand in zip(ops, operands[1:], strict=True):
                parts.append(f"{symbol} {_wrap(operand, CMP + 1)}")
            return " ".join(parts)
        case On(timeframe=timeframe, operand=operand):
            return f'on("{timeframe}", {to_source(operand)})'
    raise AssertionError(f"not an expression: {expr!r}")  # pragma: no cover


def _power(expr: Expr) -> int:
    match expr:
        case Logic(op="or"):
            return OR
        case Logic():
            return AND
        case Not():
            return NOT
        case Compare():
            return CMP
        case Arith(op="+" | "-"):
            return ADD
        case Arith():
            return MUL
        case Neg():
            return UNARY
        case Const(type="number", value=value) if math.copysign(1.0, value) < 0:
            return UNARY
        case _:
            return PRIMARY


def _wrap(expr: Expr, needed: int) -> str:
    text = to_source(expr)
    return text if _power(expr) >= needed else f"({text})"


def _call(call: Call) -> str:
    spec = FUNCTIONS[call.name]
    params = [format_number(p) for p in call.params]
    defaults_only = all(
        s.default is not None and isinstance(i, Series) and i.name == s.default
        for s, i in zip(spec.inputs, call.inputs, strict=True)
    )
    all_defaulted = all(s.default is not None for s in spec.inputs)
    if defaults_only:
        args = params
    elif all_defaulted and any(isinstance(i, Const) for i in call.inputs):
        # A literal first would make every argument a parameter: name them all.
        args = [f"{s.name}={to_source(i)}" for s, i in zip(spec.inputs, call.inputs, strict=True)]
        args += [f"{p.name}={v}" for p, v in zip(spec.params, params, strict=True)]
    else:
        args = [to_source(i) for i in call.inputs] + params
    field = f".{call.field}" if call.field else ""
    return f"{call.name}({', '.join(args)}){field}"
