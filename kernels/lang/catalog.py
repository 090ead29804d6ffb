"""The functions of the filter language: signatures only (names, inputs, parameters, outputs).

Semantics live with the kernels; the shape of an entry is :mod:`kernels.lang.signatures`; this
catalog is what the checker needs to bind arguments, and
what documentation and error messages are generated from. Canonical names (the keys of
:data:`FUNCTIONS`) are stable: the plan builder lowers each function by its canonical name.

A function has *series inputs* (any number-typed expression; indicators give each a default
series, so ``rsi(14)`` is ``rsi(close, 14)``) and *parameters* (number literals of a kind and
range, all with defaults). ``outputs`` names the fields of a multi-output indicator, which must be
picked with ``.field``; single-output functions have ``outputs = None``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import attrs

from kernels.ind.candle_code import Pattern
from kernels.ind.candle_patterns import PATTERNS
from kernels.lang.signatures import ExprType, FunctionSpec, Input, Param

#: Price and volume series of a bar (``hl2 = (high+low)/2``, ``hlc3``, ``ohlc4`` likewise).
SERIES: tuple[str, ...] = (
    "open",
    "high",
    "low",
    "close",
    "volume",
    "quote_volume",
    "trades",
    "taker_buy_volume",
    "hl2",
    "hlc3",
    "ohlc4",
)

#: Fields of the Binance 24 h ticker: live snapshots without bar history.
TICKER_FIELDS: tuple[str, ...] = ("price", "change_24h", "quote_volume_24h")

#: Names with a grammar of their own: ``on("1h", expr)``.
SPECIAL_FORMS: tuple[str, ...] = ("on",)

#: Words of the language itself.
KEYWORDS: tuple[str, ...] = ("and", "or", "not", "true", "false")


def _int(name: str, default: int, low: int, high: int = 1000) -> Param:
    return Param(name, "int", float(default), float(low), float(high))


def _float(name: str, default: float, low: float = 0.001, high: float = 100.0) -> Param:
    return Param(name, "float", default, low, high)


_SRC = (Input("src", "close"),)
_HL = (Input("high", "high"), Input("low", "low"))
_HLC = (*_HL, Input("close", "close"))
_HLCV = (*_HLC, Input("volume", "volume"))
_BANDS = ("upper", "middle", "lower")


def _average(name: str, reference: str, doc: str, default: int = 30, low: int = 2) -> FunctionSpec:
    return FunctionSpec(
        name, _SRC, (_int("timeperiod", default, low),), None, "number", reference, doc
    )


def _hlc(name: str, reference: str, doc: str, default: int = 14, low: int = 2) -> FunctionSpec:
    return FunctionSpec(
        name, _HLC, (_int("timeperiod", default, low),), None, "number", reference, doc
    )


def _helper(
    name: str,
    inputs: tuple[Input, ...],
    params: tuple[Param, ...],
    result: ExprType,
    ref: str,
    doc: str,
) -> FunctionSpec:
    return FunctionSpec(name, inputs, params, None, result, ref, doc, category="helper")


_SPECS: tuple[FunctionSpec, ...] = (
    _average("sma", "TA-Lib SMA", "Simple moving average."),
    _average("ema", "TA-Lib EMA", "Exponential moving average, seeded with the SMA."),
    _average("wma", "TA-Lib WMA", "Linearly weighted moving average."),
    _average("dema", "TA-Lib DEMA", "Double exponential moving average."),
    _average("tema", "TA-Lib TEMA", "Triple exponential moving average."),
    _average("trima", "TA-Lib TRIMA", "Triangular moving average."),
    attrs.evolve(
        _average("rma", "TradingView ta.rma", "Wilder's moving average (alpha = 1/n).", 14, 1),
        aliases=("wilder",),
    ),
    _average("hma", "TradingView ta.hma", "Hull moving average.", 9),
    _average("vwma", "TradingView ta.vwma", "Volume-weighted moving average of src.", 20, 1),
    _average("rsi", "TA-Lib RSI", "Relative strength index (Wilder).", 14),
    FunctionSpec(
        "stoch",
        _HLC,
        (_int("fastk_period", 5, 1), _int("slowk_period", 3, 1), _int("slowd_period", 3, 1)),
        ("slowk", "slowd"),
        "number",
        "TA-Lib STOCH",
        "Slow stochastic oscillator (SMA smoothing).",
    ),
    FunctionSpec(
        "stochf",
        _HLC,
        (_int("fastk_period", 5, 1), _int("fastd_period", 3, 1)),
        ("fastk", "fastd"),
        "number",
        "TA-Lib STOCHF",
        "Fast stochastic oscillator.",
    ),
    FunctionSpec(
        "stochrsi",
        _SRC,
        (_int("timeperiod", 14, 2), _int("fastk_period", 5, 1), _int("fastd_period", 3, 1)),
        ("fastk", "fastd"),
        "number",
        "TA-Lib STOCHRSI",
        "Stochastic of the RSI.",
    ),
    FunctionSpec(
        "macd",
        _SRC,
        (_int("fastperiod", 12, 2), _int("slowperiod", 26, 2), _int("signalperiod", 9, 1)),
        ("macd", "signal", "hist"),
        "number",
        "TA-Lib MACD",
        "Moving average convergence/divergence: line, signal line, histogram.",
        field_aliases={"macdsignal": "signal", "macdhist": "hist"},
    ),
    FunctionSpec(
        "bbands",
        _SRC,
        (_int("timeperiod", 5, 2), _float("nbdev", 2.0)),
        _BANDS,
        "number",
        "TA-Lib BBANDS",
        "Bollinger bands (SMA middle, nbdev deviations up and down).",
    ),
    _hlc("atr", "TA-Lib ATR", "Average true range (Wilder).", low=1),
    _hlc("natr", "TA-Lib NATR", "Normalized average true range, in percent of close.", low=1),
    FunctionSpec("trange", _HLC, (), None, "number", "TA-Lib TRANGE", "True range."),
    _hlc("adx", "TA-Lib ADX", "Average directional movement index."),
    _hlc("plus_di", "TA-Lib PLUS_DI", "Plus directional indicator."),
    _hlc("minus_di", "TA-Lib MINUS_DI", "Minus directional indicator."),
    _hlc("cci", "TA-Lib CCI", "Commodity channel index."),
    FunctionSpec(
        "mfi",
        _HLCV,
        (_int("timeperiod", 14, 2),),
        None,
        "number",
        "TA-Lib MFI",
        "Money flow index.",
    ),
    FunctionSpec(
        "obv",
        (Input("src", "close"), Input("volume", "volume")),
        (),
        None,
        "number",
        "TA-Lib OBV",
        "On-balance volume.",
    ),
    FunctionSpec(
        "vwap",
        _HLCV,
        (_int("timeperiod", 0, 0),),
        None,
        "number",
        "TradingView ta.vwap (UTC-day session); rolling n-bar VWAP for timeperiod >= 1",
        "Volume-weighted average price of hlc3: 0 = since 00:00 UTC, n = last n bars.",
    ),
    _average("roc", "TA-Lib ROC", "Rate of change in percent over timeperiod bars.", 10, 1),
    _average("mom", "TA-Lib MOM", "Momentum: src minus src timeperiod bars ago.", 10, 1),
    _hlc("willr", "TA-Lib WILLR", "Williams' %R."),
    FunctionSpec(
        "stddev",
        _SRC,
        (_int("timeperiod", 5, 2), _float("nbdev", 1.0)),
        None,
        "number",
        "TA-Lib STDDEV",
        "Population standard deviation times nbdev.",
        aliases=("stdev",),
    ),
    FunctionSpec(
        "highest",
        (Input("src", "high"),),
        (_int("timeperiod", 30, 1),),
        None,
        "number",
        "TA-Lib MAX",
        "Highest value over timeperiod bars.",
    ),
    FunctionSpec(
        "lowest",
        (Input("src", "low"),),
        (_int("timeperiod", 30, 1),),
        None,
        "number",
        "TA-Lib MIN",
        "Lowest value over timeperiod bars.",
    ),
    _average("sum", "TA-Lib SUM", "Sum over timeperiod bars.", 30, 1),
    _average(
        "zscore",
        "TradingView (src - ta.sma) / ta.stdev",
        "Distance from the SMA in population standard deviations.",
        20,
    ),
    FunctionSpec(
        "keltner",
        _HLC,
        (_int("timeperiod", 20, 1), _float("multiplier", 2.0), _int("atr_period", 10, 1)),
        _BANDS,
        "number",
        "TradingView ta.kc",
        "Keltner channels: EMA of close +/- multiplier * ATR(atr_period).",
    ),
    FunctionSpec(
        "donchian",
        _HL,
        (_int("timeperiod", 20, 1),),
        _BANDS,
        "number",
        "TradingView Donchian Channels",
        "Highest high, midpoint and lowest low over timeperiod.",
    ),
    FunctionSpec(
        "supertrend",
        _HLC,
        (_float("factor", 3.0), _int("atr_period", 10, 1)),
        ("value", "direction"),
        "number",
        "TradingView ta.supertrend",
        "Supertrend line and direction (+1 up, -1 down: TradingView's sign flipped).",
    ),
    FunctionSpec(
        "pvi",
        (Input("src", "close"), Input("volume", "volume")),
        (),
        None,
        "number",
        "TradingView ta.pvi",
        "Positive volume index: from 1.0, grows by the close's change on bars of rising volume.",
    ),
    FunctionSpec(
        "nvi",
        (Input("src", "close"), Input("volume", "volume")),
        (),
        None,
        "number",
        "TradingView ta.nvi",
        "Negative volume index: from 1.0, grows by the close's change on bars of falling volume.",
    ),
    FunctionSpec(
        "vwap_bands",
        _HLCV,
        (_float("multiplier", 1.0),),
        _BANDS,
        "number",
        "TradingView ta.vwap bands (stdev_mult; anchor: UTC day)",
        "Session VWAP of hlc3 (since 00:00 UTC) +/- multiplier volume-weighted deviations.",
    ),
    FunctionSpec(
        "divergence",
        (Input("a"), Input("b")),
        (_int("lookback", 30, 2, 500), _int("min_sep", 5, 1, 499)),
        None,
        "number",
        "regular divergence (Vyx's definition, see docs/language.md)",
        "+1 when a makes a lower low than its lowest at least min_sep bars back (within "
        "lookback) while b is higher than it was there; -1 for a higher high with b lower; 0.",
        window="reads the last lookback bars (tracks the window's low and high)",
        ordered=(("min_sep", "lookback"),),
    ),
    FunctionSpec(
        "rsi_divergence",
        _SRC,
        (_int("timeperiod", 14, 2), _int("lookback", 30, 2, 500), _int("min_sep", 5, 1, 499)),
        None,
        "number",
        "divergence(src, rsi(src, timeperiod), lookback, min_sep)",
        "Regular divergence of src and its RSI: +1 bullish, -1 bearish, 0 none.",
        window="reads the last lookback bars (tracks the window's low and high)",
        ordered=(("min_sep", "lookback"),),
    ),
    FunctionSpec(
        "hvn_near",
        _HLCV,
        (
            _float("tolerance_pct", 0.5, 0.0, 100.0),
            _int("lookback", 50, 2, 1000),
            _int("bins", 20, 2, 200),
        ),
        None,
        "bool",
        "volume-profile high-volume nodes (Vyx's definition, see docs/language.md)",
        "The close is within tolerance_pct % of a high-volume node of the last lookback bars.",
        window="rebuilds the volume profile of the last lookback bars every bar",
    ),
    FunctionSpec(
        "hvn_above",
        _HLCV,
        (_int("lookback", 50, 2, 1000), _int("bins", 20, 2, 200)),
        None,
        "number",
        "volume-profile high-volume nodes (Vyx's definition, see docs/language.md)",
        "Distance in % of the close up to the nearest high-volume node above it (NaN: none).",
        window="rebuilds the volume profile of the last lookback bars every bar",
    ),
    FunctionSpec(
        "hvn_below",
        _HLCV,
        (_int("lookback", 50, 2, 1000), _int("bins", 20, 2, 200)),
        None,
        "number",
        "volume-profile high-volume nodes (Vyx's definition, see docs/language.md)",
        "Distance in % of the close down to the nearest high-volume node below it (NaN: none).",
        window="rebuilds the volume profile of the last lookback bars every bar",
    ),
    _helper(
        "crosses_above",
        (Input("a"), Input("b")),
        (),
        "bool",
        "TradingView ta.crossover",
        "a is above b now and was not above it on the previous bar.",
    ),
    _helper(
        "crosses_below",
        (Input("a"), Input("b")),
        (),
        "bool",
        "TradingView ta.crossunder",
        "a is below b now and was not below it on the previous bar.",
    ),
    _helper(
        "rising",
        (Input("src"),),
        (_int("length", 1, 1),),
        "bool",
        "TradingView ta.rising",
        "src is above each of its previous length values.",
    ),
    _helper(
        "falling",
        (Input("src"),),
        (_int("length", 1, 1),),
        "bool",
        "TradingView ta.falling",
        "src is below each of its previous length values.",
    ),
    _helper("abs", (Input("x"),), (), "number", "math.fabs", "Absolute value."),
    _helper("min", (Input("a"), Input("b")), (), "number", "math min", "The smaller of a and b."),
    _helper("max", (Input("a"), Input("b")), (), "number", "math max", "The larger of a and b."),
    _helper(
        "change",
        (Input("src", "close"),),
        (_int("length", 1, 1),),
        "number",
        "TradingView ta.change",
        "src minus src length bars ago.",
    ),
)

#: Every function by canonical name.
_OHLC = (Input("open", "open"), *_HLC)


def candle_name(ta_name: str) -> str:
    """The language's name of a TA-Lib pattern: ``CDLENGULFING`` -> ``cdl_engulfing``."""
    return "cdl_" + ta_name[3:].lower()


