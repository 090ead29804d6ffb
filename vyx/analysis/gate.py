"""The machine's one door to Gemini: whoever calls (the analyzer, the trader drafter), every
request passes the same circuit breaker, requests-per-minute window and daily token budget, with
the same deadline and the same retries.

::

    caller ──request(contents, config, estimate, retry)──► slot: breaker · RPM window · budget
                                                            generateContent (deadline)
                                                            settle the tokens, record the outcome
                                                            retryable? back off (a 429 holds
                                                            every caller), then again
    caller ◄── Reply(response | last error, usage, retries taken, every error) ──┘

The decisions are the pure objects of :mod:`vyx.breaker` and :mod:`vyx.analysis.policy`; the
gate applies them on the
Trio clock. Share one gate between callers to share the limits (``ConcurrentAnalyzer.gate``).
"""

from __future__ import annotations

import collections
import math
import time
from collections.abc import Callable

import attrs
import trio
from google import genai
from google.genai import types
from loguru import logger

from vyx.analysis import gemini
from vyx.analysis.policy import TokenBudget
from vyx.analysis.verdict import Usage
from vyx.breaker import RETRYABLE, Breaker, Outcome, RateWindow
from vyx.retry import RetryPolicy
from vyx.settings import AnalyzerConfig


def wall_ms() -> int:
    """Epoch milliseconds (the UTC-day budgets' clock)."""
    return int(time.time() * 1000)


@attrs.frozen
class Reply:
    """How one :meth:`GeminiGate.request` ended."""

    #: The model's response (None: every attempt failed, see :attr:`error`).
    response: types.GenerateContentResponse | None
    #: Tokens charged for every attempt.
    usage: Usage
    #: The retry policy after the retries this request took.
    retry: RetryPolicy
    #: Every failed attempt, in order (the last one is why :attr:`response` is None).
    errors: tuple[gemini.CallError, ...] = ()
    #: The daily token budget could not cover the estimate: no (further) call was made.
    abandoned: bool = False

    @property
    def error(self) -> gemini.CallError | None:
        """Why there is no response (None when there is one)."""
        if self.response is not None:
            return None
        if self.abandoned:
            return gemini.CallError("client", "daily token budget exhausted")
        return self.errors[-1] if self.errors else None


class GeminiGate:
    """See the module docstring. :attr:`client` is set by the owner once its HTTP client is
    open (:func:`vyx.analysis.gemini.make_client`); requests need it."""

    def __init__(
        self,
        cfg: AnalyzerConfig,
        *,
        breaker: Breaker | None = None,
        now_ms: Callable[[], int] = wall_ms,
    ) -> None:
        self.cfg = cfg
        self.breaker = breaker or Breaker()
        self.budget = TokenBudget(cfg.daily_token_budget)
        self.window = RateWindow(max(1, cfg.requests_per_minute))
        self.client: genai.Client | None = None
        self.now_ms = now_ms
        #: HTTP requests to Gemini in flight now (every caller).
        self.in_flight = 0
        self.last_error: str | None = None
        #: Since start: ``requests``, ``retries`` and each failed attempt's outcome.
        self.counts: collections.Counter[str] = collections.Counter()
        self._changed = trio.lowlevel.ParkingLot()

    async def request(
        self,
        model: str,
        contents: types.ContentListUnion,
        config: types.GenerateContentConfig,
        estimate: int,
        retry: RetryPolicy,
    ) -> Reply:
        """Call ``generateContent`` until a response, a terminal error or the end of ``retry``.

        ``estimate`` (tokens) is reserved from the budget before each attempt and replaced by
        the real count after it. Cancellation aborts the call in flight, which is charged at
        its estimate."""
        used = Usage()
        errors: list[gemini.CallError] = []
        while True:
            if not await self._slot(estimate):
                return Reply(None, used, retry, tuple(errors), abandoned=True)
            self.counts["requests"] += 1
            charged = estimate
            try:
                response, error = await self._call(model, contents, config)
                usage = Usage.of(response.usage_metadata) if response is not None else Usage()
                # An answer without usageMetadata is charged at the estimate (never undercount).
                charged = usage.total if usage.total or response is None else estimate
                used += attrs.evolve(usage, total=charged)
            finally:
                self.budget.settle(estimate, charged, self.now_ms())
            now = trio.current_time()
            if response is not None:
                self.record("ok", now)
                return Reply(response, used, retry, tuple(errors))
            assert error is not None
            errors.append(error)
            self.counts[error.outcome] += 1
            self.last_error = error.message
            self.record(error.outcome, now)
            if error.outcome not in RETRYABLE or retry.exhausted:
                return Reply(None, used, retry, tuple(errors))
            delay = retry.delay(error.retry_after_s)
            retry = retry.failed()
            self.counts["retries"] += 1
            if error.outcome == "rate_limited":
                self.window.hold(now + delay)  # the quota is shared: every caller waits
            await trio.sleep(delay)

    async def _slot(self, estimate: int) -> bool:
        """Wait until the breaker, the RPM window and the budget allow one request and take it;
        False when the budget cannot cover ``estimate`` today."""
        while True:
            now = trio.current_time()
            wait = self.window.wait_s(now)
            if wait <= 0:
                allowed, breaker = self.breaker.allow(now)
                if allowed:
                    if not self.budget.reserve(estimate, self.now_ms()):
                        return False  # the breaker's probe was not taken: keep it as it was
                    self.breaker = breaker
                    self.window.take(now)
                    return True
                wait = self.breaker.wait_s(now) or math.inf
            with trio.move_on_after(wait):
                await self._changed.park()

    def record(self, outcome: Outcome, now: float) -> None:
        """Feed an attempt's outcome to the breaker and wake the callers waiting for a slot."""
        before = self.breaker.state
        self.breaker = self.breaker.record(outcome, now)
        if self.breaker.state == "open" and before != "open":
            logger.warning(
                "Gemini keeps failing ({}); calls paused for {:.0f}s",
                self.last_error,
                self.breaker.period_s,
            )
        self._changed.unpark_all()

    async def _call(
        self, model: str, contents: types.ContentListUnion, config: types.GenerateContentConfig
    ) -> tuple[types.GenerateContentResponse | None, gemini.CallError | None]:
        if self.client is None:
            raise RuntimeError("the gate has no client: set GeminiGate.client first")
        self.in_flight += 1
        try:
            with trio.move_on_after(self.cfg.timeout_s) as scope:
                response = await gemini.generate(self.client, model, contents, config)
            if scope.cancelled_caught:
                return None, gemini.CallError("timeout", f"no answer within {self.cfg.timeout_s}s")
            return response, None
        except Exception as exc:
            return None, gemini.classify(exc, self.cfg.api_key)
        finally:
            self.in_flight -= 1
