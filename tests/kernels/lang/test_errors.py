"""Every kind of error, where it is reported, and how it is rendered."""

from __future__ import annotations

import pytest

from kernels.lang import CompileError, check
from kernels.lang.errors import Diagnostic, Span, did_you_mean

from .builders import assert_reported


def diagnostics(source: str) -> list[Diagnostic]:
    with pytest.raises(CompileError) as info:
        check(source)
    return list(info.value.diagnostics)


def positions(source: str) -> list[tuple[int, int]]:
    return [(d.span.line, d.span.col) for d in diagnostics(source)]


def only(source: str) -> Diagnostic:
    found = diagnostics(source)
    assert len(found) == 1, [d.message for d in found]
    return found[0]


@pytest.mark.parametrize(
    ("source", "line", "col", "fragment"),
    [
        # syntax
        ("", 1, 1, "empty filter"),
        ("   # only a comment\n", 2, 1, "empty filter"),
        ("close >", 1, 8, "expected an expression, found end of input"),
        ("close > > 1", 1, 9, "expected an expression, found '>'"),
        ("(close > 1", 1, 11, "expected ')' to close '(' at 1:1"),
        ("sma(close, 5 > 1", 1, 17, "expected ')' to close '(' at 1:4"),
        ("close > 1)", 1, 10, "unmatched ')'"),
        ("close > 1 open", 1, 11, "expected an operator or the end of the filter, found name open"),
        ("sma(close 5) > 1", 1, 11, "expected ',' or ')' in the arguments, found number 5"),
        ("close.", 1, 7, "expected a field name after '.'"),
        ("close[] > 1", 1, 7, "expected a number of bars inside '[]'"),
        ("close > 1 and", 1, 14, "expected an expression, found end of input"),
        ("and close > 1", 1, 1, "expected an expression, found 'and'"),
        # names
        ("clse > 1", 1, 1, "unknown name 'clse'; did you mean close?"),
        ("emaa(20) > 1", 1, 1, "unknown function 'emaa'; did you mean ema?"),
        ("close > True", 1, 9, "unknown name 'True'; did you mean true?"),
        ("RSI(14) < 30", 1, 1, "unknown function 'RSI'; did you mean rsi?"),
        ("ema > 1", 1, 1, "ema is a function: call it"),
        ("on > 1", 1, 1, "on is a function: call it"),
        ("close(5) > 1", 1, 1, "close is not a function; write close[n]"),
        # types
        ("close + true > 1", 1, 9, "expected a number on the right of '+', found a bool: true"),
        ("rising(close) * 2 > 1", 1, 1, "expected a number on the left of '*', found a bool"),
        ("-rising(close)", 1, 2, "expected a number after '-', found a bool"),
        ("not close", 1, 5, "expected a bool after 'not', found a number: close"),
        ("close and true", 1, 1, "expected a bool as an operand of 'and', found a number"),
        ("rising(close) < 1", 1, 1, "expected a number in a comparison ('<'), found a bool"),
        ("sma(rising(close), 5) > 1", 1, 5, "expected a number for input 'src' of sma"),
        ("close + 1", 1, 1, "expected a bool for the whole filter (a condition), found a number"),
        ("close == true", 1, 10, "expected a number in a comparison"),
        # calls
        ("rsi(1) < 30", 1, 5, "parameter 'timeperiod' of rsi must be between 2 and 1000, found 1"),
        ("rsi(1001) < 30", 1, 5, "must be between 2 and 1000, found 1001"),
        (
            "rsi(14.5) < 30",
            1,
            5,
            "parameter 'timeperiod' of rsi must be a whole number, found 14.5",
        ),
        ("rsi(-14) < 30", 1, 5, "must be between 2 and 1000, found -14"),
        (
            "rsi(close, close) < 30",
            1,
            12,
            "parameter 'timeperiod' of rsi must be a number literal, found 'close'",
        ),
        ("rsi(close, 7 * 2) < 30", 1, 12, "must be a number literal, found an expression"),
        ('rsi(close, "14") < 30', 1, 12, "must be a number literal, found a string"),
        (
            "rsi(14, 2) < 30",
            1,
            9,
            "too many arguments: rsi(src=close, timeperiod=14) takes at most 2",
        ),
        ("rsi(period=14) < 30", 1, 5, "rsi has no argument 'period'"),
        (
            "bbands(20, nbdevup=2).upper > 1",
            1,
            12,
            "bbands has no argument 'nbdevup'; did you mean nbdev?",
        ),
        ("rsi(14, timeperiod=3) < 30", 1, 9, "argument 'timeperiod' given twice"),
        ("rsi(timeperiod=3, timeperiod=4) < 30", 1, 19, "argument 'timeperiod' given twice"),
        ("rsi(timeperiod=3, close) < 30", 1, 19, "positional argument after keyword arguments"),
        (
            "atr(close, 14) > 1",
            1,
            1,
            "atr takes its series inputs (high, low, close) all or none; found 1",
        ),
        ("crosses_above(close) ", 1, 1, "missing argument 'b' of crosses_above(a, b)"),
        ("bbands(0.5, 2).upper > 1", 1, 8, "must be a whole number, found 0.5"),
        (
            "bbands(20, 0).upper > 1",
            1,
            12,
            "parameter 'nbdev' of bbands must be between 0.001 and 100, found 0",
        ),
        # fields
        (
            "macd(12, 26, 9) > 0",
            1,
            1,
            "macd has several outputs: pick one of .macd, .signal, .hist",
        ),
        ("rsi(14).value > 0", 1, 9, "rsi has a single output: it has no field 'value'"),
        ("macd().histo > 0", 1, 8, "macd has no field 'histo'; did you mean hist?"),
        ("macd()[1].hist > 0", 1, 11, "attribute 'hist' is not allowed"),
        ('on("1h", macd()).hist > 0', 1, 18, "a field goes on the indicator inside on()"),
        # lookback
        ("close[1.5] > 1", 1, 7, "lookback must be a whole number of bars, found 1.5"),
        ("close[-1] > 1", 1, 7, "lookback must not be negative"),
        ('close["a"] > 1', 1, 7, "lookback must be a whole number literal of bars, found a string"),
        ("close[n] > 1", 1, 7, "found 'n'"),
        ("close[1+1] > 1", 1, 7, "found an expression"),
        ("close[1001] > 1", 1, 7, "lookback too long: 1001 bars (at most 1000)"),
        ("close[600][600] > 1", 1, 1, "lookback too long: 1200 bars in all"),
        ("close > 1[1]", 1, 9, "a lookback needs a series, found a constant"),
        ("close[1:2] > 1", 1, 8, "slices are not allowed"),
        ("close[1, 2] > 1", 1, 8, "several indices are not allowed"),
        # ticker fields
        ("price[1] > 1", 1, 1, "ticker field 'price' is a live value without history"),
        ("sma(price, 5) > 1", 1, 5, "cannot be used in sma()"),
        ("crosses_above(price, 5)", 1, 15, "cannot be used in crosses_above()"),
        # on
        ('on("1m", close > 1)', 1, 4, "timeframe '1m' is shorter than the trader's own (5m)"),
        ('on("1H", close > 1)', 1, 4, "unknown timeframe '1H'; did you mean 1h?"),
        ('on("2d", close > 1)', 1, 4, "expected one of 1m, 3m, 5m"),
        ("on(1, close > 1)", 1, 4, "the first argument of on() is a timeframe string"),
        ('on("1h") ', 1, 1, "on takes a timeframe and an expression"),
        ('on("1h", close > 1, 2)', 1, 1, "found 3 arguments"),
        ('on(tf="1h", x=close > 1)', 1, 1, "on takes a timeframe and an expression"),
        ('on("1h", on("4h", close > 1))', 1, 10, "on() cannot be nested"),
        ('on("1h", sma(on("4h", close), 5) > 1)', 1, 14, "on() cannot be nested"),
        ('"1h" == close', 1, 1, "a string is only allowed as the timeframe of on"),
    ],
)
def test_error_position_and_message(source: str, line: int, col: int, fragment: str) -> None:
    assert_reported(source, line, col, fragment)


