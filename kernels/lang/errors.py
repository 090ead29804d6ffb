"""Source positions and compile errors of the filter language.

Every problem found in a filter is a :class:`Diagnostic` with the :class:`Span` of source text it
is about. Compilation collects all of them and raises one :class:`CompileError`; nothing else
escapes :func:`kernels.lang.check`, whatever the input text.

Lines and columns are 1-based; columns count characters (a tab is one column). A span covers
``source[start:end]``: ``end``/``end_line``/``end_col`` are exclusive, so a zero-width span (for
instance "expected an expression" at the end of the text) has ``start == end``.

Rendering is bounded whatever the input: a diagnostic shows at most :data:`WINDOW` characters of
its source line around the caret (``…`` marks what is cut), a message at most
:data:`MAX_MESSAGE` characters, and a report at most :data:`MAX_SHOWN` diagnostics followed by
``and N more``. Messages quote source text through :func:`quoted`, which clips it.
"""

from __future__ import annotations

import bisect
import difflib
import functools
from collections.abc import Iterable, Sequence

import attrs

#: Characters of a source line shown around the caret, at most.
WINDOW = 100
#: Characters of a message shown, at most.
MAX_MESSAGE = 200
#: Diagnostics rendered by :meth:`CompileError.format` (and ``str()``), at most.
MAX_SHOWN = 20
#: What marks text cut from a line or a message.
ELLIPSIS = "…"


def clip(text: str, limit: int) -> str:
    """``text``, or its first ``limit - 1`` characters and an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def quoted(text: str, limit: int = 40) -> str:
    """Source text as a message quotes it: clipped to ``limit`` characters."""
    return clip(text, limit)


@attrs.frozen
class Span:
    """A range of source text: offsets into the string and 1-based line/column positions."""

    start: int
    end: int
    line: int
    col: int
    end_line: int
    end_col: int

    def cover(self, other: Span) -> Span:
        """The smallest span containing both ``self`` and ``other``."""
        first = self if self.start <= other.start else other
        last = self if self.end >= other.end else other
        return Span(first.start, last.end, first.line, first.col, last.end_line, last.end_col)


class SourceMap:
    """Turns offsets of one source text into :class:`Span` objects (line starts are bisected)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._line_starts = [0] + [i + 1 for i, ch in enumerate(source) if ch == "\n"]

    def position(self, offset: int) -> tuple[int, int]:
        """The 1-based (line, column) of ``offset`` (which may be ``len(source)``)."""
        index = bisect.bisect_right(self._line_starts, offset) - 1
        return index + 1, offset - self._line_starts[index] + 1

    def span(self, start: int, end: int) -> Span:
        """The span of ``source[start:end]``."""
        line, col = self.position(start)
        end_line, end_col = self.position(end)
        return Span(start, end, line, col, end_line, end_col)


@attrs.frozen
class Diagnostic:
    """One problem in a filter.

    Attributes:
        message: what is wrong, saying what was expected and what was found.
        span: the source text it is about.
        expected: what would have been accepted there (e.g. ``"bool"``), when that is one thing.
    """

    message: str
    span: Span
    expected: str | None = None

    def format(self, source: str) -> str:
        """``line:col: message``, then the source line with a ``^~~~`` marker under the span;
        at most :data:`WINDOW` characters of the line, around the start of the span."""
        line_start = self.span.start - (self.span.col - 1)
        line_end = source.find("\n", line_start)
        text = source[line_start : len(source) if line_end < 0 else line_end]
        start = min(self.span.col - 1, len(text))
        stop = self.span.end_col - 1 if self.span.end_line == self.span.line else len(text)
        stop = max(stop, start + 1)
        lo, hi = _window(len(text), start, stop)
        shown = text[lo:hi]
        before = ELLIPSIS if lo > 0 else ""
        after = ELLIPSIS if hi < len(text) else ""
        # Keep tabs in the padding so the marker lines up however the terminal expands them.
        pad = " " * len(before) + "".join("\t" if ch == "\t" else " " for ch in shown[: start - lo])
        marker = pad + "^" + "~" * (min(stop, max(hi, start + 1)) - start - 1)
        head = f"{self.span.line}:{self.span.col}: {clip(self.message, MAX_MESSAGE)}"
        return f"{head}\n    {before}{shown}{after}\n    {marker}"


def _window(length: int, start: int, stop: int) -> tuple[int, int]:
    """The slice of a line of ``length`` characters shown for a span ``start..stop``: the
    whole line when it fits in :data:`WINDOW`, else a window that keeps the caret in sight."""
    if length <= WINDOW:
        return 0, length
    lo = max(0, min(start - WINDOW // 3, length - WINDOW))
    return lo, min(length, lo + WINDOW)


class CompileError(Exception):
    """A filter that does not compile; carries every diagnostic found, in source order."""

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        unique = dict.fromkeys(diagnostics)
        self.diagnostics: tuple[Diagnostic, ...] = tuple(
            sorted(unique, key=lambda d: (d.span.start, d.span.end))
        )
        super().__init__(self._summary())

    def _summary(self) -> str:
        shown = [
            f"{d.span.line}:{d.span.col}: {clip(d.message, MAX_MESSAGE)}"
            for d in self.diagnostics[:MAX_SHOWN]
        ]
        return "; ".join(shown + self._more())

    def _more(self) -> list[str]:
        hidden = len(self.diagnostics) - MAX_SHOWN
        return [f"and {hidden} more"] if hidden > 0 else []

    def format(self, source: str) -> str:
        """The diagnostics rendered like a compiler does (see :meth:`Diagnostic.format`): the
        first :data:`MAX_SHOWN`, then ``and N more``."""
        shown = [d.format(source) for d in self.diagnostics[:MAX_SHOWN]]
        return "\n".join(shown + self._more())


def did_you_mean(word: str, candidates: Sequence[str]) -> str:
    """A ``"; did you mean x?"`` suffix naming close matches of ``word``, or ``""``."""
    return _did_you_mean(word, tuple(candidates))


_LONGEST_MATCHED = 64


@functools.lru_cache(maxsize=1024)
def _did_you_mean(word: str, candidates: tuple[str, ...]) -> str:
    # Cached: a filter repeating one unknown name costs one search. A word this long is close
    # to no name of the language (and is not worth keeping in the cache).
    if len(word) > _LONGEST_MATCHED:
        return ""
    lowered = {c.lower(): c for c in candidates}
    if word.lower() in lowered and lowered[word.lower()] != word:
        return f"; did you mean {lowered[word.lower()]}?"
    # get_close_matches prefilters with cheap bounds: fast even for thousands of unknown names.
    close = difflib.get_close_matches(word, candidates, n=3, cutoff=0.6)
    if not close:
        return ""
    best = difflib.SequenceMatcher(None, word, close[0]).ratio()
    # Only the candidates about as close as the best one: "did you mean ema?", not a list.
    matches = [c for c in close if difflib.SequenceMatcher(None, word, c).ratio() >= best - 0.1]
    if len(matches) == 1:
        return f"; did you mean {matches[0]}?"
    return f"; did you mean {', '.join(matches[:-1])} or {matches[-1]}?"
