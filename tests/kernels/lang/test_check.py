"""Every construct of the language checks to the expected typed AST."""

from __future__ import annotations

import pytest

from kernels.lang import CompileError, ast, check
from kernels.timeframes import TimeframeError

from .builders import (
    arith,
    call,
    compare,
    flag,
    lag,
    logic,
    neg,
    not_,
    num,
    on,
    series,
    ticker,
)


def expr(source: str, timeframe: str = "5m") -> ast.Expr:
    return check(source, timeframe=timeframe, require_bool=False).expr


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("14", num(14)),
        ("2.5e1", num(25)),
        (".5", num(0.5)),
        ("-3", num(-3)),
        ("true", flag(True)),
        ("false", flag(False)),
        ("close", series("close")),
        ("hlc3", series("hlc3")),
        ("taker_buy_volume", series("taker_buy_volume")),
        ("change_24h", ticker("change_24h")),
        ("close[3]", lag(series("close"), 3)),
        ("close[0]", series("close")),
        ("close[1][2]", lag(series("close"), 3)),
        ("(close[1])[2]", lag(series("close"), 3)),
        ("-close", neg(series("close"))),
        ("- -3", neg(num(-3))),
        ("-close[1]", neg(lag(series("close"), 1))),
        ("(-close)[1]", lag(neg(series("close")), 1)),
        ("not true", not_(flag(True))),
        ("1 + 2 * 3", arith("+", num(1), arith("*", num(2), num(3)))),
        ("(1 + 2) * 3", arith("*", arith("+", num(1), num(2)), num(3))),
        ("1 - 2 - 3", arith("-", arith("-", num(1), num(2)), num(3))),
        ("1 - (2 - 3)", arith("-", num(1), arith("-", num(2), num(3)))),
        ("-2 * close", arith("*", num(-2), series("close"))),
        ("close / -volume", arith("/", series("close"), neg(series("volume")))),
        ("close > open", compare(series("close"), ">", series("open"))),
        ("30 < rsi(14) < 70", compare(num(30), "<", call("rsi", 14), "<", num(70))),
        (
            "1 <= 2 == 3 != 4 >= 5",
            compare(num(1), "<=", num(2), "==", num(3), "!=", num(4), ">=", num(5)),
        ),
        ("true and false or true", logic("or", logic("and", flag(True), flag(False)), flag(True))),
        ("true or false and true", logic("or", flag(True), logic("and", flag(False), flag(True)))),
        ("true and (false and true)", logic("and", flag(True), flag(False), flag(True))),
        ("(true or false) or true", logic("or", flag(True), flag(False), flag(True))),
        (
            "(true or false) and true",
            logic("and", logic("or", flag(True), flag(False)), flag(True)),
        ),
        ("not 1 < 2 and true", logic("and", not_(compare(num(1), "<", num(2))), flag(True))),
        ("not not true", not_(not_(flag(True)))),
        ('on("1h", close)', on("1h", series("close"))),
        ('on("5m", close > 1)', on("5m", compare(series("close"), ">", num(1)))),
        ('on("1h", close)[2]', lag(on("1h", series("close")), 2)),
    ],
)
def test_constructs(source: str, expected: ast.Expr) -> None:
    assert expr(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("rsi(14)", call("rsi", 14)),
        ("rsi()", call("rsi", 14)),
        ("rsi(close, 14)", call("rsi", 14)),
        ("rsi(src=close, timeperiod=14)", call("rsi", 14)),
        ("rsi(timeperiod=7)", call("rsi", 7)),
        ("rsi(hl2)", call("rsi", 14, inputs=(series("hl2"),))),
        ("sma(rsi(14), 5)", call("sma", 5, inputs=(call("rsi", 14),))),
        ("ema(close * 2, 9)", call("ema", 9, inputs=(arith("*", series("close"), num(2)),))),
        ("sma(src=5)", call("sma", inputs=(num(5),))),
        ("wilder(3)", call("rma", 3)),
        ("stdev(10, 2)", call("stddev", 10, 2)),
        ("stddev(10, nbdev=1.5)", call("stddev", 10, 1.5)),
        ("bbands(20, 2).lower", call("bbands", 20, 2, field="lower")),
        ("bbands(20, 2.5).upper", call("bbands", 20, 2.5, field="upper")),
        ("macd(12, 26, 9).hist", call("macd", 12, 26, 9, field="hist")),
        ("macd().macdhist", call("macd", field="hist")),
        ("macd().macdsignal", call("macd", field="signal")),
        ("macd(hl2, 5, 10).macd", call("macd", 5, 10, inputs=(series("hl2"),), field="macd")),
        ("stoch(high, low, close, 14).slowd", call("stoch", 14, field="slowd")),
        (
            "stoch(hl2, low, ohlc4).slowk",
            call("stoch", inputs=(series("hl2"), series("low"), series("ohlc4")), field="slowk"),
        ),
        ("atr(14)", call("atr", 14)),
        ("atr(close=hlc3)", call("atr", inputs=(series("high"), series("low"), series("hlc3")))),
        ("obv()", call("obv")),
        (
            "obv(hl2, volume=quote_volume)",
            call("obv", inputs=(series("hl2"), series("quote_volume"))),
        ),
        ("vwap()", call("vwap", 0)),
        ("vwap(20)", call("vwap", 20)),
        ("trange()", call("trange")),
        ("highest(10)", call("highest", 10)),
        ("lowest(low, 10)", call("lowest", 10)),
        ("supertrend(3, 10).direction", call("supertrend", 3, 10, field="direction")),
        ("keltner(20, 1.5).middle", call("keltner", 20, 1.5, 10, field="middle")),
        ("donchian(55).upper", call("donchian", 55, field="upper")),
        ("crosses_above(rsi(14), 30)", call("crosses_above", inputs=(call("rsi", 14), num(30)))),
        ("crosses_below(30, close)", call("crosses_below", inputs=(num(30), series("close")))),
        ("rising(close)", call("rising", 1, inputs=(series("close"),))),
        ("falling(close, 3)", call("falling", 3, inputs=(series("close"),))),
        ("rising(src=close, length=3)", call("rising", 3, inputs=(series("close"),))),
        ("abs(change_24h)", call("abs", inputs=(ticker("change_24h"),))),
        ("max(price, 1)", call("max", inputs=(ticker("price"), num(1)))),
        ("min(close, open)", call("min", inputs=(series("close"), series("open")))),
        ("change()", call("change", 1)),
        ("change(5)", call("change", 5)),
        ("change(volume, 2)", call("change", 2, inputs=(series("volume"),))),
        ("sma(-1 * close, 5)", call("sma", 5, inputs=(arith("*", num(-1), series("close")),))),
        ("sum(close, timeperiod=5,)", call("sum", 5)),
    ],
)
def test_calls(source: str, expected: ast.Expr) -> None:
    assert expr(source) == expected