def test_errors_on_later_lines() -> None:
    source = "rsi(14) < 30\n  and clse > 1\n\tand rsi(1) > 2"
    assert [(d.span.line, d.span.col, d.message.split(";")[0]) for d in diagnostics(source)] == [
        (2, 7, "unknown name 'clse'"),
        (3, 10, "parameter 'timeperiod' of rsi must be between 2 and 1000, found 1"),
    ]


def test_every_unknown_name_and_bad_clause_is_reported() -> None:
    source = (
        "rsi(1) < 30 and clse > emaa(20) and macd() > 0 and close[-1] > 1 "
        'and on("1x", close > 1) and price[2] > 1 and close + true > 1'
    )
    messages = [d.message for d in diagnostics(source)]
    assert len(messages) == 8, messages
    for fragment in (
        "between 2 and 1000",
        "unknown name 'clse'",
        "unknown function 'emaa'",
        "several outputs",
        "must not be negative",
        "unknown timeframe '1x'",
        "ticker field 'price'",
        "found a bool: true",
    ):
        assert any(fragment in m for m in messages), fragment


def test_syntax_and_name_errors_together() -> None:
    found = diagnostics("clse > 1 && volume > 2 % 3 and foo(bar)")
    assert [(d.span.col, d.message.split(";")[0].split(":")[0]) for d in found] == [
        (1, "unknown name 'clse'"),
        (10, "'&&' is not supported"),
        (24, "operator '%' is not supported"),
        (32, "unknown function 'foo'"),
        (36, "unknown name 'bar'"),
    ]


