"""The canonical printer: fewest parentheses, canonical names, explicit parameters."""

from __future__ import annotations

import pytest

from kernels.lang import check, to_source
from kernels.lang.signatures import format_number


@pytest.mark.parametrize(
    ("source", "canonical"),
    [
        ("((close))  >  (open)", "close > open"),
        ("(1 + 2) * 3 > 0", "(1 + 2) * 3 > 0"),
        ("1 + (2 * 3) > 0", "1 + 2 * 3 > 0"),
        ("1 - (2 - 3) > 0", "1 - (2 - 3) > 0"),
        ("1 + (2 + 3) > 0", "1 + (2 + 3) > 0"),
        ("(1 - 2) - 3 > 0", "1 - 2 - 3 > 0"),
        ("1 / (2 * 3) > 0", "1 / (2 * 3) > 0"),
        ("-(close + 1) > 0", "-(close + 1) > 0"),
        ("(-close)[2] > 0", "(-close)[2] > 0"),
        ("-(close[2]) > 0", "-close[2] > 0"),
        ("- - 2 > 0", "--2 > 0"),
        ("- -close > 0", "--close > 0"),
        ("close * -2 > 0", "close * -2 > 0"),
        ("-0 < close", "-0 < close"),
        ("(close + 1)[3] > 0", "(close + 1)[3] > 0"),
        ("close[1][2] > close[0]", "close[3] > close"),
        ("not (close > 1)", "not close > 1"),
        ("not (true and false)", "not (true and false)"),
        ("(true or false) and true", "(true or false) and true"),
        ("true or (false and true)", "true or false and true"),
        ("(true and false) and (true and true)", "true and false and true and true"),
        ("rsi(close, 14) < 30", "rsi(14) < 30"),
        ("rsi() < 30", "rsi(14) < 30"),
        ("wilder(close, 5) > 1", "rma(5) > 1"),
        ("stdev(close) > 1", "stddev(5, 1) > 1"),
        ("macd(close).macdhist > 0", "macd(12, 26, 9).hist > 0"),
        ("bbands(timeperiod=20, nbdev=2.5).lower > 1", "bbands(20, 2.5).lower > 1"),
        ("sma(src=hl2, timeperiod=5) > 1", "sma(hl2, 5) > 1"),
        ("sma(src=5) > 1", "sma(src=5, timeperiod=30) > 1"),
        ("obv(close, volume=3) > 1", "obv(src=close, volume=3) > 1"),
        ("crosses_above(30, rsi(14))", "crosses_above(30, rsi(14))"),
        ("rising(close)", "rising(close, 1)"),
        ("change() > 0", "change(1) > 0"),
        ("change(open) > 0", "change(open, 1) > 0"),
        ("atr(high, low, close, 14) > 1", "atr(14) > 1"),
        ("on('1h', close > ema(close, 200))", 'on("1h", close > ema(200))'),
        ("close > 1e-5", "close > 1e-05"),
        ("close > 2.50", "close > 2.5"),
        ("close > 1e20", "close > 1e+20"),
        ("close > 0.1", "close > 0.1"),
        ("1 < close < 2 == 3", "1 < close < 2 == 3"),
    ],
)
def test_canonical_text(source: str, canonical: str) -> None:
    checked = check(source)
    assert checked.normalized == canonical
    assert to_source(checked.expr) == canonical
    assert check(canonical).expr == checked.expr


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (14.0, "14"),
        (-3.0, "-3"),
        (0.0, "0"),
        (-0.0, "-0"),
        (2.5, "2.5"),
        (1e-5, "1e-05"),
        (1e16, "1e+16"),
        (123456789012345.0, "123456789012345"),
    ],
)
def test_format_number(value: float, text: str) -> None:
    assert format_number(value) == text
    assert float(text) == value
