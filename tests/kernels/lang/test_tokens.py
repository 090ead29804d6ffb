"""The tokenizer: token kinds, spans over several lines, comments, bad characters."""

from __future__ import annotations

import pytest

from kernels.lang.errors import Diagnostic, SourceMap
from kernels.lang.tokens import Kind, Token, tokenize


def lex(source: str) -> tuple[list[Token], list[Diagnostic]]:
    diagnostics: list[Diagnostic] = []
    return tokenize(source, SourceMap(source), diagnostics), diagnostics


def test_kinds_and_texts() -> None:
    tokens, diagnostics = lex('rsi(14) <= 3.5e2 and on("1h", x[2]) != .5')
    assert diagnostics == []
    assert [(t.kind, t.text) for t in tokens] == [
        (Kind.NAME, "rsi"),
        (Kind.OP, "("),
        (Kind.NUMBER, "14"),
        (Kind.OP, ")"),
        (Kind.OP, "<="),
        (Kind.NUMBER, "3.5e2"),
        (Kind.NAME, "and"),
        (Kind.NAME, "on"),
        (Kind.OP, "("),
        (Kind.STRING, '"1h"'),
        (Kind.OP, ","),
        (Kind.NAME, "x"),
        (Kind.OP, "["),
        (Kind.NUMBER, "2"),
        (Kind.OP, "]"),
        (Kind.OP, ")"),
        (Kind.OP, "!="),
        (Kind.NUMBER, ".5"),
        (Kind.EOF, ""),
    ]
    assert tokens[5].value == 350.0
    assert tokens[9].string == "1h"


def test_comments_and_newlines_are_whitespace_and_spans_track_lines() -> None:
    tokens, diagnostics = lex("close  # the close\n\t> 1 # done\n")
    assert diagnostics == []
    assert [t.text for t in tokens] == ["close", ">", "1", ""]
    gt = tokens[1].span
    assert (gt.line, gt.col, gt.end_line, gt.end_col, gt.start) == (2, 2, 2, 3, 20)
    assert tokens[-1].span.line == 3


@pytest.mark.parametrize(
    ("source", "message", "col"),
    [
        ("close $ 1", "unexpected character '$'", 7),
        ("close > 1 ? 2", "unexpected character '?'", 11),
        ("0x1f > 1", "invalid number literal '0x1f'", 1),
        ("12abc", "invalid number literal '12abc'", 1),
        ("1.2.3", "invalid number literal '1.2.3'", 1),
        ("1e999 > 1", "number 1e999 is too large", 1),
        ('on("1h, close)', "unterminated string", 4),
        ("é > 1", "unexpected character 'é'", 1),
    ],
)
def test_lexical_errors(source: str, message: str, col: int) -> None:
    _, diagnostics = lex(source)
    assert [(d.message, d.span.col) for d in diagnostics] == [(message, col)]


def test_unsupported_operators_are_tokens() -> None:
    tokens, diagnostics = lex("a % b ** c && d ; e")
    assert diagnostics == []
    assert [t.text for t in tokens if t.kind is Kind.OP] == ["%", "**", "&&", ";"]
