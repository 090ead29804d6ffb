"""The tokenizer of the filter language.

Newlines are ordinary whitespace (a filter is one expression that may span lines) and ``#`` starts
a comment that runs to the end of the line. Besides the language's own tokens it recognises the
operators a Python user may reach for (``%``, ``**``, ``&&``, ``;`` ...) so that the parser can say
precisely that they are not supported; any other character is reported and skipped.
"""

from __future__ import annotations

import enum
import math
import re

import attrs

from kernels.lang.errors import Diagnostic, SourceMap, Span, quoted


class Kind(enum.Enum):
    """Token kinds."""

    NAME = "name"
    NUMBER = "number"
    STRING = "string"
    OP = "operator"
    EOF = "end of input"


@attrs.frozen
class Token:
    """One token: ``text`` is its exact source text, ``value`` a number literal's value and
    ``string`` a string literal's contents."""

    kind: Kind
    text: str
    span: Span
    value: float = 0.0
    string: str = ""

    def describe(self) -> str:
        """How a message names this token: ``end of input``, ``number 1.5``, ``'%'``."""
        if self.kind is Kind.EOF:
            return "end of input"
        if self.kind is Kind.OP:
            return f"'{self.text}'"
        return f"{self.kind.value} {quoted(self.text)}"


#: Operators of the language.
OPERATORS = (
    "(",
    ")",
    "[",
    "]",
    ",",
    ".",
    "+",
    "-",
    "*",
    "/",
    "<",
    "<=",
    ">",
    ">=",
    "==",
    "!=",
    "=",
)

#: Operators that are tokens only so that they can be rejected with a precise message.
UNSUPPORTED = (
    "%",
    "**",
    "//",
    "&",
    "&&",
    "|",
    "||",
    "^",
    "~",
    "<<",
    ">>",
    "@",
    ":",
    ":=",
    ";",
    "{",
    "}",
    "!",
    "->",
    "<>",
    "+=",
    "-=",
    "*=",
    "/=",
)

_OPERATOR_RE = re.compile(
    "|".join(re.escape(op) for op in sorted(OPERATORS + UNSUPPORTED, key=len, reverse=True))
)
_NUMBER_RE = re.compile(r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WORD_TAIL_RE = re.compile(r"[A-Za-z0-9_.]*")
_DIGITS = frozenset("0123456789")
_SPACE_RE = re.compile(r"(?:[ \t\r\n\f]+|#[^\n]*)+")


def tokenize(source: str, smap: SourceMap, diagnostics: list[Diagnostic]) -> list[Token]:
    """The tokens of ``source``, ending with an EOF token; problems go to ``diagnostics``."""
    tokens: list[Token] = []
    pos = 0
    n = len(source)
    while True:
        space = _SPACE_RE.match(source, pos)
        if space:
            pos = space.end()
        if pos >= n:
            tokens.append(Token(Kind.EOF, "", smap.span(n, n)))
            return tokens
        ch = source[pos]
        if ch in _DIGITS or (ch == "." and source[pos + 1 : pos + 2] in _DIGITS):
            pos = _number(source, pos, smap, tokens, diagnostics)
        elif ch.isascii() and (ch.isalpha() or ch == "_"):
            match = _NAME_RE.match(source, pos)
            assert match is not None
            tokens.append(Token(Kind.NAME, match.group(), smap.span(pos, match.end())))
            pos = match.end()
        elif ch in "\"'":
            pos = _string(source, pos, smap, tokens, diagnostics)
        elif op := _OPERATOR_RE.match(source, pos):
            tokens.append(Token(Kind.OP, op.group(), smap.span(pos, op.end())))
            pos = op.end()
        else:
            shown = ch if ch.isprintable() else repr(ch)
            diagnostics.append(
                Diagnostic(f"unexpected character '{shown}'", smap.span(pos, pos + 1))
            )
            pos += 1


def _number(
    source: str, pos: int, smap: SourceMap, tokens: list[Token], diagnostics: list[Diagnostic]
) -> int:
    match = _NUMBER_RE.match(source, pos)
    assert match is not None
    end = match.end()
    # ``12abc``, ``0x1f``, ``1.2.3``, ``5.hist``: one bad literal, not a number and a name.
    tail = _WORD_TAIL_RE.match(source, end)
    assert tail is not None
    if tail.end() > end:
        span = smap.span(pos, tail.end())
        diagnostics.append(
            Diagnostic(f"invalid number literal '{quoted(span_text(source, span))}'", span)
        )
        tokens.append(Token(Kind.NUMBER, source[pos : tail.end()], span, 0.0))
        return tail.end()
    span = smap.span(pos, end)
    value = float(match.group())
    if not math.isfinite(value):
        diagnostics.append(Diagnostic(f"number {quoted(match.group())} is too large", span))
        value = 0.0
    tokens.append(Token(Kind.NUMBER, match.group(), span, value))
    return end


def _string(
    source: str, pos: int, smap: SourceMap, tokens: list[Token], diagnostics: list[Diagnostic]
) -> int:
    quote = source[pos]
    end = pos + 1
    while end < len(source) and source[end] not in (quote, "\n"):
        end += 1
    if end >= len(source) or source[end] != quote:
        span = smap.span(pos, end)
        diagnostics.append(Diagnostic("unterminated string", span, expected=quote))
        tokens.append(Token(Kind.STRING, source[pos:end], span, string=source[pos + 1 : end]))
        return end
    span = smap.span(pos, end + 1)
    tokens.append(Token(Kind.STRING, source[pos : end + 1], span, string=source[pos + 1 : end]))
    return end + 1


def span_text(source: str, span: Span) -> str:
    """The source text a span covers."""
    return source[span.start : span.end]
