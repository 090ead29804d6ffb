"""Python constructs that must never get through: each is a CompileError at the right place."""

from __future__ import annotations

import pytest

from kernels.lang import CompileError, check

from .builders import assert_reported


@pytest.mark.parametrize(
    ("source", "line", "col", "fragment"),
    [
        ('__import__("os")', 1, 1, "'__import__' is not allowed"),
        ('__import__("os").system("ls") > 1', 1, 1, "'__import__' is not allowed"),
        ("__builtins__ > 1", 1, 1, "'__builtins__' is not allowed"),
        ("_private > 1", 1, 1, "names starting with '_' are reserved"),
        ("close.__class__", 1, 7, "attribute '__class__' is not allowed"),
        ("rsi(14).__class__.__bases__ > 1", 1, 19, "attribute '__bases__' is not allowed"),
        ("close.real > 1", 1, 7, "attribute 'real' is not allowed"),
        ("(close).imag > 1", 1, 9, "attribute 'imag' is not allowed"),
        ("[x for x in y]", 1, 1, "lists and comprehensions are not allowed"),
        ("sum(x for x in close) > 1", 1, 7, "'for' is a Python keyword"),
        ("{1: 2}", 1, 1, "dicts and sets are not allowed"),
        ("(1, 2)", 1, 3, "tuples are not allowed"),
        ("lambda: 1", 1, 1, "lambda functions are not allowed"),
        ("(lambda x: x)(close) > 1", 1, 2, "lambda functions are not allowed"),
        ("close if true else open", 1, 7, "conditional expressions are not allowed"),
        ("import os", 1, 1, "'import' is a Python keyword"),
        ("def f(): pass", 1, 1, "'def' is a Python keyword"),
        ("close is open", 1, 7, "the 'is' operator is not supported"),
        ("1 in close", 1, 3, "the 'in' operator is not supported"),
        ("yield close", 1, 1, "'yield' is a Python keyword"),
        ("close[1.5] > 1", 1, 7, "whole number of bars"),
        ("close[-1] > 1", 1, 7, "must not be negative"),
        ('close["a"] > 1', 1, 7, "found a string"),
        ("close[0:5] > 1", 1, 8, "slices are not allowed"),
        ("close[::2] > 1", 1, 7, "expected an expression, found ':'"),
        ('close > "1"', 1, 9, "a string is only allowed as the timeframe of on"),
        ('sma("close", 5) > 1', 1, 5, "a string is only allowed as the timeframe of on"),
        ('f"{close}" > 1', 1, 2, "expected an operator or the end of the filter, found string"),
        ("x := 1", 1, 3, "':=' "),
        ("close = 1", 1, 7, "assignment is not allowed; use '=='"),
        ("close > 1; close < 2", 1, 10, "';' is not allowed"),
        ("close ** 2 > 1", 1, 7, "operator '**' is not supported"),
        ("close % 2 > 1", 1, 7, "operator '%' is not supported"),
        ("close // 2 > 1", 1, 7, "operator '//' is not supported"),
        ("close @ open > 1", 1, 7, "operator '@' is not supported"),
        ("close > 1 & true", 1, 11, "'&' is not supported: use 'and'"),
        ("close > 1 || true", 1, 11, "'||' is not supported: use 'or'"),
        ("!rising(close)", 1, 1, "unary '!' is not supported: use 'not'"),
        ("~close > 1", 1, 1, "unary '~' is not supported"),
        ("+close > 1", 1, 1, "unary '+' is not supported"),
        ("sma(*close) > 1", 1, 5, "'*' unpacking is not allowed"),
        ("sma(**close) > 1", 1, 5, "'**' unpacking is not allowed"),
        ('exec("x")', 1, 1, "unknown function 'exec'"),
        ('eval("1") > 0', 1, 1, "unknown function 'eval'"),
        ('open("/etc/passwd") > 1', 1, 1, "open is not a function"),
        ('getattr(close, "x") > 1', 1, 1, "unknown function 'getattr'"),
        ("(ema)(5) > 1", 1, 6, "only named functions can be called"),
        ("rsi(14)(2) > 1", 1, 8, "only named functions can be called"),
        ("None", 1, 1, "unknown name 'None'"),
        ("close\\\n > 1", 1, 6, "unexpected character '\\'"),
        ("close > 1 `x`", 1, 11, "unexpected character '`'"),
        ("close > 1 and $", 1, 15, "unexpected character '$'"),
    ],
)
def test_forbidden(source: str, line: int, col: int, fragment: str) -> None:
    assert_reported(source, line, col, fragment)


def test_deep_nesting_is_a_compile_error_not_a_crash() -> None:
    for source in ("(" * 2000 + "close" + ")" * 2000, "-" * 4000 + "close", "not " * 1000 + "true"):
        with pytest.raises(CompileError, match=r"too deeply nested \(depth 65 > 64\)"):
            check(source)


def test_long_flat_chains_are_a_compile_error_not_a_crash() -> None:
    with pytest.raises(CompileError, match=r"too deeply nested \(depth 65 > 64\)"):
        check(" + ".join(["close"] * 500) + " > 1")


def test_long_and_chains_are_fine() -> None:
    checked = check(" and ".join(f"close > {i}" for i in range(200)))
    assert len(checked.clauses) == 200
