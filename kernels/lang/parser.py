"""A recursive-descent (Pratt) parser from filter text to the parse tree of :mod:`.syntax`.

It never runs or imports Python: the text is tokenized by :mod:`.tokens` and only the grammar of
:mod:`kernels.lang` is accepted. Syntax errors are collected, not raised: after an error the parser
resynchronises (at ``)``, ``]``, ``,``, ``and``, ``or`` or the end) and goes on, so one run
reports every problem it can. Operators a Python user may type by habit (``&&``, ``=``, ``%``,
``lambda`` ...) get a message of their own.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Literal

from kernels.lang import syntax as syn
from kernels.lang.errors import Diagnostic, SourceMap, Span
from kernels.lang.tokens import Kind, Token, tokenize

# Binding powers, loosest first.
OR, AND, NOT, CMP, ADD, MUL, UNARY = 1, 2, 3, 4, 5, 6, 7

COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")

# Operators written by habit from other languages: (binding power, replacement, hint).
_SUBSTITUTES: dict[str, tuple[int, str, str]] = {
    "&&": (AND, "and", "use 'and'"),
    "&": (AND, "and", "use 'and'"),
    "||": (OR, "or", "use 'or'"),
    "|": (OR, "or", "use 'or'"),
    "=": (CMP, "==", "assignment is not allowed; use '==' to compare"),
    "<>": (CMP, "!=", "use '!='"),
    ":=": (CMP, "==", "assignment is not allowed; use '==' to compare"),
}
_SPELLINGS = {
    "and": ("and", "&&", "&"),
    "or": ("or", "||", "|"),
    "compare": (*COMPARISONS, "=", "<>", ":="),
}
_UNSUPPORTED_INFIX: dict[str, int] = {"%": MUL, "//": MUL, "**": UNARY, "@": MUL}
_UNSUPPORTED_INFIX |= {"^": ADD, "<<": ADD, ">>": ADD}

#: Python keywords, rejected with a message of their own wherever they appear.
PYTHON_KEYWORDS = frozenset(
    (
        "lambda",
        "for",
        "in",
        "if",
        "else",
        "elif",
        "is",
        "import",
        "from",
        "def",
        "class",
        "return",
        "yield",
        "await",
        "async",
        "with",
        "while",
        "global",
        "nonlocal",
        "del",
        "pass",
        "raise",
        "try",
        "except",
        "finally",
        "assert",
        "break",
        "continue",
        "as",
    )
)
_KEYWORD_HINTS = {
    "lambda": "lambda functions are not allowed",
    "for": "comprehensions and loops are not allowed",
    "if": "conditional expressions are not allowed",
    "in": "the 'in' operator is not supported",
    "is": "the 'is' operator is not supported; use '=='",
}
_OPENERS = {"(": ")", "[": "]", "{": "}"}


class _TooDeep(Exception):
    """Raised where the parser's recursion would nest deeper than allowed."""

    def __init__(self, token: Token) -> None:
        super().__init__(token)
        self.token = token


def too_deep(depth: int, max_depth: int) -> str:
    """The message of a filter nested deeper than the budget allows."""
    return f"filter too deeply nested (depth {depth} > {max_depth})"


