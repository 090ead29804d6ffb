"""Drafts, problems and previews as JSON-ready data (camelCase, like the browser protocol):
what ``vyx trader new --json`` prints and what the browser's ``trader_draft`` will carry."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from vyx.authoring.draft import Draft, DraftResult, Problem
from vyx.authoring.preview import Preview


def problem_message(problem: Problem) -> dict[str, Any]:
    """``{message, line, column}`` (position null for a problem of the whole draft)."""
    return {"message": problem.message, "line": problem.line, "column": problem.col}


def draft_message(draft: Draft) -> dict[str, Any]:
    """A draft: name, timeframe, filter, clauses with their explanations, warm-up."""
    return {
        "name": draft.name,
        "timeframe": draft.timeframe,
        "filter": draft.filter,
        "normalized": draft.normalized,
        "clauses": [{"clause": c.label, "checks": c.explanation} for c in draft.clauses],
        "warmupBars": dict(draft.warmup),
        "origin": draft.origin,
    }


def result_message(result: DraftResult) -> dict[str, Any]:
    """A draft result: ``ok``, the draft or the problems, and how many rounds it took."""
    return {
        "ok": result.ok,
        "draft": draft_message(result.draft) if result.draft is not None else None,
        "problems": [problem_message(p) for p in result.problems],
        "rounds": len(result.rounds),
        "tokens": result.tokens,
    }


def _finite(value: object) -> object:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def preview_message(preview: Preview) -> dict[str, Any]:
    """A preview: counts, warm-up state and the last signals with their clause values."""
    return {
        "fires": preview.fires,
        "perSymbol": dict(preview.per_symbol),
        "symbols": preview.symbols,
        "bars": dict(preview.bars),
        "warmupBars": dict(preview.warmup),
        "warmingUp": list(preview.warming_up),
        "missingTimeframes": list(preview.missing),
        "last": [
            {
                "symbol": s.symbol,
                "openTime": s.open_time,
                "price": _finite(s.price),
                "clauses": {label: dict(c) for label, c in s.clauses.items()},
            }
            for s in preview.last
        ],
        "elapsedMs": round(preview.elapsed_ms, 1),
    }


def problems_text(problems: Sequence[Problem]) -> str:
    """One problem per line, ``line:col: message``."""
    return "\n".join(str(p) for p in problems)
