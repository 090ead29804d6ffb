"""AI analysis of signals: Gemini verdicts under limits and budgets that never delay a signal.

- :mod:`vyx.analysis.service` — :class:`ConcurrentAnalyzer` and :func:`run_analyzer` (the Trio
  service: queue, workers, limits, rows and messages).
- :mod:`vyx.analysis.inputs` — :class:`AnalysisContext` (trader settings + candles copied from
  the ring) and the standard indicator set computed with the Vyx kernels.
- :mod:`vyx.analysis.levels` — key levels from ATR and swing points (our code, not the model's).
- :mod:`vyx.analysis.prompt` — the prompt; :mod:`vyx.analysis.verdict` — schema and validation.
- :mod:`vyx.analysis.gemini` — google-genai under Trio, error classification.
- :mod:`vyx.analysis.policy` — retries, token budgets (pure); breaker and RPM window:
  :mod:`vyx.breaker`.
- :mod:`vyx.analysis.offline` — the offline analyst of ``vyx demo`` (deterministic rules).
- :mod:`vyx.analysis.rows` — ``signal_analyses`` rows and ``analysis_completed`` messages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vyx.lazy import lazy_exports

if TYPE_CHECKING:
    from vyx.analysis.inputs import AnalysisContext, Candles, TraderSettings, standard_indicators
    from vyx.analysis.levels import KeyLevels, key_levels
    from vyx.analysis.offline import OFFLINE_MODEL
    from vyx.analysis.service import AnalyzerOptions, Broadcast, ConcurrentAnalyzer, run_analyzer
    from vyx.analysis.stats import AnalyzerState, AnalyzerStatistics

# Resolved on first use: importing a pure submodule (``vyx.analysis.policy``) must not load
# google-genai and the kernels (seconds and tens of MiB).
_EXPORTS = {
    "AnalysisContext": "inputs",
    "Candles": "inputs",
    "TraderSettings": "inputs",
    "standard_indicators": "inputs",
    "KeyLevels": "levels",
    "key_levels": "levels",
    "OFFLINE_MODEL": "offline",
    "AnalyzerOptions": "service",
    "Broadcast": "service",
    "ConcurrentAnalyzer": "service",
    "run_analyzer": "service",
    "AnalyzerState": "stats",
    "AnalyzerStatistics": "stats",
}

__all__ = [
    "OFFLINE_MODEL",
    "AnalysisContext",
    "AnalyzerOptions",
    "AnalyzerState",
    "AnalyzerStatistics",
    "Broadcast",
    "Candles",
    "ConcurrentAnalyzer",
    "KeyLevels",
    "TraderSettings",
    "key_levels",
    "run_analyzer",
    "standard_indicators",
]


__getattr__ = lazy_exports(__name__, _EXPORTS)
