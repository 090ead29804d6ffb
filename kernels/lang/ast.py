"""The typed AST: what :func:`kernels.lang.check` returns and the plan builder lowers.

Every node is a frozen attrs class with a ``span`` (where it came from, keyword-only) and a
``type`` (``"number"`` or ``"bool"``, both series; derived when not given: from the operand for
:class:`Lag` and :class:`On`, from the catalog for :class:`Call`). **Equality and hashing ignore
spans**: two nodes are equal when they mean the same computation, so nodes can key a dictionary of
shared plan nodes.

The checker normalises as it builds: aliases are resolved (``wilder`` -> ``rma``, ``.macdhist`` ->
``.hist``); every series input and parameter of a :class:`Call` is present, defaults filled in;
``-`` applied to a number literal is a negative :class:`Const`; ``x[0]`` is ``x``; ``x[a][b]``
is ``x[a + b]``; nested ``and``/``or`` of the same operator are flattened into one :class:`Logic`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import attrs

from kernels.lang.catalog import FUNCTIONS
from kernels.lang.errors import Span
from kernels.lang.signatures import ExprType

__all__ = [
    "Arith",
    "Call",
    "Compare",
    "Const",
    "Expr",
    "ExprType",
    "Lag",
    "Logic",
    "Neg",
    "Not",
    "On",
    "Series",
    "TickerField",
    "children",
    "walk",
]


def _operand_type(node: Lag | On) -> ExprType:
    return node.operand.type


@attrs.frozen
class Const:
    """A literal: a number (type number) or ``true``/``false`` (type bool, value 1.0/0.0)."""

    value: float
    type: ExprType = "number"
    span: Span = attrs.field(eq=False, kw_only=True)


@attrs.frozen
class Series:
    """A bar series of the evaluated timeframe: ``close``, ``volume``, ``hl2``, ..."""

    name: str
    span: Span = attrs.field(eq=False, kw_only=True)
    type: ExprType = attrs.field(default="number", init=False)


@attrs.frozen
class TickerField:
    """A field of the live 24 h ticker: ``price``, ``change_24h``, ``quote_volume_24h``."""

    name: str
    span: Span = attrs.field(eq=False, kw_only=True)
    type: ExprType = attrs.field(default="number", init=False)


@attrs.frozen
class Call:
    """An indicator or helper (see :mod:`kernels.lang.catalog`), fully bound.

    ``name`` is canonical; ``inputs`` are the series inputs in catalog order (defaults filled in
    as :class:`Series`); ``params`` the parameters in catalog order (defaults filled in, integer
    parameters as integral floats); ``field`` the picked output of a multi-output indicator.
    """

    name: str
    inputs: tuple[Expr, ...]
    params: tuple[float, ...]
    field: str | None
    type: ExprType = attrs.field(
        default=attrs.Factory(lambda self: FUNCTIONS[self.name].result, takes_self=True)
    )
    span: Span = attrs.field(eq=False, kw_only=True)


@attrs.frozen
class Lag:
    """``operand[bars]``: the value ``bars`` (>= 1) bars ago."""

    operand: Expr
    bars: int
    type: ExprType = attrs.field(default=attrs.Factory(_operand_type, takes_self=True))
    span: Span = attrs.field(eq=False, kw_only=True)


@attrs.frozen
class Neg:
    """``-operand``."""

    operand: Expr
    span: Span = attrs.field(eq=False, kw_only=True)
    type: ExprType = attrs.field(default="number", init=False)


@attrs.frozen
class Not:
    """``not operand``."""

    operand: Expr
    span: Span = attrs.field(eq=False, kw_only=True)
    type: ExprType = attrs.field(default="bool", init=False)


@attrs.frozen
class Arith:
    """``left op right``."""

    op: Literal["+", "-", "*", "/"]
    left: Expr
    right: Expr
    span: Span = attrs.field(eq=False, kw_only=True)
    type: ExprType = attrs.field(default="number", init=False)


@attrs.frozen
class Logic:
    """``a and b and ...`` (or ``or``): two or more operands, none itself the same operator."""

    op: Literal["and", "or"]
    operands: tuple[Expr, ...]
    span: Span = attrs.field(eq=False, kw_only=True)
    type: ExprType = attrs.field(default="bool", init=False)


@attrs.frozen
class Compare:
    """A comparison chain: ``a < b <= c`` is true when ``a < b`` and ``b <= c``.

    ``len(operands) == len(ops) + 1``; ops are among ``< <= > >= == !=``.
    """

    ops: tuple[str, ...]
    operands: tuple[Expr, ...]
    span: Span = attrs.field(eq=False, kw_only=True)
    type: ExprType = attrs.field(default="bool", init=False)


@attrs.frozen
class On:
    """``on("1h", operand)``: operand evaluated on another timeframe's last closed bar."""

    timeframe: str
    operand: Expr
    type: ExprType = attrs.field(default=attrs.Factory(_operand_type, takes_self=True))
    span: Span = attrs.field(eq=False, kw_only=True)


Expr = Const | Series | TickerField | Call | Lag | Neg | Not | Arith | Logic | Compare | On


def children(expr: Expr) -> tuple[Expr, ...]:
    """The direct sub-expressions of ``expr``, in source order."""
    match expr:
        case Call(inputs=inputs):
            return inputs
        case (
            Lag(operand=operand) | Neg(operand=operand) | Not(operand=operand) | On(operand=operand)
        ):
            return (operand,)
        case Arith(left=left, right=right):
            return (left, right)
        case Logic(operands=operands) | Compare(operands=operands):
            return operands
        case _:
            return ()


def walk(expr: Expr) -> Iterator[Expr]:
    """Every node of ``expr``, parents before children."""
    stack = [expr]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(children(node)))
