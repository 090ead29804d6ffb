"""The phrasebook's clauses: one condition in words read into one filter expression with its
explanation (:func:`read_clause`), or None. :mod:`vyx.authoring.phrasebook` splits a sentence
into clauses and lists every phrasing in its docstring (the tests check each)."""

from __future__ import annotations

import re

import attrs

from kernels.lang.signatures import format_number
from kernels.timeframes import TIMEFRAME_MS
from vyx.authoring.vocabulary import Value, number, value

#: The timeframes, longest first, as a regular expression's alternatives.
TIMEFRAMES = "|".join(sorted(TIMEFRAME_MS, key=len, reverse=True))
_TF_WORDS = (
    (re.compile(r"\b(\d{1,2})[ -]?(?:minutes?|mins?)\b"), r"\1m"),
    (re.compile(r"\b(\d{1,2})[ -]?(?:hours?|hrs?|hr)\b"), r"\1h"),
    (re.compile(r"\bhourly\b"), "1h"),
    (re.compile(r"\bdaily\b"), "1d"),
    (re.compile(r"\bweekly\b"), "1w"),
)
_FILLER = re.compile(r"\b(?:the|its|it's|is|are|a|an|currently|chart|timeframe|candles?)\b")
_ON_TF = rf"(?:on\s+(?:the\s+)?)?(?P<tf>{TIMEFRAMES})(?:\s+(?:chart|timeframe|candles?))?"
#: A clause on a timeframe of its own: "on the 1h RSI below 30", "RSI below 30 on the 1h".
_CLAUSE_TF = (
    re.compile(rf"^{_ON_TF}\s+(?P<rest>.+)$"),
    re.compile(rf"^(?P<rest>.+?)\s+on\s+(?:the\s+)?(?P<tf>{TIMEFRAMES})$"),
)

_CMP = re.compile(
    r"\b(?P<op>crosses above|crosses over|crosses below|crosses under|breaks (?:out )?above|"
    r"breaks (?:down )?below|greater than|more than|"
    r"higher than|less than|lower than|at least|at most|above|over|below|under|between)\b"
    r"|(?P<sym><=|>=|<|>)"
)
_OPS = (
    dict.fromkeys(
        (
            "above",
            "over",
            "greater than",
            "more than",
            "higher than",
            ">",
            "breaks above",
            "breaks out above",
        ),
        ">",
    )
    | dict.fromkeys(
        ("below", "under", "less than", "lower than", "<", "breaks below", "breaks down below"), "<"
    )
    | {"at least": ">=", ">=": ">=", "at most": "<=", "<=": "<="}
)
_SAY = {">": "is above", "<": "is below", ">=": "is at least", "<=": "is at most"}
_TIMES = r"(?P<k>twice|double|triple|\d+(?:\.\d+)?\s*(?:x|times))"


@attrs.frozen
class Reading:
    """One clause read: its code and explanation."""

    code: str
    explanation: str


def normalize(text: str) -> str:
    """Lower case, timeframe words as ``1h``/``15m``, filler words dropped, spaces collapsed."""
    text = text.lower().replace("’", "'")
    for pattern, repl in _TF_WORDS:
        text = pattern.sub(repl, text)
    text = _FILLER.sub(" ", text)
    return " ".join(text.split())


def _multiple(word: str) -> float:
    word = word.strip()
    if word in ("twice", "double"):
        return 2.0
    if word == "triple":
        return 3.0
    return float(word.rstrip("xtimes ").strip())