def _candle(p: Pattern) -> FunctionSpec:
    params = () if p.penetration is None else (_float("penetration", p.penetration, 0.0, 1.0),)
    return FunctionSpec(
        candle_name(p.name),
        _OHLC,
        params,
        None,
        "number",
        f"TA-Lib {p.name}",
        f"{p.title}: TA-Lib's value on the bar completing it (100/-100; some 80 or 200), else 0.",
    )


#: TA-Lib's 61 candlestick patterns (:mod:`kernels.ind.candle_patterns`).
CANDLES: tuple[FunctionSpec, ...] = tuple(_candle(p) for p in PATTERNS)
_SPECS += CANDLES

FUNCTIONS: Mapping[str, FunctionSpec] = MappingProxyType({s.name: s for s in _SPECS})

#: Alias -> canonical name.
ALIASES: Mapping[str, str] = MappingProxyType(
    {alias: s.name for s in _SPECS for alias in s.aliases}
)


def resolve(name: str) -> FunctionSpec | None:
    """The function called ``name`` (canonical or alias), or None."""
    return FUNCTIONS.get(ALIASES.get(name, name))


def resolve_field(spec: FunctionSpec, field: str) -> str | None:
    """The canonical output field of ``spec`` spelled ``field``, or None if it has no such field."""
    if spec.outputs is None:
        return None
    if field in spec.outputs:
        return field
    return spec.field_aliases.get(field)


def callable_names() -> tuple[str, ...]:
    """Every name that can be called: functions, aliases and special forms."""
    return (*FUNCTIONS, *ALIASES, *SPECIAL_FORMS)


def value_names() -> tuple[str, ...]:
    """Every name that can stand alone as a value: series, ticker fields, ``true``/``false``."""
    return (*SERIES, *TICKER_FIELDS, "true", "false")
