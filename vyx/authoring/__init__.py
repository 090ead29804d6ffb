"""Trader authoring: words in, a filter that compiles out, previewed on real bars before saving.

::

    words ──► Drafter ──► Proposal ──► check_proposal ──► Draft ──► preview(rings | klines)
             (Gemini: the      (name, timeframe,   (our compiler: budget,   (backtest in a
              compiler in the   filter, clause      timeframes allowed;      worker thread)
              loop, or the      explanations)       line:col errors go back
              phrasebook)                           to the model)

The async API the daemon calls (none of it is on the screening path):

- :func:`draft` — words to a :class:`DraftResult` (a :class:`Draft` or the last problems);
- :func:`check` — one filter to a :class:`Draft` or its problems (live errors as a user types);
- :func:`preview` — a draft over the rings' newest bars to a :class:`Preview`.

Modules: :mod:`.draft` (the types and the check), :mod:`.gemini_drafter` (the model, through the
analyzer's :class:`~vyx.analysis.gate.GeminiGate`), :mod:`.phrasebook` and :mod:`.vocabulary`
(the offline drafter and its documented phrasings), :mod:`.answer` (the response schema),
:mod:`.prompt` and :mod:`.reference` (what the model is told), :mod:`.preview`, :mod:`.legacy`
(the original product's trader rows), :mod:`.traders_toml` (editing the traders file).
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import trio

from vyx.authoring.draft import (
    ROUNDS,
    ClauseNote,
    Draft,
    Drafter,
    DraftResult,
    Problem,
    Proposal,
    Round,
    check_proposal,
)
from vyx.authoring.phrasebook import OfflineDrafter, draft_words
from vyx.authoring.preview import Preview, PreviewSignal, preview, preview_bars, snapshot

if TYPE_CHECKING:
    from vyx.authoring.gemini_drafter import GeminiDrafter, open_gemini_drafter


def __getattr__(name: str) -> Any:
    # google-genai costs tens of MiB: imported only when a model drafts (the daemon imports
    # this package for the browser's requests, usually without a key).
    if name in ("GeminiDrafter", "open_gemini_drafter"):
        from vyx.authoring import gemini_drafter

        return getattr(gemini_drafter, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


async def draft(
    words: str,
    *,
    drafter: Drafter | None = None,
    timeframe: str = "5m",
    allowed_timeframes: Collection[str] | None = None,
) -> DraftResult:
    """Draft a trader from ``words`` with ``drafter`` (the offline phrasebook by default);
    ``timeframe`` is the default for the trader's own, ``allowed_timeframes`` (None: any) the
    timeframes it and its ``on()`` may use (the daemon's rings)."""
    chosen = drafter if drafter is not None else OfflineDrafter()
    return await chosen.draft(words, timeframe=timeframe, allowed_timeframes=allowed_timeframes)


async def check(
    filter_text: str,
    *,
    timeframe: str = "5m",
    allowed_timeframes: Collection[str] | None = None,
    name: str = "draft",
) -> Draft | list[Problem]:
    """Compile one filter (in a worker thread): the :class:`Draft`, or every problem."""
    proposal = Proposal(name, timeframe, filter_text)
    run = functools.partial(check_proposal, proposal, allowed_timeframes=allowed_timeframes)
    return await trio.to_thread.run_sync(run)


__all__ = [
    "ROUNDS",
    "ClauseNote",
    "Draft",
    "DraftResult",
    "Drafter",
    "GeminiDrafter",
    "OfflineDrafter",
    "Preview",
    "PreviewSignal",
    "Problem",
    "Proposal",
    "Round",
    "check",
    "check_proposal",
    "draft",
    "draft_words",
    "open_gemini_drafter",
    "preview",
    "preview_bars",
    "snapshot",
]