class _Parser:
    """Parses one filter; see :func:`parse`."""

    def __init__(self, source: str, max_depth: int) -> None:
        self.source = source
        self.smap = SourceMap(source)
        self.diagnostics: list[Diagnostic] = []
        self.tokens = tokenize(source, self.smap, self.diagnostics)
        self.pos = 0
        self.nesting = 0
        self.max_depth = max_depth

    # -- token access --------------------------------------------------------------------------

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.peek()
        if token.kind is not Kind.EOF:
            self.pos += 1
        return token

    def at(self, text: str, ahead: int = 0) -> bool:
        token = self.peek(ahead)
        return token.kind in (Kind.OP, Kind.NAME) and token.text == text

    def error(self, message: str, span: Span, expected: str | None = None) -> None:
        self.diagnostics.append(Diagnostic(message, span, expected))

    def span_from(self, start: Span) -> Span:
        return start.cover(self.tokens[max(self.pos - 1, 0)].span)

    def skip_group(self) -> None:
        """Skip a bracketed group starting at the current opener, closer included."""
        stack = [_OPENERS[self.advance().text]]
        while stack and self.peek().kind is not Kind.EOF:
            token = self.advance()
            if token.kind is Kind.OP and token.text in _OPENERS:
                stack.append(_OPENERS[token.text])
            elif token.kind is Kind.OP and token.text == stack[-1]:
                stack.pop()

    def synchronize(self, stops: tuple[str, ...] = (")", "]", "}", ",", "and", "or")) -> None:
        """Skip tokens up to (not including) one of ``stops`` outside brackets, or the end."""
        while self.peek().kind is not Kind.EOF and not any(self.at(s) for s in stops):
            if self.peek().kind is Kind.OP and self.peek().text in _OPENERS:
                self.skip_group()
            else:
                self.advance()

    # -- grammar -------------------------------------------------------------------------------

    def parse(self) -> syn.Node:
        """The whole filter."""
        first = self.peek()
        if first.kind is Kind.EOF:
            self.error("empty filter: expected an expression", first.span, "expression")
            return syn.Bad(first.span)
        tree = self.guarded(lambda: self.expression(0), first)
        if self.peek().kind is Kind.EOF:
            return tree
        # Text after a complete expression: report it, and keep what follows as fragments that
        # are checked for errors of their own.
        parts = [tree]
        while self.peek().kind is not Kind.EOF:
            token = self.peek()
            if token.kind is Kind.OP and token.text in (";", ")", "]", "}"):
                if token.text == ";":
                    self.error("';' is not allowed: a filter is a single expression", token.span)
                else:
                    self.error(f"unmatched '{token.text}'", token.span)
                self.advance()
                if token.text == ";" and self.starts_expression(self.peek()):
                    parts.append(self.guarded(lambda: self.expression(0), token))
                else:
                    extend = functools.partial(self.extend, syn.Bad(token.span), 0)
                    parts.append(self.guarded(extend, token))
                continue
            self.error(
                f"expected an operator or the end of the filter, found {token.describe()}",
                token.span,
                "operator",
            )
            if self.starts_expression(token):
                parts.append(self.guarded(lambda: self.expression(0), token))
            else:
                self.advance()
        return syn.Bad(tree.span.cover(self.peek().span), tuple(parts))

    def guarded(self, parse: Callable[[], syn.Node], start: Token) -> syn.Node:
        """``parse()``, or a Bad node after reporting that the text nests too deeply."""
        try:
            return parse()
        except _TooDeep as exc:
            self.error(too_deep(self.max_depth + 1, self.max_depth), exc.token.span)
            self.pos = len(self.tokens) - 1
            return syn.Bad(start.span)

    def starts_expression(self, token: Token) -> bool:
        if token.kind in (Kind.NUMBER, Kind.STRING):
            return True
        if token.kind is Kind.NAME:
            return token.text not in ("and", "or") and token.text not in PYTHON_KEYWORDS
        return token.text in ("(", "-")

    def expression(self, min_bp: int) -> syn.Node:
        """An expression whose infix operators all bind tighter than ``min_bp``."""
        self.nesting += 1
        if self.nesting > self.max_depth:
            raise _TooDeep(self.peek())
        try:
            return self.extend(self.prefix(), min_bp)
        finally:
            self.nesting -= 1

    def extend(self, left: syn.Node, min_bp: int) -> syn.Node:
        """``left`` with the operators that follow it and bind tighter than ``min_bp``."""
        while True:
            grown = self.infix(left, min_bp)
            if grown is None:
                return left
            left = grown

    def infix(self, left: syn.Node, min_bp: int) -> syn.Node | None:
        """``left`` extended by one infix or postfix operator, or None when none follows."""
        token = self.peek()
        text = token.text if token.kind in (Kind.OP, Kind.NAME) else ""
        if token.kind is Kind.OP and text in ("(", "[", "."):
            return self.postfix(left)
        if text in ("or", "and"):
            bp = OR if text == "or" else AND
            return self.bool_op(left, text, bp) if bp > min_bp else None
        if token.kind is Kind.OP and text in COMPARISONS:
            return self.chain(left) if min_bp < CMP else None
        if token.kind is Kind.OP and text in ("+", "-", "*", "/"):
            bp = ADD if text in ("+", "-") else MUL
            if bp <= min_bp:
                return None
            self.advance()
            right = self.expression(bp)
            op: Literal["+", "-", "*", "/"] = token.text  # type: ignore[assignment]
            return syn.Binary(op, left, right, left.span.cover(right.span))
        if token.kind is Kind.OP and text in _SUBSTITUTES:
            bp, replacement, _ = _SUBSTITUTES[text]
            if bp <= min_bp:
                return None
            if replacement in ("and", "or"):
                return self.bool_op(left, replacement, bp)
            return self.chain(left)
        if token.kind is Kind.OP and text in _UNSUPPORTED_INFIX:
            bp = _UNSUPPORTED_INFIX[text]
            if bp <= min_bp:
                return None
            self.advance()
            self.error(f"operator '{text}' is not supported", token.span, "+, -, * or /")
            right = self.expression(bp)
            return syn.Bad(left.span.cover(right.span), (left, right))
        if token.kind is Kind.NAME and text in PYTHON_KEYWORDS:
            self.advance()
            self.keyword_error(token)
            self.synchronize()
            return syn.Bad(self.span_from(left.span), (left,))
        return None

    def bool_op(self, first: syn.Node, text: str, bp: int) -> syn.Node:
        op: Literal["and", "or"] = "and" if text == "and" else "or"
        operands = [first]
        while self.peek().kind in (Kind.NAME, Kind.OP) and self.peek().text in _SPELLINGS[op]:
            token = self.advance()
            if token.text != op:
                hint = _SUBSTITUTES[token.text][2]
                self.error(f"'{token.text}' is not supported: {hint}", token.span, op)
            operands.append(self.expression(bp))
        return syn.BoolOp(op, tuple(operands), first.span.cover(operands[-1].span))

    def chain(self, first: syn.Node) -> syn.Node:
        ops: list[str] = []
        operands = [first]
        while self.peek().kind is Kind.OP and self.peek().text in _SPELLINGS["compare"]:
            token = self.advance()
            if token.text in _SUBSTITUTES:
                _, replacement, hint = _SUBSTITUTES[token.text]
                self.error(f"'{token.text}' is not supported: {hint}", token.span, replacement)
                ops.append(replacement)
            else:
                ops.append(token.text)
            operands.append(self.expression(CMP))
        return syn.Chain(tuple(ops), tuple(operands), first.span.cover(operands[-1].span))

    def keyword_error(self, token: Token) -> None:
        hint = _KEYWORD_HINTS.get(token.text, "filters are expressions, not Python code")
        self.error(f"'{token.text}' is a Python keyword: {hint}", token.span)

    def prefix(self) -> syn.Node:
        token = self.peek()
        if token.kind is Kind.NUMBER:
            self.advance()
            return syn.Number(token.value, token.text, token.span)
        if token.kind is Kind.STRING:
            self.advance()
            return syn.String(token.string, token.span)
        if token.kind is Kind.NAME:
            return self.prefix_name(token)
        if token.kind is Kind.OP:
            return self.prefix_operator(token)
        self.error("expected an expression, found end of input", token.span, "expression")
        return syn.Bad(token.span)

    def prefix_name(self, token: Token) -> syn.Node:
        if token.text in ("true", "false"):
            self.advance()
            return syn.Bool(token.text == "true", token.span)
        if token.text == "not":
            self.advance()
            operand = self.expression(NOT)
            return syn.Unary("not", operand, token.span.cover(operand.span))
        if token.text in ("and", "or"):
            self.error(f"expected an expression, found '{token.text}'", token.span, "expression")
            return syn.Bad(token.span)
        if token.text in PYTHON_KEYWORDS:
            self.advance()
            self.keyword_error(token)
            self.synchronize()
            return syn.Bad(self.span_from(token.span))
        self.advance()
        return syn.Name(token.text, token.span)

    def prefix_operator(self, token: Token) -> syn.Node:
        text = token.text
        if text == "(":
            return self.parenthesized()
        if text in ("-", "!", "+", "~"):
            self.advance()
            if text != "-":
                hint = "use 'not'" if text == "!" else "use '-' or nothing"
                self.error(f"unary '{text}' is not supported: {hint}", token.span)
            operand = self.expression(NOT if text == "!" else UNARY)
            op: Literal["-", "not"] = "not" if text == "!" else "-"
            span = token.span.cover(operand.span)
            return operand if text in ("+", "~") else syn.Unary(op, operand, span)
        if text in ("[", "{"):
            what = "lists and comprehensions" if text == "[" else "dicts and sets"
            self.error(f"{what} are not allowed", token.span, "expression")
            self.skip_group()
            return syn.Bad(self.span_from(token.span))
        self.error(f"expected an expression, found {token.describe()}", token.span, "expression")
        if text not in (")", "]", "}", ","):
            self.advance()
        return syn.Bad(token.span)

    def parenthesized(self) -> syn.Node:
        open_token = self.advance()
        inner = self.expression(0)
        if self.at(","):
            self.error("tuples are not allowed", self.peek().span, "')'")
            self.synchronize((")",))
        self.expect_closer(")", open_token)
        return syn.with_span(inner, self.span_from(open_token.span))

    def expect_closer(self, closer: str, opener: Token) -> None:
        if self.at(closer):
            self.advance()
            return
        token = self.peek()
        if token.kind is Kind.EOF and any(d.span == token.span for d in self.diagnostics):
            return  # one complaint about an abrupt end is enough
        where = f"{opener.span.line}:{opener.span.col}"
        self.error(
            f"expected '{closer}' to close '{opener.text}' at {where}, found {token.describe()}",
            token.span,
            f"'{closer}'",
        )
        self.synchronize((closer,))
        if self.at(closer):
            self.advance()

    def postfix(self, left: syn.Node) -> syn.Node:
        token = self.peek()
        if token.text == "(":
            return self.call(left)
        if token.text == "[":
            return self.subscript(left)
        self.advance()
        name = self.peek()
        if name.kind is not Kind.NAME:
            self.error(f"expected a field name after '.', found {name.describe()}", name.span)
            return syn.Bad(self.span_from(left.span))
        self.advance()
        return syn.Field(left, name.text, name.span, left.span.cover(name.span))

    def subscript(self, left: syn.Node) -> syn.Node:
        open_token = self.advance()
        if self.at("]"):
            self.error("expected a number of bars inside '[]'", self.peek().span, "integer")
            self.advance()
            return syn.Bad(self.span_from(left.span))
        index = self.expression(0)
        if self.at(":") or self.at(","):
            what = "slices are" if self.at(":") else "several indices are"
            self.error(f"{what} not allowed: write x[n] for n bars ago", self.peek().span)
            self.synchronize(("]",))
            index = syn.Bad(index.span)
        self.expect_closer("]", open_token)
        return syn.Index(left, index, self.span_from(left.span))

    def call(self, callee: syn.Node) -> syn.Node:
        open_token = self.advance()
        args: list[syn.Arg] = []
        while not self.at(")") and self.peek().kind is not Kind.EOF:
            args.append(self.argument())
            if self.at(","):
                self.advance()
            elif not self.at(")") and self.peek().kind is not Kind.EOF:
                token = self.peek()
                self.error(
                    f"expected ',' or ')' in the arguments, found {token.describe()}",
                    token.span,
                    "',' or ')'",
                )
                self.synchronize((",", ")"))
                if self.at(","):
                    self.advance()
        self.expect_closer(")", open_token)
        span = self.span_from(callee.span)
        # A parenthesised name, ``(ema)(5)``, has a span wider than the name itself.
        if not isinstance(callee, syn.Name) or callee.span.end - callee.span.start != len(
            callee.name
        ):
            self.error("only named functions can be called", open_token.span)
            return callee  # still checked, for its own errors
        return syn.CallSyntax(callee.name, callee.span, tuple(args), span)

    def argument(self) -> syn.Arg:
        token = self.peek()
        if token.kind is Kind.NAME and self.at("=", 1):
            self.advance()
            self.advance()
            value = self.expression(0)
            return syn.Arg(token.text, token.span, value, token.span.cover(value.span))
        if token.kind is Kind.OP and token.text in ("*", "**"):
            self.error(f"'{token.text}' unpacking is not allowed", token.span, "expression")
            self.advance()
        value = self.expression(0)
        return syn.Arg(None, None, value, value.span)


def parse(source: str, max_depth: int = 64) -> tuple[syn.Node, list[Diagnostic]]:
    """The parse tree of ``source`` and the syntax errors found (empty if there are none).

    The parser recurses once per level of nesting: deeper than ``max_depth`` (at most
    :data:`kernels.lang.budget.DEPTH_CEILING`) it stops and reports where.
    """
    parser = _Parser(source, max_depth)
    tree = parser.parse()
    return tree, parser.diagnostics
