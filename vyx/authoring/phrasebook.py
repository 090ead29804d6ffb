"""The offline drafter: a fixed phrasebook, deterministic, no model and no network.

It reads one sentence of conditions joined by "and" (or commas, "&", "with", "while", "plus")
and writes the filter; what it cannot read it names, with its position, and drafts nothing.
Case, "the", "its", "is", "a" and leading words such as "find coins where", "alert me when" do
not matter. Numbers may carry ``%``, ``k``, ``m`` (million) or ``b``. Periods are bars of the
trader's timeframe ("20-bar", "20 period", "EMA 20", "EMA(20)").

Phrasings (``words`` → ``filter``; each is checked by the tests, and means exactly this):

- ``RSI below 30`` → ``rsi(14) < 30``
- ``RSI above 70`` → ``rsi(14) > 70``
- ``RSI(7) under 20`` → ``rsi(7) < 20``
- ``RSI oversold`` → ``rsi(14) < 30``
- ``RSI overbought`` → ``rsi(14) > 70``
- ``RSI crosses above 30`` → ``crosses_above(rsi(14), 30)``
- ``RSI between 40 and 60`` → ``40 < rsi(14) < 60``
- ``price crosses above the 50 EMA`` → ``crosses_above(close, ema(50))``
- ``price crosses below the 200 SMA`` → ``crosses_below(close, sma(200))``
- ``close above the 200 EMA`` → ``close > ema(200)``
- ``price below EMA(21)`` → ``close < ema(21)``
- ``the 9 EMA crosses above the 21 EMA`` → ``crosses_above(ema(9), ema(21))``
- ``golden cross`` → ``crosses_above(sma(50), sma(200))``
- ``death cross`` → ``crosses_below(sma(50), sma(200))``
- ``volume twice its 20-bar average`` → ``volume > 2 * sma(volume, 20)``
- ``volume 3x the 50-bar average`` → ``volume > 3 * sma(volume, 50)``
- ``volume above average`` → ``volume > sma(volume, 20)``
- ``volume greater than 1.5x the 20-period average`` → ``volume > 1.5 * sma(volume, 20)``
- ``volume spike`` → ``volume > 2 * sma(volume, 20)``
- ``on the 1h trend up`` → ``on("1h", close > ema(50))``
- ``4h trend down`` → ``on("4h", close < ema(50))``
- ``uptrend`` → ``close > ema(50)``
- ``MACD histogram turns positive`` → ``crosses_above(macd(12, 26, 9).hist, 0)``
- ``MACD histogram turns negative`` → ``crosses_below(macd(12, 26, 9).hist, 0)``
- ``MACD crosses above the signal line`` →
  ``crosses_above(macd(12, 26, 9).macd, macd(12, 26, 9).signal)``
- ``close above upper Bollinger band`` → ``close > bbands(20, 2).upper``
- ``price below the lower Bollinger band`` → ``close < bbands(20, 2).lower``
- ``price above VWAP`` → ``close > vwap()``
- ``new 50-bar low`` → ``close < lowest(low, 50)[1]``
- ``ADX above 25`` → ``adx(14) > 25``
- ``stochastic below 20`` → ``stoch(14, 3, 3).slowk < 20``
- ``MFI below 20`` → ``mfi(14) < 20``
- ``CCI below -100`` → ``cci(14) < -100``
- ``RSI rising`` → ``rising(rsi(14), 1)``
- ``close falling for 3 bars`` → ``falling(close, 3)``
- ``up more than 5% in 24h`` → ``change_24h > 5``
- ``down more than 5% in 24h`` → ``change_24h < -5``
- ``24h volume above 10M`` → ``quote_volume_24h > 10000000``
- ``supertrend up`` → ``supertrend(3, 10).direction > 0``
- ``bullish RSI divergence`` → ``rsi_divergence(14, 30, 5) > 0``
- ``bearish divergence`` → ``rsi_divergence(14, 30, 5) < 0``
- ``price near a high volume node`` → ``hvn_near(0.5, 50, 20)``
- ``price above the upper VWAP band`` → ``close > vwap_bands(1).upper``
- ``NVI above its 255-bar average`` → ``nvi() > sma(nvi(), 255)``
- ``bullish engulfing`` → ``cdl_engulfing() > 0``
- ``bearish engulfing`` → ``cdl_engulfing() < 0``
- ``hammer`` → ``cdl_hammer() != 0``
- ``shooting star`` → ``cdl_shootingstar() != 0``
- ``doji`` → ``cdl_doji() != 0``
- ``morning star`` → ``cdl_morningstar(0.3) != 0``
- ``evening star`` → ``cdl_eveningstar(0.3) != 0``
- ``three white soldiers`` → ``cdl_3whitesoldiers() != 0``
- ``RSI below 30 and price above the 200 EMA`` → ``rsi(14) < 30 and close > ema(200)``
- ``new 20-bar high`` → ``close > highest(high, 20)[1]``
- ``price breaks above the 20-bar high`` → ``close > highest(high, 20)[1]``
- ``RSI below 30 on the 1h`` → ``rsi(14) < 30`` on 1h (the trader's own timeframe)
- ``on the 15m, RSI below 30 and volume spike`` →
  ``rsi(14) < 30 and volume > 2 * sma(volume, 20)`` on 15m
- ``RSI below 30 on the 1h and price above the 50 EMA`` →
  ``on("1h", rsi(14) < 30) and close > ema(50)``

Generally: *value* *comparison* *value*, where a value is ``price``/``close``/``open``/``high``
/``low``/``volume``, a number, ``N EMA``/``EMA N`` (also SMA, WMA, HMA, "moving average"),
``RSI``/``ADX``/``CCI``/``MFI``/``ATR``/``Williams %R``/``ROC`` with an optional period, ``MACD``
/ ``MACD signal`` / ``MACD histogram``, ``stochastic`` (%K, %D), ``upper``/``middle``/``lower
Bollinger band``, ``VWAP``, ``upper``/``lower VWAP band``, ``NVI``/``PVI``, ``supertrend``,
``N-bar high``/``low``, ``average volume``, ``24h change``, ``24h volume``; and a comparison
is ``above``/``over``/``greater than``/``below``/``under``/``less than``/``at least``/``at
most``/``crosses above``/``crosses below``/``breaks above``/``breaks below``/``between X and
Y``. A timeframe (``1h``, ``15m``, "hourly",
"4-hour", "daily") placed first ("on the 15m, ...") or last ("... on the 15m") sets the
trader's own timeframe; inside one clause it reads that clause on that timeframe.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

import attrs
import trio

from kernels.lang.errors import SourceMap
from kernels.lang.signatures import format_number
from kernels.timeframes import TIMEFRAME_MS
from vyx.authoring.draft import DraftResult, Problem, Proposal, Round, check_proposal
from vyx.authoring.vocabulary import Value, number, value

#: Longest description the drafters accept (characters).
MAX_WORDS_CHARS = 2000

_TF = "|".join(sorted(TIMEFRAME_MS, key=len, reverse=True))
_TF_WORDS = (
    (re.compile(r"\b(\d{1,2})[ -]?(?:minutes?|mins?)\b"), r"\1m"),
    (re.compile(r"\b(\d{1,2})[ -]?(?:hours?|hrs?|hr)\b"), r"\1h"),
    (re.compile(r"\bhourly\b"), "1h"),
    (re.compile(r"\bdaily\b"), "1d"),
    (re.compile(r"\bweekly\b"), "1w"),
)
_FILLER = re.compile(r"\b(?:the|its|it's|is|are|a|an|currently|chart|timeframe|candles?)\b")
_LEADING = re.compile(
    r"^(?:(?:find|show|scan for|look for|alert me when|notify me when|tell me when|buy when|"
    r"long when|coins?|pairs?|symbols?|tokens?|where|when|whenever|if|with|that have|that)\b"
    r"[\s,:]*)+"
)
_SPLIT = re.compile(r"\s*(?:,(?!\d)\s*(?:and\b)?|\band\b|&|\bplus\b|\bwith\b|\bwhile\b)\s*", re.I)
_BETWEEN = re.compile(r"\bbetween\s+\S+\s+(and)\s+\S+", re.I)
_ON_TF = rf"(?:on\s+(?:the\s+)?)?(?P<tf>{_TF})(?:\s+(?:chart|timeframe|candles?))?"
_SENTENCE_HEAD = re.compile(rf"^\s*(?:on\s+(?:the\s+)?)(?P<tf>{_TF})\b(?:\s+chart)?\s*[,:]\s*")
_SENTENCE_TAIL = re.compile(rf"[\s,]+on\s+(?:the\s+)?(?P<tf>{_TF})(?:\s+(?:chart|timeframe))?\s*$")
#: A clause on a timeframe of its own: "on the 1h RSI below 30", "RSI below 30 on the 1h".
_CLAUSE_TF = (
    re.compile(rf"^{_ON_TF}\s+(?P<rest>.+)$"),
    re.compile(rf"^(?P<rest>.+?)\s+on\s+(?:the\s+)?(?P<tf>{_TF})$"),
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
                f"{_cap(left.description)} is more than {format_number(k)}× its {n}-bar average",
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
        return Reading(f"{fn}({v.code}, 0)", f"{_cap(v.description)} turns {m['d']} on this bar")
    m = re.fullmatch(r"(?P<v>.+?) (?P<d>rising|falling)(?: for (?P<n>\d+) bars?)?", text)
    if m is not None and (v := value(m["v"])) is not None and not v.constant:
        n = int(m["n"] or 1)
        bars = "the previous bar" if n == 1 else f"each of the previous {n} bars"
        word = "above" if m["d"] == "rising" else "below"
        return Reading(
            f"{m['d']}({v.code}, {n})", f"{_cap(v.description)} is {word} its value on {bars}"
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
    "volume spike": Reading(
        "volume > 2 * sma(volume, 20)", "The volume is more than 2× its 20-bar average"
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
    rf"(?:on )?(?:(?P<tf>{_TF}) )?(?:trend (?P<d>up|down)|(?P<d2>up|down) ?trend)"
    rf"(?: on (?P<tf2>{_TF}))?"
)


def _trend(text: str) -> Reading | None:
    """``on the 1h trend up``: the close above its 50-bar EMA (below: down), on that timeframe."""
    m = _TREND.fullmatch(text)
    if m is None:
        return None
    tf, d = m["tf"] or m["tf2"], m["d"] or m["d2"]
    code = f"close {'>' if d == 'up' else '<'} ema(50)"
    say = f"the close is {'above' if d == 'up' else 'below'} its 50-bar EMA (trend {d})"
    return _on(tf, Reading(code, say)) if tf else Reading(code, _cap(say))


def _cap(text: str) -> str:
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
            f"{_cap(left.description)} is between {format_number(lo)} and {format_number(hi)}",
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
            f"{_cap(left.description)} crosses {'above' if up else 'below'} {rv.description}"
            " on this bar",
        )
    sym = _OPS[op]
    say = f"{_cap(left.description)} {_SAY[sym]} {rv.description}"
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


@attrs.frozen
class Phrasing:
    """A sentence read by the phrasebook: the proposal, or what could not be read."""

    proposal: Proposal | None
    problems: tuple[Problem, ...] = ()
    #: Each clause of the words: its text and ``(line, col)`` (line ``i`` of the filter is
    #: clause ``i``).
    clauses: tuple[tuple[str, tuple[int, int]], ...] = ()

    def in_words(self, problem: Problem) -> Problem:
        """A problem of the drafted filter, placed at the clause of the words it came from."""
        if problem.line is None or not 0 < problem.line <= len(self.clauses):
            return problem
        text, (line, col) = self.clauses[problem.line - 1]
        return Problem(f"{problem.message} (in {text!r})", line, col)


def _sentence(words: str) -> tuple[str, int, str | None]:
    """The conditions part of ``words``, its offset, and a timeframe set for the whole."""
    start, end, tf = 0, len(words), None
    head = _SENTENCE_HEAD.match(words.lower())
    if head is not None:
        start, tf = head.end(), head["tf"]
    tail = _SENTENCE_TAIL.search(words.lower(), start)
    if tail is not None and tf is None:
        end, tf = tail.start(), tail["tf"]
    lead = _LEADING.match(words[start:end].lower())
    if lead is not None:
        start += lead.end()
    return words[start:end], start, tf


def _clauses(text: str, offset: int) -> list[tuple[str, int]]:
    """The clauses of the conditions part, each with its offset in the words."""
    # The "and" of "between 40 and 60" does not split (same length: offsets stay right).
    protected = _BETWEEN.sub(
        lambda m: m[0][: m.start(1) - m.start()] + "___" + m[0][m.end(1) - m.start() :], text
    )
    found, pos = [], 0
    for sep in [*_SPLIT.finditer(protected), None]:
        stop = sep.start() if sep else len(protected)
        part = text[pos:stop]
        if part.strip():
            found.append((part.strip(), offset + pos + len(part) - len(part.lstrip())))
        pos = sep.end() if sep else pos
    return found


def draft_offline(words: str, *, timeframe: str = "5m") -> Phrasing:
    """Read ``words`` with the phrasebook (``timeframe``: the trader's, unless they say one)."""
    if len(words) > MAX_WORDS_CHARS:
        return Phrasing(None, (Problem(f"at most {MAX_WORDS_CHARS} characters, please"),))
    body, offset, said_tf = _sentence(words)
    source_map = SourceMap(words)
    readings: list[Reading] = []
    problems: list[Problem] = []
    places: list[tuple[str, tuple[int, int]]] = []
    for clause, at in _clauses(body, offset):
        reading = read_clause(normalize(clause))
        line, col = source_map.position(at)
        if reading is None:
            problems.append(
                Problem(f"could not understand {clause!r} (see `vyx trader phrases`)", line, col)
            )
        else:
            readings.append(reading)
            places.append((clause, (line, col)))
    if not readings and not problems:
        problems.append(Problem("no conditions found: describe at least one, e.g. RSI below 30"))
    if problems:
        return Phrasing(None, tuple(problems))
    return Phrasing(
        Proposal(
            name=_name(words),
            timeframe=said_tf or timeframe,
            filter="\nand ".join(r.code for r in readings),
            explanations=tuple((r.code, r.explanation) for r in readings),
        ),
        clauses=tuple(places),
    )


def _name(words: str) -> str:
    """The words as a name: at most 60 characters, cut at a word."""
    name = " ".join(words.split())
    if len(name) > 60:
        name = name[:57].rsplit(" ", 1)[0].rstrip(" ,") + "..."
    return _cap(name)


def phrasings() -> Sequence[tuple[str, str, str]]:
    """The documented ``(words, filter, timeframe or "")`` examples of this module's docstring."""
    doc = " ".join((__doc__ or "").split())
    return re.findall(r"- ``([^`]+)`` → ``([^`]+)``(?: on (\w+))?", doc)


def draft_words(
    words: str, *, timeframe: str = "5m", allowed_timeframes: Collection[str] | None = None
) -> DraftResult:
    """The offline drafter, synchronously: read ``words``, compile the reading."""
    phrasing = draft_offline(words, timeframe=timeframe)
    if phrasing.proposal is None:
        return DraftResult(None, phrasing.problems, (Round(None, "", phrasing.problems),))
    checked = check_proposal(phrasing.proposal, allowed_timeframes=allowed_timeframes)
    if isinstance(checked, list):
        problems = tuple(phrasing.in_words(p) for p in checked)
        return DraftResult(None, problems, (Round(phrasing.proposal, "", problems),))
    return DraftResult(checked, (), (Round(phrasing.proposal, "", ()),))


@attrs.frozen
class OfflineDrafter:
    """The phrasebook as a :class:`~vyx.authoring.draft.Drafter` (``vyx demo``, no API key)."""

    async def draft(
        self,
        words: str,
        *,
        timeframe: str = "5m",
        allowed_timeframes: Collection[str] | None = None,
        context: str = "",
    ) -> DraftResult:
        """Read ``words`` in a worker thread (``context`` is not read: no model to read it)."""
        if not words.strip() and context.strip():
            problem = Problem(
                "no description to read; the offline drafter does not read code "
                "(with GEMINI_API_KEY set, the model drafts from it)"
            )
            return DraftResult(None, (problem,))
        return await trio.to_thread.run_sync(
            lambda: draft_words(words, timeframe=timeframe, allowed_timeframes=allowed_timeframes)
        )
