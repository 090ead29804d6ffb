"""Bringing the original product's traders along.

Its ``traders`` rows (``data/vyx-original/schema.sql``; a PostgREST dump is a JSON array of
them) hold ``filter`` jsonb — often a JSON *string* inside the jsonb — as ``{code,
description: string[], requiredTimeframes?, refreshInterval?}`` (legacy key ``interval`` for
``refreshInterval``): ``code`` is a JavaScript function body this machine never runs, and
``description`` the user's own words. :func:`read_rows` reads them into :class:`LegacyTrader`
values (rows it cannot read are :class:`Unreadable`, with the reason); :func:`convert` drafts a
Vyx filter for each from its words, with the code as context for a model, the compiler in the
loop. A conversion is a proposal: it is saved disabled and never activated by itself.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import attrs

from kernels.timeframes import TIMEFRAME_MS
from vyx.authoring.draft import Drafter, DraftResult
from vyx.authoring.phrasebook import MAX_WORDS_CHARS

#: Largest import file read (bytes).
MAX_IMPORT_BYTES = 20 * 1024 * 1024
#: Most rows converted from one file.
MAX_IMPORT_ROWS = 1000


class ImportFileError(ValueError):
    """An import file that cannot be read at all (not JSON, not rows, too big)."""


@attrs.frozen
class LegacyTrader:
    """One original trader, as far as drafting needs it."""

    id: str
    name: str
    #: The user's own words (``filter.description`` lines joined with "and").
    words: str
    #: The original JavaScript (context for a model; never run).
    code: str
    #: The trader's own timeframe: the shortest of ``requiredTimeframes``, else the refresh
    #: interval, else ``execution_interval``, else 5m.
    timeframe: str
    #: Every timeframe the original read.
    timeframes: tuple[str, ...]
    auto_analyze: bool = False
    instructions: str = ""


@attrs.frozen
class Unreadable:
    """A row that could not be read, and why."""

    ref: str
    reason: str


@attrs.frozen
class Conversion:
    """An original trader and the draft proposed for it (or why there is none)."""

    legacy: LegacyTrader
    result: DraftResult


def _json(value: Any) -> Any:
    # The web app stored jsonb as a JSON string inside jsonb (JSON.stringify): undo it, twice
    # at most (some rows went through it twice).
    for _ in range(2):
        if not isinstance(value, str):
            break
        try:
            value = json.loads(value)
        except ValueError:
            break
    return value


def _timeframes(flt: Mapping[str, Any], row: Mapping[str, Any]) -> tuple[str, tuple[str, ...]]:
    required = flt.get("requiredTimeframes")
    listed = [t for t in required if t in TIMEFRAME_MS] if isinstance(required, list) else []
    refresh = flt.get("refreshInterval") or flt.get("interval")
    candidates = [*listed, refresh, row.get("execution_interval")]
    own = next((t for t in candidates if isinstance(t, str) and t in TIMEFRAME_MS), "5m")
    if listed:
        own = min(listed, key=TIMEFRAME_MS.__getitem__)
    every = sorted({own, *listed}, key=TIMEFRAME_MS.__getitem__)
    return own, tuple(every)


def _words(description: Any) -> str:
    if isinstance(description, str):
        lines = [description]
    elif isinstance(description, list):
        lines = [d for d in description if isinstance(d, str)]
    else:
        lines = []
    cleaned = [" ".join(line.split()).rstrip(".") for line in lines if line.strip()]
    return " and ".join(cleaned)


def read_row(row: Any, index: int) -> LegacyTrader | Unreadable:
    """One row of the original ``traders`` table."""
    if not isinstance(row, Mapping):
        return Unreadable(f"row {index}", "not an object")
    ref = str(row.get("id") or f"row {index}")
    name = str(row.get("name") or "").strip() or ref
    flt = _json(row.get("filter"))
    if flt is None:
        return Unreadable(ref, "no filter")
    if isinstance(flt, str):
        flt = {"code": flt}
    if not isinstance(flt, Mapping):
        return Unreadable(ref, f"filter is a {type(flt).__name__}, not an object")
    words = _words(flt.get("description")) or str(row.get("description") or "").strip()
    code = flt.get("code") if isinstance(flt.get("code"), str) else ""
    if not words and not code:
        return Unreadable(ref, "neither a description nor code to draft from")
    if len(words) > MAX_WORDS_CHARS:
        return Unreadable(ref, f"description longer than {MAX_WORDS_CHARS} characters")
    own, every = _timeframes(flt, row)
    strategy = _json(row.get("strategy"))
    instructions = strategy.get("instructions", "") if isinstance(strategy, Mapping) else ""
    return LegacyTrader(
        id=ref,
        name=name,
        words=words,
        code=str(code or ""),
        timeframe=own,
        timeframes=every,
        auto_analyze=bool(row.get("auto_analyze_signals")),
        instructions=instructions if isinstance(instructions, str) else "",
    )


def read_rows(text: str | bytes) -> tuple[list[LegacyTrader], list[Unreadable]]:
    """The rows of an export (a JSON array of rows, ``{"traders": [...]}`` or one row);
    raises :class:`ImportFileError` for a file that is not that."""
    if len(text) > MAX_IMPORT_BYTES:
        raise ImportFileError(f"larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MiB")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ImportFileError(f"not JSON: {exc}") from None
    if isinstance(data, Mapping) and isinstance(data.get("traders"), list):
        data = data["traders"]
    elif isinstance(data, Mapping):
        data = [data]
    if not isinstance(data, list):
        raise ImportFileError("expected a JSON array of trader rows")
    if len(data) > MAX_IMPORT_ROWS:
        raise ImportFileError(f"{len(data)} rows; at most {MAX_IMPORT_ROWS} per file")
    found: list[LegacyTrader] = []
    unreadable: list[Unreadable] = []
    for i, row in enumerate(data, 1):
        read = read_row(row, i)
        if isinstance(read, LegacyTrader):
            found.append(read)
        else:
            unreadable.append(read)
    return found, unreadable


def _context(legacy: LegacyTrader) -> str:
    text = "This trader comes from an older product; it read the timeframes "
    text += ", ".join(legacy.timeframes) + "."
    if legacy.code:
        text += f"\nIts original code (JavaScript, for reference only):\n{legacy.code}"
    return text


async def convert(
    traders: Sequence[LegacyTrader],
    drafter: Drafter,
    *,
    allowed_timeframes: Collection[str] | None = None,
) -> list[Conversion]:
    """Draft a Vyx filter for each original trader, one after the other (a model's calls
    share the gate's limits). A trader without words has only its code: a model may read it,
    the offline drafter says it cannot."""
    done = []
    for legacy in traders:
        result = await drafter.draft(
            legacy.words,
            timeframe=legacy.timeframe,
            allowed_timeframes=allowed_timeframes,
            context=_context(legacy),
        )
        done.append(Conversion(legacy, result))
    return done