def test_types() -> None:
    assert expr("crosses_above(close, open)").type == "bool"
    assert expr("crosses_above(close, open)[1]").type == "bool"
    assert expr('on("1h", rising(close))').type == "bool"
    assert expr('on("1h", close)').type == "number"
    assert expr("macd().hist").type == "number"


def test_multi_line_filter_with_comments_and_clauses() -> None:
    source = """
        # oversold bounce
        rsi(14) < 30                        # oversold
        and crosses_above(close, ema(close, 50))
        and volume > 2 * sma(volume, 20)
        and on("1h", close > ema(close, 200))
        and change_24h > 3
    """
    checked = check(source)
    assert [c.label for c in checked.clauses] == [
        "rsi(14) < 30",
        "crosses_above(close, ema(50))",
        "volume > 2 * sma(volume, 20)",
        'on("1h", close > ema(200))',
        "change_24h > 3",
    ]
    assert checked.timeframes == frozenset({"5m", "1h"})
    assert checked.normalized == " and ".join(c.label for c in checked.clauses)
    assert checked.source == source
    assert isinstance(checked.expr, ast.Logic)
    assert checked.expr.operands == tuple(c.expr for c in checked.clauses)


def test_single_clause_and_or_at_the_top() -> None:
    checked = check("rsi(14) < 30 or rsi(14) > 70")
    assert len(checked.clauses) == 1
    assert checked.clauses[0].expr == checked.expr
    assert checked.timeframes == frozenset({"5m"})


def test_timeframes_collects_every_on() -> None:
    checked = check('on("1h", close > 1) and on("4h", close > 2) or on("1d", rising(close))')
    assert checked.timeframes == frozenset({"5m", "1h", "4h", "1d"})


def test_own_timeframe_decides_what_on_may_ask_for() -> None:
    assert check('on("1h", close > 1)', timeframe="1h").timeframes == frozenset({"1h"})
    with pytest.raises(CompileError):
        check('on("30m", close > 1)', timeframe="1h")
    assert check('on("1w", close > 1)', timeframe="1d").timeframes == frozenset({"1d", "1w"})


def test_unknown_own_timeframe_is_a_programming_error() -> None:
    with pytest.raises(TimeframeError):
        check("close > 1", timeframe="7m")


def test_number_expressions_need_require_bool_false() -> None:
    assert check("close - open", require_bool=False).expr == arith(
        "-", series("close"), series("open")
    )
    with pytest.raises(CompileError) as info:
        check("close - open")
    assert info.value.diagnostics[0].expected == "bool"


def test_spans_of_nodes() -> None:
    source = "1 +\n  sma(close[2], 5)"
    checked = check(source, require_bool=False).expr
    assert isinstance(checked, ast.Arith)
    right = checked.right
    assert isinstance(right, ast.Call)
    assert source[right.span.start : right.span.end] == "sma(close[2], 5)"
    assert (right.span.line, right.span.col) == (2, 3)
    assert source[right.inputs[0].span.start : right.inputs[0].span.end] == "close[2]"
    assert source[checked.span.start : checked.span.end] == source


def test_parenthesised_span_includes_parentheses() -> None:
    source = "(close + 1) * 2"
    checked = check(source, require_bool=False).expr
    assert isinstance(checked, ast.Arith)
    assert source[checked.left.span.start : checked.left.span.end] == "(close + 1)"


def test_default_inputs_point_at_the_function_name() -> None:
    source = "rsi(14) > 1"
    checked = check(source).expr
    assert isinstance(checked, ast.Compare)
    rsi = checked.operands[0]
    assert isinstance(rsi, ast.Call)
    assert source[rsi.inputs[0].span.start : rsi.inputs[0].span.end] == "rsi"


def test_walk_and_children() -> None:
    tree = expr("sma(close[1], 5) + -open")
    names = [type(n).__name__ for n in ast.walk(tree)]
    assert names == ["Arith", "Call", "Lag", "Series", "Neg", "Series"]
    assert ast.children(series("close")) == ()


def test_equality_ignores_spans_and_hash_agrees() -> None:
    a = expr("sma(close, 5)")
    b = expr("   sma(  5 )")
    assert a == b
    assert hash(a) == hash(b)
    assert a.span != b.span


def test_node_types_are_derived_when_not_given() -> None:
    cross = ast.Call("crosses_above", (series("close"), num(1)), (), None, span=series("x").span)
    assert cross.type == "bool"
    assert ast.Lag(cross, 2, span=cross.span).type == "bool"
    assert ast.On("1h", series("close"), span=cross.span).type == "number"
    assert ast.Lag(cross, 2, span=cross.span) == lag(cross, 2)
