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
from vyx.authoring.clauses import TIMEFRAMES, Reading, cap, normalize, read_clause
from vyx.authoring.draft import DraftResult, Problem, Proposal, Round, check_proposal

#: Longest description the drafters accept (characters).
MAX_WORDS_CHARS = 2000

_LEADING = re.compile(
    r"^(?:(?:find|show|scan for|look for|alert me when|notify me when|tell me when|buy when|"
    r"long when|coins?|pairs?|symbols?|tokens?|where|when|whenever|if|with|that have|that)\b"
    r"[\s,:]*)+"
)
_SPLIT = re.compile(r"\s*(?:,(?!\d)\s*(?:and\b)?|\band\b|&|\bplus\b|\bwith\b|\bwhile\b)\s*", re.I)
_BETWEEN = re.compile(r"\bbetween\s+\S+\s+(and)\s+\S+", re.I)
_SENTENCE_HEAD = re.compile(
    rf"^\s*(?:on\s+(?:the\s+)?)(?P<tf>{TIMEFRAMES})\b(?:\s+chart)?\s*[,:]\s*"
)
_SENTENCE_TAIL = re.compile(
    rf"[\s,]+on\s+(?:the\s+)?(?P<tf>{TIMEFRAMES})(?:\s+(?:chart|timeframe))?\s*$"
)


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
    return cap(name)


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
