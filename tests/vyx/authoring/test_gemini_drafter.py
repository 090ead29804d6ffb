"""Drafting with Gemini against the fake generateContent endpoint: broken drafts go back to the
model with exactly what the compiler said, until a draft compiles or the rounds run out.

Every test takes ``autojump_clock``: virtual time (a 429's Retry-After costs nothing)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio

from kernels.lang import CompileError, check
from kernels.lang.catalog import FUNCTIONS
from tests.vyx.analysis.conftest import KEY, MemoryStore, config
from tests.vyx.analysis.fake_gemini import FakeGemini
from vyx.analysis import ConcurrentAnalyzer
from vyx.analysis.gemini import make_client
from vyx.authoring import GeminiDrafter, open_gemini_drafter
from vyx.authoring.draft import Problem

GOOD = {
    "name": "RSI dip in an uptrend",
    "timeframe": "5m",
    "filter": "rsi(14) < 30 and close > ema(close, 200)",
    "clauses": [
        {"clause": "rsi(14) < 30", "checks": "RSI is oversold"},
        {"clause": "close > ema(200)", "checks": "price is above its 200-bar EMA"},
    ],
}
DAY0_MS = 1_750_000_000_000
WORDS = "RSI below 30 while price holds above the 200 EMA"


def answer(filter_text: str, timeframe: str = "5m") -> str:
    return json.dumps({**GOOD, "filter": filter_text, "timeframe": timeframe})


def compiler_says(source: str, timeframe: str = "5m") -> list[str]:
    """What kernels.lang.check reports for ``source``, as ``line:col: message`` lines."""
    with pytest.raises(CompileError) as caught:
        check(source, timeframe=timeframe)
    return [f"{d.span.line}:{d.span.col}: {d.message}" for d in caught.value.diagnostics]


def sent_back(turn: str) -> list[str]:
    """The error lines of a compiler turn."""
    body = turn.split("The compiler says:\n", 1)[1]
    return body.split("\nFix every error", 1)[0].splitlines()


@asynccontextmanager
async def drafter(fake: FakeGemini, **cfg: Any) -> AsyncIterator[GeminiDrafter]:
    async with open_gemini_drafter(config(**cfg), http=fake.client()) as d:
        yield d


BROKEN = {
    "syntax error": "rsi(14) < and close >",
    "unknown function and name": "rsi(14) < 30 and\nfoo(3) > clse",
    "lookback over budget": "close > close[5000]",
    "nesting over budget": "(" * 80 + "close" + ")" * 80 + " > 0",
    "shorter timeframe than the trader's": 'rsi(14) < 30 and on("1m", close > open)',
}


@pytest.mark.parametrize("broken", list(BROKEN.values()), ids=list(BROKEN))
async def test_a_broken_draft_goes_back_with_exactly_the_compilers_errors(
    fake: FakeGemini, broken: str, autojump_clock: trio.abc.Clock
) -> None:
    fake.script.extend(["text", "text"])
    fake.texts.extend([answer(broken), json.dumps(GOOD)])
    async with drafter(fake) as d:
        result = await d.draft(WORDS)
    assert result.draft is not None
    assert result.draft.normalized == "rsi(14) < 30 and close > ema(200)"
    assert [c.explanation for c in result.draft.clauses] == [
        "RSI is oversold",
        "price is above its 200-bar EMA",
    ]
    assert len(fake.requests) == 2
    (role1, asked), (role2, said), (role3, feedback) = fake.turns(1)
    assert (role1, role2, role3) == ("user", "model", "user")
    assert WORDS in asked
    assert json.loads(said)["filter"] == broken
    assert sent_back(feedback) == compiler_says(broken)
    assert [str(p) for p in result.rounds[0].problems] == compiler_says(broken)
    assert "round 1 of 3" in feedback


async def test_timeframes_not_allowed_go_back_with_our_rule_and_position(
    fake: FakeGemini, autojump_clock: trio.abc.Clock
) -> None:
    wrong_on = 'rsi(14) < 30 and on("4h", close > ema(50))'
    fake.script.extend(["text", "text", "text"])
    fake.texts.extend([answer("rsi(14) < 30", "3m"), answer(wrong_on), json.dumps(GOOD)])
    async with drafter(fake) as d:
        result = await d.draft(WORDS, allowed_timeframes=["5m", "15m", "1h"])
    assert result.ok
    assert sent_back(fake.turns(1)[-1][1]) == [
        "timeframe: '3m' is not available here (one of 5m, 15m, 1h)"
    ]
    assert sent_back(fake.turns(2)[-1][1]) == [
        "1:18: timeframe '4h' is not available here (one of 5m, 15m, 1h)"
    ]
    schema = fake.requests[0]["generationConfig"]["responseSchema"]
    assert schema["properties"]["timeframe"]["enum"] == ["5m", "15m", "1h"]


async def test_malformed_answers_429_and_5xx_then_a_draft(
    fake: FakeGemini, autojump_clock: trio.abc.Clock
) -> None:
    fake.script.extend(["text", "429", "503", "text"])
    fake.retry_delay = "37s"
    fake.texts.extend(['{"name": "x", "filter": "rsi(14', json.dumps(GOOD)])
    async with drafter(fake) as d:
        result = await d.draft(WORDS)
        stats = d.gate.counts
    assert result.ok
    assert len(result.rounds) == 2  # the malformed answer took a round; 429 and 503 did not
    assert (
        result.rounds[0].problems[0].message.startswith("the model's answer was unusable: not JSON")
    )
    _, limited, failed, _ = fake.starts
    assert 37.0 <= failed - limited <= 39.0  # Retry-After honoured (plus jitter)
    role, feedback = fake.turns(3)[-1]
    assert role == "user"
    assert "was not the JSON object asked for (round 1 of 3): not JSON" in feedback
    assert (stats["rate_limited"], stats["server"], stats["retries"]) == (1, 1, 2)
    assert result.tokens > 0


async def test_after_the_last_round_the_user_gets_the_last_errors(
    fake: FakeGemini, autojump_clock: trio.abc.Clock
) -> None:
    fake.default = "text"
    fake.texts.extend([answer("foo(1) > 0"), answer("rsi(14) <"), answer("rsi(14) < clse")])
    async with drafter(fake) as d:
        result = await d.draft(WORDS)
    assert result.draft is None
    assert not result.unavailable
    assert len(fake.requests) == len(result.rounds) == 3
    assert [str(p) for p in result.problems] == compiler_says("rsi(14) < clse")


async def test_a_rejected_key_is_reported_without_the_key(
    fake: FakeGemini, autojump_clock: trio.abc.Clock
) -> None:
    fake.script.append("400")
    async with drafter(fake) as d:
        result = await d.draft(WORDS)
    assert result.draft is None
    assert result.unavailable
    assert result.problems[0].message.startswith("Gemini: 400 INVALID_ARGUMENT")
    assert KEY not in result.problems[0].message
    assert len(fake.requests) == 1  # a client error is not retried


async def test_the_shared_budget_refuses_before_any_call(
    fake: FakeGemini, autojump_clock: trio.abc.Clock
) -> None:
    async with drafter(fake, daily_token_budget=1000) as d:
        result = await d.draft(WORDS)
    assert result.unavailable
    assert result.problems == (Problem("Gemini: daily token budget exhausted"),)
    assert fake.requests == []


async def test_a_drafter_on_the_analyzers_gate_shares_its_limits(
    fake: FakeGemini, autojump_clock: trio.abc.Clock
) -> None:
    cfg = config(daily_token_budget=100_000)
    analyzer = ConcurrentAnalyzer(cfg, MemoryStore(), [].append, now_ms=lambda: DAY0_MS)
    async with fake.client() as http:
        analyzer.gate.client = make_client(cfg, http)
        fake.script.append("text")
        fake.texts.append(json.dumps(GOOD))
        result = await GeminiDrafter(analyzer.gate, cfg.model).draft(WORDS)
    assert result.ok
    stats = analyzer.statistics()
    assert stats.requests == 1
    assert stats.tokens_today == result.tokens > 0


async def test_the_request_carries_the_language_reference(
    fake: FakeGemini, autojump_clock: trio.abc.Clock
) -> None:
    fake.script.append("text")
    fake.texts.append(json.dumps(GOOD))
    async with drafter(fake) as d:
        await d.draft(WORDS, context="return helpers.getLatestRSI(klines) < 30;")
    body = fake.requests[0]
    system = "".join(p["text"] for p in body["systemInstruction"]["parts"])
    assert "or_expr    = and_expr" in system  # the grammar, from kernels/lang
    assert all(f"- {spec.signature} " in system for spec in FUNCTIONS.values())
    assert "crosses_above(macd(12, 26, 9).hist, 0)" in system  # an example trader
    assert "getLatestRSI" in fake.turns(0)[0][1]
    assert body["generationConfig"]["responseMimeType"] == "application/json"
