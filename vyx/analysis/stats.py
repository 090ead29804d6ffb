"""The analyzer's statistics snapshot (for ``/health``, ``/metrics`` and ``cloud_metrics``)."""

from __future__ import annotations

import collections
from collections.abc import Mapping
from typing import Literal

import attrs

from vyx.breaker import BreakerState

#: ``disabled``: no API key (nothing runs); ``offline``: the offline analyst (``vyx demo``);
#: ``running``; ``circuit_open``: calls paused after repeated API failures;
#: ``budget_exhausted``: today's token budget is spent, no calls until UTC midnight.
AnalyzerState = Literal["disabled", "offline", "running", "circuit_open", "budget_exhausted"]


@attrs.frozen
class AnalyzerStatistics:
    """A snapshot of the analyzer."""

    #: See :data:`AnalyzerState`.
    state: AnalyzerState
    #: Model name written into rows (``vyx-offline-analyst`` offline).
    model: str
    #: Signals waiting in the queue.
    queue_depth: int
    #: Queue capacity (submissions beyond it are dropped or evict a lower priority).
    queue_capacity: int
    #: Analyses being worked on (building inputs, waiting for a slot, calling, storing).
    busy: int
    #: HTTP requests to Gemini in flight now.
    in_flight: int
    #: submit() calls.
    submitted: int
    #: Signals queued for analysis.
    accepted: int
    #: Signals dropped because the queue was full (including evicted lower priorities).
    dropped: int
    #: Signals not queued, by reason (provisional, auto_analyze_off, duplicate, trader_limit,
    #: budget_exhausted, disabled).
    skipped: Mapping[str, int]
    #: Analyses stored with a verdict.
    completed: int
    #: Analyses stored as failed (invalid answer twice, API error, retries exhausted).
    failed: int
    #: Queued analyses abandoned because the token budget ran out.
    abandoned_budget: int
    #: Analyses that crashed (a bug: logged with its traceback, the worker goes on).
    crashed: int
    #: generateContent requests sent through the analyzer's gate (by every caller sharing it).
    requests: int
    #: Requests answered 429, answered 5xx, timed out, failed in transport, rejected as 4xx.
    rate_limited: int
    server_errors: int
    timeouts: int
    transport_errors: int
    client_errors: int
    #: Answers that failed validation.
    invalid_answers: int
    #: Retries after a retryable outcome (invalid-answer retries not included).
    retries: int
    #: Tokens used today (UTC) per usageMetadata, and the daily budget (0: unlimited).
    tokens_today: int
    daily_token_budget: int
    #: Tokens used since start: prompt, output (incl. thoughts), total.
    prompt_tokens: int
    output_tokens: int
    total_tokens: int
    #: Analysis latency (dequeue to stored) over the last 256 analyses, ms (None: none yet).
    latency_ms_p50: float | None
    latency_ms_p95: float | None
    #: Time signals waited in the queue, p95 over the last 256, ms.
    queue_wait_ms_p95: float | None
    #: Requests started in the last 60 s, and the limit.
    requests_last_minute: int
    requests_per_minute: int
    breaker: BreakerState
    #: The last error (API key redacted), if any.
    last_error: str | None
    #: Jobs of an earlier run queued again at start (the journal), and those past their deadline
    #: then (not analysed).
    resumed: int = 0
    expired: int = 0


class Percentiles:
    """The last ``size`` samples, for p50/p95."""

    def __init__(self, size: int = 256) -> None:
        self._samples: collections.deque[float] = collections.deque(maxlen=size)

    def add(self, value: float) -> None:
        """Record a sample."""
        self._samples.append(value)

    def quantile(self, q: float) -> float | None:
        """The ``q`` quantile (nearest rank), None when empty."""
        if not self._samples:
            return None
        ordered = sorted(self._samples)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
