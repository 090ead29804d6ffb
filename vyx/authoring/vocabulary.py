"""The nouns of the offline drafter: how people name a value, and the filter code it is.

:func:`value` reads one value phrase (already normalized: lower case, filler words dropped, see
:func:`vyx.authoring.phrasebook.normalize`) — ``price``, ``rsi 7``, ``50 ema``, ``upper
bollinger band``, ``macd histogram``, ``20-bar high``, ``30``, ``10m`` — into a :class:`Value`:
the code and a description for the clause's explanation. Anything else is None.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import attrs

from kernels.lang.signatures import format_number


@attrs.frozen
class Value:
    """A value phrase understood: its filter code and how to say it."""

    code: str
    description: str
    #: A plain number (comparisons with it read "RSI(14) is below 30").
    constant: bool = False


_N = r"(?P<n>\d{1,4})"
_PERIOD = rf"{_N}[ -]?(?:bar |period |candle )?"
_SCALE = {"k": 1e3, "thousand": 1e3, "m": 1e6, "mn": 1e6, "million": 1e6}
_SCALE |= {"b": 1e9, "bn": 1e9, "billion": 1e9}
_NUMBER = re.compile(
    r"(?P<x>[-+]?(?:\d+(?:\.\d*)?|\.\d+))\s*(?P<s>k|thousand|mn?|million|bn?|billion)?\s*%?"
)

_MA_WORDS = (
    dict.fromkeys(("ema", "exponential moving average"), "ema")
    | dict.fromkeys(("sma", "ma", "moving average", "simple moving average"), "sma")
    | {"wma": "wma", "hma": "hma"}
)
_MA = "|".join(sorted(map(re.escape, _MA_WORDS), key=len, reverse=True))

#: One-period indicators: phrase -> (function, default period, description).
_OSCILLATORS: dict[str, tuple[str, int, str]] = {
    "rsi": ("rsi", 14, "RSI"),
    "adx": ("adx", 14, "ADX"),
    "cci": ("cci", 14, "CCI"),
    "mfi": ("mfi", 14, "MFI"),
    "money flow index": ("mfi", 14, "MFI"),
    "atr": ("atr", 14, "ATR"),
    "williams %r": ("willr", 14, "Williams %R"),
    "williams r": ("willr", 14, "Williams %R"),
    "roc": ("roc", 10, "rate of change (%)"),
    "rate of change": ("roc", 10, "rate of change (%)"),
}
_OSC = "|".join(sorted(map(re.escape, _OSCILLATORS), key=len, reverse=True))

_SERIES = dict.fromkeys(("price", "close", "closing price", "current price", "last price"), "close")
_SERIES |= {name: name for name in ("open", "high", "low", "volume")}

_FIXED: dict[str, Value] = {
    "zero": Value("0", "zero", constant=True),
    "vwap": Value("vwap()", "the session VWAP (since 00:00 UTC)"),
    "macd histogram": Value("macd(12, 26, 9).hist", "the MACD(12, 26, 9) histogram"),
    "macd hist": Value("macd(12, 26, 9).hist", "the MACD(12, 26, 9) histogram"),
    "macd signal line": Value("macd(12, 26, 9).signal", "the MACD signal line"),
    "macd signal": Value("macd(12, 26, 9).signal", "the MACD signal line"),
    "signal line": Value("macd(12, 26, 9).signal", "the MACD signal line"),
    "signal": Value("macd(12, 26, 9).signal", "the MACD signal line"),
    "macd line": Value("macd(12, 26, 9).macd", "the MACD(12, 26, 9) line"),
    "macd": Value("macd(12, 26, 9).macd", "the MACD(12, 26, 9) line"),
    "stochastic": Value("stoch(14, 3, 3).slowk", "the stochastic %K (14, 3, 3)"),
    "stoch": Value("stoch(14, 3, 3).slowk", "the stochastic %K (14, 3, 3)"),
    "stochastic %k": Value("stoch(14, 3, 3).slowk", "the stochastic %K (14, 3, 3)"),
    "stochastic %d": Value("stoch(14, 3, 3).slowd", "the stochastic %D (14, 3, 3)"),
    "supertrend": Value("supertrend(3, 10).value", "the supertrend line (3, 10)"),
    "24h change": Value("change_24h", "the 24 h change (%)"),
    "24h price change": Value("change_24h", "the 24 h change (%)"),
    "change 24h": Value("change_24h", "the 24 h change (%)"),
    "24h volume": Value("quote_volume_24h", "the 24 h quote volume"),
    "24h quote volume": Value("quote_volume_24h", "the 24 h quote volume"),
    "average volume": Value("sma(volume, 20)", "the 20-bar average volume"),
    "upper vwap band": Value("vwap_bands(1).upper", "the upper VWAP band (1 deviation)"),
    "lower vwap band": Value("vwap_bands(1).lower", "the lower VWAP band (1 deviation)"),
    "nvi": Value("nvi()", "the negative volume index"),
    "negative volume index": Value("nvi()", "the negative volume index"),
    "pvi": Value("pvi()", "the positive volume index"),
    "positive volume index": Value("pvi()", "the positive volume index"),
}


def _bands(match: re.Match[str]) -> Value:
    band = match["b"]
    return Value(f"bbands(20, 2).{band}", f"the {band} Bollinger band (20, 2)")


def _ma(match: re.Match[str]) -> Value:
    fn = _MA_WORDS[match["k"]]
    n = int(match["n"] or 20)
    return Value(f"{fn}({n})", f"the {n}-bar {fn.upper()}")


def _osc(match: re.Match[str]) -> Value:
    fn, default, name = _OSCILLATORS[match["k"]]
    n = int(match["n"] or default)
    return Value(f"{fn}({n})", f"{name}({n})")


def _extreme(match: re.Match[str]) -> Value:
    n = int(match["n"])
    if match["hl"] == "high":
        return Value(f"highest(high, {n})[1]", f"the {n}-bar high before this bar")
    return Value(f"lowest(low, {n})[1]", f"the {n}-bar low before this bar")


def _avg_volume(match: re.Match[str]) -> Value:
    n = int(match["n"])
    return Value(f"sma(volume, {n})", f"the {n}-bar average volume")


_PATTERNS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], Value]], ...] = tuple(
    (re.compile(p), f)
    for p, f in (
        (r"(?P<b>upper|lower|middle) (?:bollinger|bb)(?: band)?s?", _bands),
        (r"(?:bollinger|bb) (?P<b>upper|lower|middle)(?: band)?s?", _bands),
        (r"(?P<b>upper|lower) band", _bands),
        (rf"{_PERIOD}(?P<k>{_MA})", _ma),
        (rf"(?P<k>{_MA})(?: ?\(?{_N}\)?)?", _ma),
        (rf"(?P<k>{_OSC})(?: ?\(?{_N}\)?)?", _osc),
        (rf"{_PERIOD}(?P<k>{_OSC})", _osc),
        (rf"(?:previous |prior |last )?{_PERIOD[:-1]} ?(?P<hl>high|low)", _extreme),
        (rf"{_PERIOD}average volume", _avg_volume),
    )
)


def number(text: str) -> float | None:
    """``30``, ``-100``, ``1.5``, ``5%``, ``10m``, ``2.5 billion`` -> the number, else None."""
    match = _NUMBER.fullmatch(re.sub(r"(?<=\d),(?=\d{3}\b)", "", text.strip()))
    if match is None:
        return None
    scale = _SCALE.get(match["s"] or "", 1.0)
    return float(match["x"]) * scale


def value(text: str) -> Value | None:
    """The value a normalized phrase names, or None."""
    text = text.strip()
    x = number(text)
    if x is not None:
        return Value(format_number(x), format_number(x), constant=True)
    if text in _SERIES:
        name = _SERIES[text]
        return Value(name, "the close" if name == "close" else f"the {name}")
    if text in _FIXED:
        return _FIXED[text]
    for pattern, build in _PATTERNS:
        match = pattern.fullmatch(text)
        if match is not None:
            return build(match)
    return None