def _special(text: str) -> Reading | None:
    """Clauses with no comparison word, or with a meaning of their own."""
    m = re.fullmatch(rf"(?P<v>.+?) {_TIMES} (?:(?P<n>\d+)[ -]?(?:bar |period )?)?average", text)
    if m is not None:
        left = value(m["v"])
        if left is not None and not left.constant:
            k, n = _multiple(m["k"]), int(m["n"] or 20)
            return Reading(
                f"{left.code} > {format_number(k)} * sma({left.code}, {n})",
                f"{cap(left.description)} is more than {format_number(k)}× its {n}-bar average",
            )
    m = re.fullmatch(r"new (?P<n>\d+)[ -]?(?:bar|period) (?P<hl>high|low)", text)
    if m is not None:
        ref = value(f"{m['n']}-bar {m['hl']}")
        assert ref is not None
        op = ">" if m["hl"] == "high" else "<"
        return Reading(f"close {op} {ref.code}", f"The close {_SAY[op]} {ref.description}")
    m = re.fullmatch(r"(?P<v>.+?) turns (?P<d>positive|negative)", text)
    if m is not None and (v := value(m["v"])) is not None:
        fn = "crosses_above" if m["d"] == "positive" else "crosses_below"
        return Reading(f"{fn}({v.code}, 0)", f"{cap(v.description)} turns {m['d']} on this bar")
    m = re.fullmatch(r"(?P<v>.+?) (?P<d>rising|falling)(?: for (?P<n>\d+) bars?)?", text)
    if m is not None and (v := value(m["v"])) is not None and not v.constant:
        n = int(m["n"] or 1)
        bars = "the previous bar" if n == 1 else f"each of the previous {n} bars"
        word = "above" if m["d"] == "rising" else "below"
        return Reading(
            f"{m['d']}({v.code}, {n})",
            f"{cap(v.description)} is {word} its value on {bars}",
        )
    m = re.fullmatch(r"(?P<d>up|down) (?:more than |over |at least )?(?P<x>[\d.]+) ?% in 24h", text)
    if m is not None:
        sign = "" if m["d"] == "up" else "-"
        op = ">" if m["d"] == "up" else "<"
        say = f"The price is {m['d']} more than {m['x']}% over the last 24 h"
        return Reading(f"change_24h {op} {sign}{m['x']}", say)
    return _FIXED_CLAUSES.get(text)


#: Candlestick patterns by name (TA-Lib's recognizers, see docs/language.md).
_CANDLE_WORDS = {
    "bullish engulfing": (
        "cdl_engulfing() > 0",
        "A bullish engulfing (CDLENGULFING)",
    ),
    "bearish engulfing": (
        "cdl_engulfing() < 0",
        "A bearish engulfing (CDLENGULFING)",
    ),
    "hammer": ("cdl_hammer() != 0", "A hammer candle (TA-Lib CDLHAMMER)"),
    "shooting star": ("cdl_shootingstar() != 0", "A shooting star (TA-Lib CDLSHOOTINGSTAR)"),
    "doji": ("cdl_doji() != 0", "A doji candle (TA-Lib CDLDOJI)"),
    "morning star": ("cdl_morningstar(0.3) != 0", "A morning star (TA-Lib CDLMORNINGSTAR)"),
    "evening star": ("cdl_eveningstar(0.3) != 0", "An evening star (TA-Lib CDLEVENINGSTAR)"),
    "three white soldiers": (
        "cdl_3whitesoldiers() != 0",
        "Three advancing white soldiers (TA-Lib CDL3WHITESOLDIERS)",
    ),
}

_FIXED_CLAUSES = {
    "rsi oversold": Reading("rsi(14) < 30", "RSI(14) is below 30 (oversold)"),
    "rsi overbought": Reading("rsi(14) > 70", "RSI(14) is above 70 (overbought)"),
    "golden cross": Reading(
        "crosses_above(sma(50), sma(200))", "The 50-bar SMA crosses above the 200-bar SMA"
    ),
    "death cross": Reading(
        "crosses_below(sma(50), sma(200))", "The 50-bar SMA crosses below the 200-bar SMA"
    ),
    **dict.fromkeys(
        ("volume spike", "volume spikes", "volume spiking", "volume surge", "volume surges"),
        Reading("volume > 2 * sma(volume, 20)", "The volume is more than 2× its 20-bar average"),
    ),
    "volume above average": Reading(
        "volume > sma(volume, 20)", "The volume is above its 20-bar average"
    ),
    "supertrend up": Reading("supertrend(3, 10).direction > 0", "The supertrend (3, 10) points up"),
    **dict.fromkeys(
        ("bullish rsi divergence", "bullish divergence", "rsi bullish divergence"),
        Reading(
            "rsi_divergence(14, 30, 5) > 0",
            "Regular bullish RSI(14) divergence: a lower low of the close with a higher RSI",
        ),
    ),
    **dict.fromkeys(
        ("bearish rsi divergence", "bearish divergence", "rsi bearish divergence"),
        Reading(
            "rsi_divergence(14, 30, 5) < 0",
            "Regular bearish RSI(14) divergence: a higher high of the close with a lower RSI",
        ),
    ),
    **{words: Reading(code, say) for words, (code, say) in _CANDLE_WORDS.items()},
    **dict.fromkeys(
        ("price near high volume node", "near high volume node", "near hvn", "price near hvn"),
        Reading(
            "hvn_near(0.5, 50, 20)",
            "The close is within 0.5% of a high-volume node of the last 50 bars' volume profile",
        ),
    ),
    "supertrend down": Reading(
        "supertrend(3, 10).direction < 0", "The supertrend (3, 10) points down"
    ),
}


