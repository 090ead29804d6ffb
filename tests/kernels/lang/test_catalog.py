"""The function catalog is consistent, complete and documented."""

from __future__ import annotations

import pytest
import talib

import kernels.lang
from kernels.lang import check
from kernels.lang.catalog import (
    ALIASES,
    FUNCTIONS,
    KEYWORDS,
    SERIES,
    SPECIAL_FORMS,
    TICKER_FIELDS,
    candle_name,
    resolve,
    resolve_field,
)
from kernels.lang.parser import PYTHON_KEYWORDS

REQUIRED = (
    "sma",
    "ema",
    "wma",
    "dema",
    "tema",
    "trima",
    "rma",
    "hma",
    "vwma",
    "rsi",
    "stoch",
    "stochf",
    "stochrsi",
    "macd",
    "bbands",
    "atr",
    "natr",
    "trange",
    "adx",
    "plus_di",
    "minus_di",
    "cci",
    "mfi",
    "obv",
    "vwap",
    "roc",
    "mom",
    "willr",
    "stddev",
    "highest",
    "lowest",
    "sum",
    "zscore",
    "keltner",
    "donchian",
    "supertrend",
    "crosses_above",
    "crosses_below",
    "rising",
    "falling",
    "abs",
    "min",
    "max",
    "change",
    # issue 16's vocabulary
    "pvi",
    "nvi",
    "vwap_bands",
    "divergence",
    "rsi_divergence",
    "hvn_near",
    "hvn_above",
    "hvn_below",
    *(candle_name(n) for n in talib.get_function_groups()["Pattern Recognition"]),
)


def test_every_required_function_is_there() -> None:
    assert sorted(FUNCTIONS) == sorted(REQUIRED)
    assert sum(s.category == "indicator" for s in FUNCTIONS.values()) >= 30


def test_names_never_clash() -> None:
    names = [*FUNCTIONS, *ALIASES, *SERIES, *TICKER_FIELDS, *SPECIAL_FORMS, *KEYWORDS]
    assert len(names) == len(set(names))
    assert not set(names) & PYTHON_KEYWORDS
    assert all(name.isidentifier() and not name.startswith("_") for name in names)


@pytest.mark.parametrize("spec", FUNCTIONS.values(), ids=list(FUNCTIONS))
def test_spec_is_consistent(spec: kernels.lang.catalog.FunctionSpec) -> None:
    assert spec.reference
    assert spec.doc
    assert resolve(spec.name) is spec
    for alias in spec.aliases:
        assert resolve(alias) is spec
    argument_names = [i.name for i in spec.inputs] + [p.name for p in spec.params]
    assert len(argument_names) == len(set(argument_names))
    for spec_input in spec.inputs:
        assert spec_input.default is None or spec_input.default in SERIES
    for param in spec.params:
        assert param.min <= param.default <= param.max
        if param.kind == "int":
            assert all(v.is_integer() for v in (param.default, param.min, param.max))
    if spec.outputs is not None:
        assert len(spec.outputs) >= 2
        assert all(resolve_field(spec, f) == f for f in spec.outputs)
        assert all(target in spec.outputs for target in spec.field_aliases.values())
    else:
        assert not spec.field_aliases
    conditions = ("crosses_above", "crosses_below", "rising", "falling", "hvn_near")
    assert spec.result == ("bool" if spec.name in conditions else "number")


@pytest.mark.parametrize("spec", FUNCTIONS.values(), ids=list(FUNCTIONS))
def test_every_function_checks_with_its_defaults(spec: kernels.lang.catalog.FunctionSpec) -> None:
    args = ", ".join(f"{i.name}=close" for i in spec.inputs if i.default is None)
    field = f".{spec.outputs[-1]}" if spec.outputs else ""
    text = f"{spec.name}({args}){field}"
    condition = text if spec.result == "bool" else f"{text} > 0"
    checked = check(condition).expr
    call = checked if spec.result == "bool" else checked.operands[0]  # type: ignore[union-attr]
    assert call.params == tuple(p.default for p in spec.params)  # type: ignore[union-attr]


def test_talib_defaults() -> None:
    assert FUNCTIONS["macd"].signature == (
        "macd(src=close, fastperiod=12, slowperiod=26, signalperiod=9) -> macd, signal, hist"
    )
    assert FUNCTIONS["bbands"].signature == (
        "bbands(src=close, timeperiod=5, nbdev=2) -> upper, middle, lower"
    )
    assert FUNCTIONS["stoch"].signature == (
        "stoch(high=high, low=low, close=close, fastk_period=5, slowk_period=3, slowd_period=3)"
        " -> slowk, slowd"
    )
    assert FUNCTIONS["crosses_above"].signature == "crosses_above(a, b)"
    assert FUNCTIONS["sma"].params[0].default == 30
    assert FUNCTIONS["rsi"].params[0].default == 14


def test_the_grammar_documentation_names_every_function() -> None:
    doc = kernels.lang.__doc__ or ""
    for name in (*FUNCTIONS, *ALIASES, *SERIES, *TICKER_FIELDS):
        assert f"{name}" in doc, name
    for spec in FUNCTIONS.values():
        for field in spec.outputs or ():
            assert field in doc, (spec.name, field)


def test_ordered_parameters_are_checked_at_the_call() -> None:
    with pytest.raises(kernels.lang.CompileError) as err:
        check("close > 1 and divergence(close, rsi(14), 10, 10) > 0")
    assert str(err.value) == "1:15: divergence: min_sep (10) must be less than lookback (10)"
    check("rsi_divergence(14, 10, 9) != 0 and divergence(close, rsi(14), 10, 9) > 0")


def test_the_catalog_says_which_functions_need_a_window() -> None:
    windowed = {name for name, spec in FUNCTIONS.items() if spec.window is not None}
    assert windowed == {
        "divergence",
        "rsi_divergence",
        "hvn_near",
        "hvn_above",
        "hvn_below",
    }