def test_unknown_function_arguments_are_checked_too() -> None:
    found = diagnostics("fooo(clse, rsi(1)) > 1")
    assert [d.span.col for d in found] == [1, 6, 16]


def test_errors_are_not_repeated_by_enclosing_operators() -> None:
    assert len(diagnostics("-(clse + 1) * 2 > 3 and not (clse > 1)")) == 2


def test_diagnostics_are_in_source_order_and_unique() -> None:
    found = diagnostics("a + b > c")
    assert [d.span.start for d in found] == sorted(d.span.start for d in found)
    assert len(set(found)) == len(found)


def test_expected_is_filled() -> None:
    assert only("rsi(1) < 3").expected == "2..1000"
    assert only("not close").expected == "bool"
    assert only("close[-1] > 1").expected == "0..1000"


def test_format_draws_a_caret_under_the_span() -> None:
    source = "rsi(14) < 30\n  and clse > 1"
    with pytest.raises(CompileError) as info:
        check(source)
    assert info.value.format(source) == (
        "2:7: unknown name 'clse'; did you mean close?\n      and clse > 1\n          ^~~~"
    )


def test_format_keeps_tabs_and_handles_end_of_input_and_multiple_errors() -> None:
    source = "\tclse > 1 and close >"
    with pytest.raises(CompileError) as info:
        check(source)
    assert info.value.format(source) == (
        "1:2: unknown name 'clse'; did you mean close?\n"
        "    \tclse > 1 and close >\n"
        "    \t^~~~\n"
        "1:22: expected an expression, found end of input\n"
        "    \tclse > 1 and close >\n"
        "    \t                    ^"
    )


def test_format_of_a_multi_line_span_marks_the_first_line() -> None:
    source = "close +\n  1"
    with pytest.raises(CompileError) as info:
        check(source)
    assert info.value.format(source).splitlines()[1:] == ["    close +", "    ^~~~~~~"]


def test_str_of_compile_error_lists_positions() -> None:
    with pytest.raises(CompileError, match=r"^1:1: unknown name 'clse'"):
        check("clse > 1")


def test_span_cover() -> None:
    a = Span(2, 4, 1, 3, 1, 5)
    b = Span(10, 12, 2, 1, 2, 3)
    assert a.cover(b) == b.cover(a) == Span(2, 12, 1, 3, 2, 3)


def test_did_you_mean() -> None:
    assert did_you_mean("emaa", ["ema", "sma", "close"]) == "; did you mean ema?"
    assert did_you_mean("zzz", ["ema", "sma"]) == ""
    assert did_you_mean("CLOSE", ["close"]) == "; did you mean close?"
    assert did_you_mean("stdevv", ["stdev", "stddev"]) == "; did you mean stdev or stddev?"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("close > 1) and clse > 2", [(10, "unmatched ')'"), (16, "unknown name 'clse'")]),
        (
            "close > 1)) + 2 > 3 and x",
            [(10, "unmatched ')'"), (11, "unmatched ')'"), (25, "unknown name 'x'")],
        ),
        (
            "clse > 1 2 + foo",
            [(1, "unknown name 'clse'"), (10, "expected an operator"), (14, "unknown name 'foo'")],
        ),
        ("clse % 2 > 1", [(1, "unknown name 'clse'"), (6, "operator '%' is not supported")]),
        ("clse if x else y", [(1, "unknown name 'clse'"), (6, "'if' is a Python keyword")]),
        ("close > 1; clse < 2", [(10, "';' is not allowed"), (12, "unknown name 'clse'")]),
    ],
)
def test_text_around_syntax_errors_is_still_checked(
    source: str, expected: list[tuple[int, str]]
) -> None:
    found = diagnostics(source)
    assert len(found) == len(expected), [d.message for d in found]
    for diagnostic, (col, fragment) in zip(found, expected, strict=True):
        assert diagnostic.span.col == col
        assert fragment in diagnostic.message