_TREND = re.compile(
    rf"(?:on )?(?:(?P<tf>{TIMEFRAMES}) )?(?:trend (?P<d>up|down)|(?P<d2>up|down) ?trend)"
    rf"(?: on (?P<tf2>{TIMEFRAMES}))?"
)


def _trend(text: str) -> Reading | None:
    """``on the 1h trend up``: the close above its 50-bar EMA (below: down), on that timeframe."""
    m = _TREND.fullmatch(text)
    if m is None:
        return None
    tf, d = m["tf"] or m["tf2"], m["d"] or m["d2"]
    code = f"close {'>' if d == 'up' else '<'} ema(50)"
    say = f"the close is {'above' if d == 'up' else 'below'} its 50-bar EMA (trend {d})"
    return _on(tf, Reading(code, say)) if tf else Reading(code, cap(say))


def cap(text: str) -> str:
    """``text`` with its first letter in upper case."""
    return text[:1].upper() + text[1:]


def _on(tf: str, reading: Reading) -> Reading:
    return Reading(f'on("{tf}", {reading.code})', f"On the {tf} chart, {reading.explanation}")


def _compare(text: str) -> Reading | None:
    m = _CMP.search(text)
    if m is None:
        return None
    op = m["op"] or m["sym"]
    left, right = value(text[: m.start()]), text[m.end() :].strip()
    if op == "between":
        bounds = re.fullmatch(r"(\S+) (?:and|to) (\S+)", right)
        if left is None or bounds is None:
            return None
        lo, hi = number(bounds[1]), number(bounds[2])
        if lo is None or hi is None:
            return None
        lo, hi = min(lo, hi), max(lo, hi)
        return Reading(
            f"{format_number(lo)} < {left.code} < {format_number(hi)}",
            f"{cap(left.description)} is between {format_number(lo)} and {format_number(hi)}",
        )
    if left is None:
        return None
    rv = _right(left, right)
    if rv is None:
        return None
    if op.startswith("crosses"):
        up = op in ("crosses above", "crosses over")
        fn = "crosses_above" if up else "crosses_below"
        return Reading(
            f"{fn}({left.code}, {rv.code})",
            f"{cap(left.description)} crosses {'above' if up else 'below'} {rv.description}"
            " on this bar",
        )
    sym = _OPS[op]
    say = f"{cap(left.description)} {_SAY[sym]} {rv.description}"
    return Reading(f"{left.code} {sym} {rv.code}", say)


def _right(left: Value, text: str) -> Value | None:
    """The right side of a comparison: a value, "(its) N-bar average" (of the left side), or
    either times a factor ("2x the 20-bar average")."""
    m = re.fullmatch(rf"{_TIMES} (?P<rest>.+)", text)
    if m is not None:
        base = _right(left, m["rest"])
        if base is None:
            return None
        k = format_number(_multiple(m["k"]))
        return Value(f"{k} * {base.code}", f"{k}× {base.description}")
    m = re.fullmatch(r"(?:(?P<n>\d+)[ -]?(?:bar |period )?)?average", text)
    if m is not None and not left.constant:
        n = int(m["n"] or 20)
        return Value(f"sma({left.code}, {n})", f"its {n}-bar average")
    return value(text)


def read_clause(text: str) -> Reading | None:
    """One normalized clause, or None when it is not in the phrasebook."""
    trend = _trend(text)
    if trend is not None:
        return trend
    for pattern in _CLAUSE_TF:
        m = pattern.fullmatch(text)
        if m is not None:
            inner = _special(m["rest"]) or _compare(m["rest"])
            return _on(m["tf"], inner) if inner is not None else None
    return _special(text) or _compare(text)
