"""The parse tree: what the parser saw, before names, arguments and types are checked.

The checker (:mod:`kernels.lang.checker`) turns it into the typed AST of :mod:`kernels.lang.ast`.
A :class:`Bad` node stands where the parser already reported a syntax error, so that checking can
go on and report the problems of the rest of the filter.
"""

from __future__ import annotations

from typing import Literal

import attrs

from kernels.lang.errors import Span


@attrs.frozen
class Number:
    """A number literal."""

    value: float
    text: str
    span: Span


@attrs.frozen
class Bool:
    """``true`` or ``false``."""

    value: bool
    span: Span


@attrs.frozen
class String:
    """A string literal (only valid as the timeframe of ``on``)."""

    value: str
    span: Span


@attrs.frozen
class Name:
    """An identifier used as a value."""

    name: str
    span: Span


@attrs.frozen
class Arg:
    """A call argument; ``name`` is set for ``name=value``."""

    name: str | None
    name_span: Span | None
    value: Node
    span: Span


@attrs.frozen
class CallSyntax:
    """``name(args...)``."""

    name: str
    name_span: Span
    args: tuple[Arg, ...]
    span: Span


@attrs.frozen
class Field:
    """``operand.name``."""

    operand: Node
    name: str
    name_span: Span
    span: Span


@attrs.frozen
class Index:
    """``operand[index]``."""

    operand: Node
    index: Node
    span: Span


@attrs.frozen
class Unary:
    """``-operand`` or ``not operand``."""

    op: Literal["-", "not"]
    operand: Node
    span: Span


@attrs.frozen
class Binary:
    """``left op right`` for ``+ - * /``."""

    op: Literal["+", "-", "*", "/"]
    left: Node
    right: Node
    span: Span


@attrs.frozen
class BoolOp:
    """``a and b and c`` (or ``or``), one node per unparenthesised run."""

    op: Literal["and", "or"]
    operands: tuple[Node, ...]
    span: Span


@attrs.frozen
class Chain:
    """A comparison chain: ``a < b <= c`` has two ops and three operands."""

    ops: tuple[str, ...]
    operands: tuple[Node, ...]
    span: Span


@attrs.frozen
class Bad:
    """Text the parser could not make sense of (the error is already reported), with the
    well-formed pieces found in it, which are still checked for errors of their own."""

    span: Span
    parts: tuple[Node, ...] = ()


Node = (
    Number
    | Bool
    | String
    | Name
    | CallSyntax
    | Field
    | Index
    | Unary
    | Binary
    | BoolOp
    | Chain
    | Bad
)


def with_span(node: Node, span: Span) -> Node:
    """``node`` with another span (used to include the parentheses around an expression)."""
    return attrs.evolve(node, span=span)


def children(node: Node) -> tuple[Node, ...]:
    """The direct sub-nodes of ``node``."""
    match node:
        case CallSyntax(args=args):
            return tuple(a.value for a in args)
        case Field(operand=operand) | Unary(operand=operand):
            return (operand,)
        case Index(operand=operand, index=index):
            return (operand, index)
        case Binary(left=left, right=right):
            return (left, right)
        case BoolOp(operands=operands) | Chain(operands=operands):
            return operands
        case Bad(parts=parts):
            return parts
        case _:
            return ()


def first_below(node: Node, level: int) -> Node | None:
    """The first node (in source order) nested ``level`` deep in ``node`` (``node`` itself is
    1 deep), or None when it nests less deeply; computed without recursion."""
    found: Node | None = None
    stack = [(node, 1)]
    while stack:
        current, at = stack.pop()
        if at == level:
            if found is None or current.span.start < found.span.start:
                found = current
            continue
        stack.extend((child, at + 1) for child in children(current))
    return found
