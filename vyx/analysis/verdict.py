"""The model's answer: the response schema it must follow, and its validation.

:func:`answer_text` takes a ``generateContent`` response apart (a blocked prompt, no candidate, a
safety stop, a candidate without content and truncated output are all :class:`InvalidAnswer`,
like text that is not the JSON object :data:`RESPONSE_SCHEMA` describes); :func:`parse_verdict`
turns the text into a :class:`Verdict`. Both are pure.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, Literal, cast

import attrs
from google.genai import types

Decision = Literal["enter_trade", "bad_setup", "wait"]
DECISIONS: tuple[Decision, ...] = ("enter_trade", "bad_setup", "wait")
PLAN_FIELDS = ("setup", "execution", "invalidation", "riskReward")

_S = types.Type.STRING


def _text(description: str) -> types.Schema:
    return types.Schema(type=_S, description=description)


#: The ``responseSchema`` (OpenAPI subset) of every request.
RESPONSE_SCHEMA = types.Schema(
    type=types.Type.OBJECT,
    properties={
        "decision": types.Schema(type=_S, enum=list(DECISIONS), format="enum"),
        "confidence": types.Schema(
            type=types.Type.INTEGER, minimum=0, maximum=100, description="0-100"
        ),
        "reasoning": _text("Why, citing the candles and indicator values given."),
        "trade_plan": types.Schema(
            type=types.Type.OBJECT,
            properties={
                "setup": _text("What the setup is."),
                "execution": _text("How to enter, using the key levels given."),
                "invalidation": _text("What would invalidate the idea."),
                "riskReward": _text("Risk/reward using the key levels given."),
            },
            required=list(PLAN_FIELDS),
            property_ordering=list(PLAN_FIELDS),
        ),
        "technical_context": _text("Trend, momentum, volatility and volume in a few lines."),
    },
    required=["decision", "confidence", "reasoning", "trade_plan", "technical_context"],
    property_ordering=["decision", "confidence", "reasoning", "trade_plan", "technical_context"],
)


class InvalidAnswer(Exception):
    """The model answered, but not with a usable verdict; :attr:`raw` is what it said."""

    def __init__(self, reason: str, raw: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.raw = raw


@attrs.frozen
class Usage:
    """Token counts of one response (``usageMetadata``; missing counts are 0)."""

    prompt: int = 0
    output: int = 0
    thoughts: int = 0
    total: int = 0

    @classmethod
    def of(cls, meta: types.GenerateContentResponseUsageMetadata | None) -> Usage:
        """From the SDK's usage metadata (None → zeros)."""
        if meta is None:
            return cls()
        prompt = meta.prompt_token_count or 0
        output = meta.candidates_token_count or 0
        thoughts = meta.thoughts_token_count or 0
        total = meta.total_token_count or prompt + output + thoughts
        return cls(prompt, output, thoughts, total)

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt + other.prompt,
            self.output + other.output,
            self.thoughts + other.thoughts,
            self.total + other.total,
        )


@attrs.frozen
class Verdict:
    """A validated answer."""

    decision: Decision
    confidence: int
    reasoning: str
    trade_plan: Mapping[str, str]
    technical_context: str


def answer_text(response: types.GenerateContentResponse) -> str:
    """The text of the first candidate (thought parts left out); raises :class:`InvalidAnswer`."""
    raw = _raw(response)
    feedback = response.prompt_feedback
    if not response.candidates:
        reason = "no candidates"
        if feedback is not None and (feedback.block_reason or feedback.block_reason_message):
            blocked = feedback.block_reason_message or str(feedback.block_reason)
            reason = f"prompt blocked: {blocked}"
        raise InvalidAnswer(reason, raw)
    candidate = response.candidates[0]
    finish = candidate.finish_reason
    parts = candidate.content.parts if candidate.content is not None else None
    text = "".join(p.text for p in parts or () if p.text and not p.thought)
    if finish is not None and finish not in (types.FinishReason.STOP,):
        message = f": {candidate.finish_message}" if candidate.finish_message else ""
        raise InvalidAnswer(f"finish reason {finish.value}{message}", text or raw)
    if not text:
        raise InvalidAnswer("candidate without text content", raw)
    return text


def _raw(response: types.GenerateContentResponse) -> str:
    try:
        return response.model_dump_json(exclude_none=True, by_alias=True)
    except (TypeError, ValueError):  # pragma: no cover - pydantic always serialises its models
        return repr(response)


def strip_fence(text: str) -> str:
    """Models sometimes wrap JSON in a Markdown fence even in JSON mode."""
    body = text.strip()
    if body.startswith("```"):
        body = body.split("\n", 1)[1] if "\n" in body else ""
        if body.rstrip().endswith("```"):
            body = body.rstrip()[:-3]
    return body.strip()


def json_object(text: str) -> dict[str, Any]:
    """The model's answer as a JSON object (a Markdown fence around it is dropped); raises
    :class:`InvalidAnswer` when it is not JSON or not an object."""
    try:
        data = json.loads(strip_fence(text))
    except ValueError as exc:
        raise InvalidAnswer(f"not JSON: {exc}", text) from None
    if not isinstance(data, dict):
        raise InvalidAnswer(f"expected a JSON object, got {type(data).__name__}", text)
    return data


def _string(data: Mapping[str, Any], key: str, raw: str, *, where: str = "") -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InvalidAnswer(f"{where}{key} must be a non-empty string", raw)
    return value.strip()


def parse_verdict(text: str) -> Verdict:
    """Validate the model's JSON text against :data:`RESPONSE_SCHEMA`; raises
    :class:`InvalidAnswer` naming the first bad field."""
    data = json_object(text)
    decision = data.get("decision")
    if decision not in DECISIONS:
        raise InvalidAnswer(f"decision must be one of {', '.join(DECISIONS)}", text)
    confidence = data.get("confidence")
    if (
        isinstance(confidence, bool)
        or not isinstance(confidence, int | float)
        or not math.isfinite(confidence)
        or not 0 <= confidence <= 100
    ):
        raise InvalidAnswer("confidence must be a number from 0 to 100", text)
    plan = data.get("trade_plan")
    if not isinstance(plan, dict):
        raise InvalidAnswer("trade_plan must be an object", text)
    trade_plan = {k: _string(plan, k, text, where="trade_plan.") for k in PLAN_FIELDS}
    return Verdict(
        decision=cast(Decision, decision),
        confidence=round(confidence),
        reasoning=_string(data, "reasoning", text),
        trade_plan=trade_plan,
        technical_context=_string(data, "technical_context", text),
    )
