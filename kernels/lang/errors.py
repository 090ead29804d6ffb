"""Source positions and compile errors of the filter language.

Every problem found in a filter is a :class:`Diagnostic` with the :class:`Span` of source text it
is about. Compilation collects all of them and raises one :class:`CompileError`; nothing else
escapes :func:`kernels.lang.check`, whatever the input text.

Lines and columns are 1-based; columns count characters (a tab is one column). A span covers
``source[start:end]``: ``end``/``end_line``/``end_col`` are exclusive, so a zero-width span (for
instance "expected an expression" at the end of the text) has ``start == end``.
"""

from __future__ import annotations

import bisect
import difflib
from collections.abc import Iterable, Sequence

import attrs


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
        """``line:col: message``, then the source line with a ``^~~~`` marker under the span."""
        lines = source.split("\n")
        text = lines[self.span.line - 1] if self.span.line <= len(lines) else ""
        start = self.span.col - 1
        stop = self.span.end_col - 1 if self.span.end_line == self.span.line else len(text)
        width = max(stop - start, 1)
        # Keep tabs in the padding so the marker lines up however the terminal expands them.
        pad = "".join("\t" if ch == "\t" else " " for ch in text[:start])
        marker = pad + "^" + "~" * (width - 1)
        return f"{self.span.line}:{self.span.col}: {self.message}\n    {text}\n    {marker}"


class CompileError(Exception):
    """A filter that does not compile; carries every diagnostic found, in source order."""

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        unique = dict.fromkeys(diagnostics)
        self.diagnostics: tuple[Diagnostic, ...] = tuple(
            sorted(unique, key=lambda d: (d.span.start, d.span.end))
        )
        super().__init__(self._summary())

    def _summary(self) -> str:
        return "; ".join(f"{d.span.line}:{d.span.col}: {d.message}" for d in self.diagnostics)

    def format(self, source: str) -> str:
        """Every diagnostic rendered like a compiler does (see :meth:`Diagnostic.format`)."""
        return "\n".join(d.format(source) for d in self.diagnostics)


def did_you_mean(word: str, candidates: Sequence[str]) -> str:
    """A ``"; did you mean x?"`` suffix naming close matches of ``word``, or ``""``."""
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
