"""What an analysis produces: the ``signal_analyses`` row and the ``analysis_completed`` message.

A failed analysis is still a row (the browser learns the signal will get no verdict): decision
``wait`` at confidence 0 (the table's constraints allow nothing else), a reasoning that starts
with :data:`FAILED_PREFIX`, our key levels, an empty ``trade_plan`` object (the original
product's table has ``trade_plan jsonb NOT NULL``), ``technical_indicators.analysis_status =
"failed"`` and the model's raw text (or the API's error body) in ``raw_ai_response``. The
browser's ``analysis_completed`` says ``tradePlan: null`` for it.
"""

from __future__ import annotations

from typing import Any

import attrs

from vyx.analysis.prompt import AnalysisInputs
from vyx.analysis.verdict import Verdict

FAILED_PREFIX = "Analysis failed"


@attrs.frozen
class Result:
    """One finished analysis (successful or failed)."""

    inputs: AnalysisInputs
    model_name: str
    verdict: Verdict | None
    raw: str
    latency_ms: int
    tokens_used: int
    #: Why it failed (None for a verdict).
    error: str | None = None

    @property
    def failed(self) -> bool:
        """No usable verdict."""
        return self.verdict is None


def analysis_row(result: Result, created_at_ms: int) -> dict[str, Any]:
    """The ``signal_analyses`` row (columns of CONTRACTS.md)."""
    signal = result.inputs.signal
    technical = result.inputs.technical_indicators()
    verdict = result.verdict
    if verdict is None:
        technical["analysis_status"] = "failed"
        technical["error"] = result.error
        decision, confidence = "wait", 0
        reasoning = f"{FAILED_PREFIX}: {result.error}. The signal stands without an AI verdict."
        trade_plan: dict[str, str] = {}
    else:
        technical["analysis_status"] = "ok"
        technical["technical_context"] = verdict.technical_context
        decision, confidence = verdict.decision, verdict.confidence
        reasoning = verdict.reasoning
        trade_plan = dict(verdict.trade_plan)
    return {
        "signal_id": signal.id,
        "trader_id": signal.trader_id,
        "user_id": signal.user_id,
        "decision": decision,
        "confidence": confidence,
        "reasoning": reasoning,
        "key_levels": result.inputs.levels.to_json(),
        "trade_plan": trade_plan,
        "technical_indicators": technical,
        "raw_ai_response": result.raw,
        "analysis_latency_ms": result.latency_ms,
        "gemini_tokens_used": result.tokens_used,
        "model_name": result.model_name,
        "created_at": created_at_ms,
    }


def completed_message(row: dict[str, Any]) -> dict[str, Any]:
    """The browser's ``analysis_completed`` message for a row of :func:`analysis_row`
    (``failed``/``error``/``modelName``/``technicalContext`` are additions to the original)."""
    technical = row["technical_indicators"]
    failed = technical.get("analysis_status") == "failed"
    return {
        "type": "analysis_completed",
        "data": {
            "signalId": row["signal_id"],
            "traderId": row["trader_id"],
            "decision": row["decision"],
            "confidence": row["confidence"],
            "reasoning": row["reasoning"],
            "keyLevels": row["key_levels"],
            "tradePlan": None if failed else row["trade_plan"],
            "technicalContext": technical.get("technical_context"),
            "modelName": row["model_name"],
            "failed": failed,
            "error": technical.get("error") if failed else None,
        },
    }
