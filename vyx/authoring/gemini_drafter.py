"""Drafting with Gemini, the compiler in the loop.

::

    words ──► system: task + language reference; user: the words (+ context)
                │
                ▼  round n (n ≤ rounds)
        GeminiGate.request ──► JSON answer ──► parse ──► check_proposal (worker thread)
                │                  │ not the JSON asked for      │ does not compile / over budget /
                │                  ▼                             ▼ timeframe not allowed
                │            "not the JSON object: …"     "line:col: message" (the compiler's)
                │                  └──────── model turn + user turn ──► round n+1
                ▼
        a Draft that compiles, or the last round's problems

Every call passes the :class:`~vyx.analysis.gate.GeminiGate` (breaker, RPM window, daily token
budget; 429/5xx/timeouts retried there with backoff and ``Retry-After``): give the drafter the
analyzer's gate to share the machine's limits. It is never on the screening path: it runs only
when a user asks for a draft.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager

import attrs
import httpx
import trio
from google.genai import types

from kernels.timeframes import TIMEFRAME_MS
from vyx.analysis import gemini
from vyx.analysis.gate import GeminiGate
from vyx.analysis.policy import GEMINI_RETRY
from vyx.analysis.prompt import estimate_tokens
from vyx.analysis.verdict import InvalidAnswer, answer_text
from vyx.authoring.answer import parse_proposal, response_schema
from vyx.authoring.draft import ROUNDS, DraftResult, Problem, Round, check_proposal
from vyx.authoring.phrasebook import MAX_WORDS_CHARS
from vyx.authoring.prompt import compiler_turn, first_turn, invalid_turn, system_instruction
from vyx.retry import RetryPolicy
from vyx.settings import AnalyzerConfig

#: A draft is a few hundred tokens; no thinking (predictable cost).
GENERATION = gemini.GenerationSettings(temperature=0.2, max_output_tokens=2048, thinking_budget=0)


def _turn(role: str, text: str) -> types.Content:
    return types.Content(role=role, parts=[types.Part(text=text)])


@attrs.define
class GeminiDrafter:
    """Drafts traders with the model behind ``gate`` (its client must be set)."""

    gate: GeminiGate
    model: str
    rounds: int = ROUNDS
    retry: RetryPolicy = GEMINI_RETRY
    generation: gemini.GenerationSettings = GENERATION

    async def draft(
        self,
        words: str,
        *,
        timeframe: str = "5m",
        allowed_timeframes: Collection[str] | None = None,
        context: str = "",
    ) -> DraftResult:
        """Draft a trader from ``words`` (see the module docstring). Never raises for what the
        model or the API does: failures are :attr:`DraftResult.problems`. Cancellation aborts
        the call in flight."""
        if not (words.strip() or context.strip()) or len(words) > MAX_WORDS_CHARS:
            problem = Problem(f"describe the trader in 1 to {MAX_WORDS_CHARS} characters")
            return DraftResult(None, (problem,))
        allowed = list(allowed_timeframes) if allowed_timeframes is not None else list(TIMEFRAME_MS)
        system = system_instruction()
        config = gemini.request_config(system, self.generation, response_schema(allowed))
        request = first_turn(words, timeframe=timeframe, allowed=allowed, context=context)
        turns = [_turn("user", request)]
        rounds: list[Round] = []
        tokens = 0
        for n in range(1, self.rounds + 1):
            estimate = estimate_tokens(system + _text(turns)) + self.generation.max_output_tokens
            reply = await self.gate.request(self.model, list(turns), config, estimate, self.retry)
            tokens += reply.usage.total
            if reply.response is None:
                error = reply.error
                message = error.message if error is not None else "no answer"
                problem = Problem(f"Gemini: {message}")
                return DraftResult(None, (problem,), tuple(rounds), tokens, unavailable=True)
            try:
                raw = answer_text(reply.response)
                proposal = parse_proposal(raw)
            except InvalidAnswer as bad:
                problems = (Problem(f"the model's answer was unusable: {bad.reason}"),)
                rounds.append(Round(None, bad.raw, problems))
                again = invalid_turn(bad.reason, n, self.rounds)
                turns += [_turn("model", bad.raw or "(nothing)"), _turn("user", again)]
                continue
            check = functools.partial(
                check_proposal, proposal, allowed_timeframes=allowed, origin=self.model
            )
            checked = await trio.to_thread.run_sync(check)
            if not isinstance(checked, list):
                rounds.append(Round(proposal, raw, ()))
                return DraftResult(checked, (), tuple(rounds), tokens)
            rounds.append(Round(proposal, raw, tuple(checked)))
            turns += [_turn("model", raw), _turn("user", compiler_turn(checked, n, self.rounds))]
        return DraftResult(None, rounds[-1].problems, tuple(rounds), tokens)


def _text(turns: list[types.Content]) -> str:
    return "".join(p.text or "" for t in turns for p in t.parts or ())


@asynccontextmanager
async def open_gemini_drafter(
    cfg: AnalyzerConfig, *, http: httpx.AsyncClient | None = None
) -> AsyncIterator[GeminiDrafter]:
    """A drafter with a gate of its own (the CLI's; the daemon shares the analyzer's gate).
    ``http`` (tests) is used as given and not closed. Raises ValueError without an API key."""
    gate = GeminiGate(cfg)
    owned = None
    if http is None:
        owned = http = httpx.AsyncClient(timeout=httpx.Timeout(cfg.timeout_s + 5.0))
    try:
        gate.client = gemini.make_client(cfg, http)
        yield GeminiDrafter(gate, cfg.model)
    finally:
        if owned is not None:
            with trio.CancelScope(shield=True), trio.move_on_after(2.0):
                await owned.aclose()
