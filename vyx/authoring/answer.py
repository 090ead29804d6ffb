"""The model's draft: the response schema it must follow, and its validation into a
:class:`~vyx.authoring.draft.Proposal`. Pure.

The schema asks for the filter text, the trader's timeframe (an enum of the timeframes allowed
here), a short name, and one line per top-level clause saying what it checks.
"""

from __future__ import annotations

from collections.abc import Sequence

from google.genai import types

from vyx.analysis.verdict import InvalidAnswer, json_object
from vyx.authoring.draft import MAX_FILTER_CHARS, MAX_NAME_CHARS, Proposal

#: Most clause explanations kept from one answer.
MAX_CLAUSES = 50
#: Longest explanation of one clause (characters; longer ones are cut).
MAX_EXPLANATION_CHARS = 300

_S = types.Type.STRING
FIELDS = ("name", "timeframe", "filter", "clauses")


def response_schema(timeframes: Sequence[str]) -> types.Schema:
    """The ``responseSchema`` of a draft request; ``timeframes``: those allowed here."""
    clause = types.Schema(
        type=types.Type.OBJECT,
        properties={
            "clause": types.Schema(
                type=_S, description="One top-level 'and' operand, exactly as in the filter."
            ),
            "checks": types.Schema(type=_S, description="What it checks, in plain words."),
        },
        required=["clause", "checks"],
        property_ordering=["clause", "checks"],
    )
    return types.Schema(
        type=types.Type.OBJECT,
        properties={
            "name": types.Schema(type=_S, description="A short name for the trader."),
            "timeframe": types.Schema(
                type=_S,
                enum=list(timeframes),
                format="enum",
                description="The trader's own timeframe (the bars it screens on).",
            ),
            "filter": types.Schema(type=_S, description="The filter, in the Vyx filter language."),
            "clauses": types.Schema(type=types.Type.ARRAY, items=clause),
        },
        required=list(FIELDS),
        property_ordering=list(FIELDS),
    )


def _text(data: dict[str, object], key: str, raw: str, limit: int) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InvalidAnswer(f"{key} must be a non-empty string", raw)
    if len(value) > limit:
        raise InvalidAnswer(f"{key} is longer than {limit} characters", raw)
    return value.strip()


def parse_proposal(text: str) -> Proposal:
    """Validate the model's JSON text; raises :class:`InvalidAnswer` naming the bad field."""
    data = json_object(text)
    name = _text(data, "name", text, MAX_NAME_CHARS)
    timeframe = _text(data, "timeframe", text, 8)
    source = _text(data, "filter", text, MAX_FILTER_CHARS)
    clauses = data.get("clauses", [])
    if not isinstance(clauses, list):
        raise InvalidAnswer("clauses must be an array", text)
    notes: list[tuple[str, str]] = []
    for item in clauses[:MAX_CLAUSES]:
        if not isinstance(item, dict):
            raise InvalidAnswer("each clause must be an object {clause, checks}", text)
        clause, checks = item.get("clause"), item.get("checks")
        if not isinstance(clause, str) or not isinstance(checks, str):
            raise InvalidAnswer("each clause needs the strings clause and checks", text)
        notes.append((clause[:MAX_FILTER_CHARS], checks.strip()[:MAX_EXPLANATION_CHARS]))
    return Proposal(name, timeframe, source, tuple(notes))
