"""The analyzer against the fake generateContent endpoint.

Every test takes ``autojump_clock`` (pytest-trio only uses a clock the test itself requests):
virtual time, nothing really sleeps, and the fake is an in-process transport (no sockets).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

from tests.vyx.analysis.conftest import KEY, MemoryStore, Signals, config, trader
from tests.vyx.analysis.fake_gemini import FakeGemini
from vyx.analysis import OFFLINE_MODEL, AnalyzerOptions, ConcurrentAnalyzer, run_analyzer
from vyx.analysis.policy import GEMINI_RETRY
from vyx.breaker import Breaker
from vyx.settings import AnalyzerConfig, StoreConfig
from vyx.signal import Signal
from vyx.store import run_store
from vyx.store.sqlite import SqliteDatabase

DAY0_MS = 1_750_000_000_000


class Rig:
    def __init__(self, fake: FakeGemini) -> None:
        self.fake = fake
        self.store = MemoryStore()
        self.messages: list[dict[str, Any]] = []
        self.now_ms = DAY0_MS

    async def start(
        self, nursery: trio.Nursery, cfg: AnalyzerConfig | None = None, **options: Any
    ) -> ConcurrentAnalyzer:
        analyzer: ConcurrentAnalyzer = await nursery.start(
            partial(
                run_analyzer,
                cfg or config(),
                self.store,
                self.messages.append,
                options=AnalyzerOptions(**options),
                http=self.fake.client(),
                now_ms=lambda: self.now_ms,
            )
        )
        return analyzer

    async def analyse_one(self, signals: Signals) -> tuple[ConcurrentAnalyzer, Signal]:
        """Start an analyzer with the default config, analyse one signal, stop."""
        async with trio.open_nursery() as nursery:
            analyzer = await self.start(nursery)
            sig, ctx = signals.make(0)
            assert analyzer.submit(sig, ctx) is True
            await self.until(lambda: len(self.messages) == 1)
            nursery.cancel_scope.cancel()
        return analyzer, sig

    async def until(self, condition: Callable[[], bool]) -> None:
        """Wait (virtual time, at most an hour) until ``condition()``; polling is fine here:
        conditions span the store, the messages and the statistics, and sleeping is free."""
        with trio.fail_after(3600):
            while not condition():  # noqa: ASYNC110
                await trio.sleep(0.05)


@pytest.fixture
def rig(fake: FakeGemini) -> Rig:
    return Rig(fake)


async def test_verdict_parsed_stored_and_broadcast(
    rig: Rig, signals: Signals, autojump_clock: trio.abc.Clock
) -> None:
    analyzer, sig = await rig.analyse_one(signals)
    row = rig.store.analyses[sig.id]
    assert row["decision"] == "enter_trade"
    assert row["confidence"] == 72
    assert row["trade_plan"]["riskReward"] == "1.5 to the first target"
    assert row["model_name"] == "gemini-2.5-flash"
    assert row["technical_indicators"]["analysis_status"] == "ok"
    assert row["technical_indicators"]["technical_context"].startswith("Uptrend")
    levels = row["key_levels"]
    assert levels["stopLoss"] < levels["entry"] < levels["takeProfit"][0]
    # Tokens come from the response's usageMetadata.
    usage = rig.fake.usage(rig.fake.requests[0], json.dumps(rig.fake.verdict), {})
    assert row["gemini_tokens_used"] == usage["totalTokenCount"] > 1000
    stats = analyzer.statistics()
    assert (stats.completed, stats.failed, stats.requests) == (1, 0, 1)
    assert stats.total_tokens == stats.tokens_today == usage["totalTokenCount"]
    message = rig.messages[0]
    assert message["type"] == "analysis_completed"
    assert message["data"]["signalId"] == sig.id
    assert message["data"]["failed"] is False
    assert message["data"]["keyLevels"] == levels
    # The request: JSON mode with our schema, the system instruction, the configured model.
    body = rig.fake.requests[0]
    gen = body["generationConfig"]
    assert gen["responseMimeType"] == "application/json"
    assert gen["responseSchema"]["properties"]["decision"]["enum"] == [
        "enter_trade",
        "bad_setup",
        "wait",
    ]
    # The SDK writes this one snake_case; proto JSON parsing accepts both spellings.
    assert list(gen["thinkingConfig"].values()) == [0]
    assert "systemInstruction" in body
    assert rig.fake.models == ["gemini-2.5-flash"]


@pytest.mark.parametrize("behaviour", ["json_mode", "thinking"])
async def test_other_success_shapes(
    rig: Rig, signals: Signals, autojump_clock: trio.abc.Clock, behaviour: str
) -> None:
    rig.fake.default = behaviour
    _, sig = await rig.analyse_one(signals)
    row = rig.store.analyses[sig.id]
    assert row["decision"] == "enter_trade"
    assert "Thinking About" not in row["raw_ai_response"]  # thought parts are not the answer
    if behaviour == "json_mode":
        # No usageMetadata in the answer: charged at the estimate, never as free.
        assert row["gemini_tokens_used"] > 1000


async def test_invalid_answer_is_retried_once(
    rig: Rig, signals: Signals, autojump_clock: trio.abc.Clock
) -> None:
    rig.fake.script.extend(["bad_json", "ok"])
    analyzer, sig = await rig.analyse_one(signals)
    assert rig.store.analyses[sig.id]["decision"] == "enter_trade"
    stats = analyzer.statistics()
    assert (stats.requests, stats.invalid_answers, stats.completed) == (2, 1, 1)


@pytest.mark.parametrize(
    ("behaviour", "reason"),
    [
        ("bad_json", "not JSON"),
        ("bad_schema", "decision must be one of"),
        ("safety", "finish reason SAFETY"),
        ("blocked", "prompt blocked: Message"),
        ("no_content", "finish reason OTHER"),  # the SDK drops finishMessage
        ("malformed", "candidate without text content"),
        # The SDK warns about an enum value it does not know (forward compatibility); in
        # production that is a warning, here warnings are errors unless ignored.
        pytest.param(
            "unknown_finish",
            "finish reason FAKE_NEW_FINISH_REASON",
            marks=pytest.mark.filterwarnings("ignore:FAKE_NEW_FINISH_REASON is not a valid"),
        ),
    ],
)
async def test_invalid_twice_is_a_failed_row_with_the_raw_text(
    rig: Rig, signals: Signals, autojump_clock: trio.abc.Clock, behaviour: str, reason: str
) -> None:
    rig.fake.default = behaviour
    analyzer, sig = await rig.analyse_one(signals)
    row = rig.store.analyses[sig.id]
    assert len(rig.fake.requests) == 2
    assert row["decision"] == "wait"
    assert row["confidence"] == 0
    assert row["reasoning"].startswith("Analysis failed: invalid answer: ")
    assert reason in row["reasoning"]
    assert row["technical_indicators"]["analysis_status"] == "failed"
    assert row["trade_plan"] == {}  # NOT NULL in the original product's table
    assert row["raw_ai_response"]  # what the model said, kept for inspection
    if behaviour in ("bad_json", "safety"):
        assert row["raw_ai_response"].startswith(("{", "Safety error"))
    assert rig.messages[0]["data"]["failed"] is True
    assert rig.messages[0]["data"]["tradePlan"] is None
    assert analyzer.statistics().failed == 1


@pytest.mark.parametrize("behaviour", ["400", "404"])
async def test_client_errors_are_not_retried_and_never_leak_the_key(
    rig: Rig, signals: Signals, autojump_clock: trio.abc.Clock, behaviour: str
) -> None:
    rig.fake.default = behaviour
    analyzer, sig = await rig.analyse_one(signals)
    row = rig.store.analyses[sig.id]
    assert len(rig.fake.requests) == 1
    assert row["reasoning"].startswith(f"Analysis failed: {behaviour}")
    stats = analyzer.statistics()
    assert stats.client_errors == 1
    assert stats.breaker == "closed"
    assert KEY not in json.dumps(row)
    assert KEY not in (stats.last_error or "")
    assert KEY not in repr(analyzer.cfg)


async def test_429_honours_the_retry_delay(
    rig: Rig, signals: Signals, autojump_clock: trio.abc.Clock
) -> None:
    rig.fake.script.extend(["429", "ok"])
    rig.fake.retry_delay = "37s"
    analyzer, sig = await rig.analyse_one(signals)
    first, second = rig.fake.starts
    assert 37.0 <= second - first <= 39.0  # the asked delay plus at most base_s of jitter
    assert rig.store.analyses[sig.id]["decision"] == "enter_trade"
    stats = analyzer.statistics()
    assert (stats.rate_limited, stats.retries, stats.completed) == (1, 1, 1)


async def test_503_is_retried_with_backoff(
    rig: Rig, signals: Signals, autojump_clock: trio.abc.Clock
) -> None:
    rig.fake.script.extend(["503", "503", "ok"])
    analyzer, sig = await rig.analyse_one(signals)
    a, b, c = rig.fake.starts
    assert 0.5 <= b - a <= 1.0
    assert 1.0 <= c - b <= 2.0
    assert analyzer.statistics().server_errors == 2
    assert rig.store.analyses[sig.id]["decision"] == "enter_trade"


async def test_a_429_storm_backs_off_and_opens_the_breaker(
    rig: Rig, signals: Signals, autojump_clock: trio.abc.Clock
) -> None:
    rig.fake.default = "429_plain"  # no retry delay given: our own backoff
    async with trio.open_nursery() as nursery:
        analyzer = await rig.start(
            nursery,
            config(requests_per_minute=1000, max_concurrency=4),
            breaker=Breaker(threshold=5, cooldown_s=60.0, max_cooldown_s=300.0),
        )
        for i in range(20):
            analyzer.submit(*signals.make(i))
        await trio.sleep(900)  # 15 minutes of storm
        stats = analyzer.statistics()
        storm = list(rig.fake.starts)
        rig.fake.default = "ok"  # the quota comes back
        await rig.until(lambda: len(rig.messages) == 20)
        after = analyzer.statistics()
        nursery.cancel_scope.cancel()
    # Without backoff 4 workers would send thousands of requests in 15 min; with it a handful:
    # retries back off (a 429 holds every worker), then the breaker lets one probe through
    # per open period, the period doubling up to its cap.
    assert stats.rate_limited == len(storm) <= 12
    assert stats.state == "circuit_open"
    assert stats.breaker in ("open", "half_open")
    late = [t for t in storm if t > 60]
    gaps = [b - a for a, b in itertools.pairwise(late)]
    assert gaps == sorted(gaps)
    assert min(gaps) >= 59
    assert max(gaps) <= 301
    # Nothing was lost meanwhile: the queued signals waited, then were analysed.
    assert stats.queue_depth + stats.busy + stats.failed == 20
    assert stats.completed == 0
    assert after.state == "running"
    assert after.completed + after.failed == 20
    assert after.completed >= 16


async def test_breaker_recovers_when_the_api_does(
    rig: Rig, signals: Signals, autojump_clock: trio.abc.Clock
) -> None:
    rig.fake.script.extend(["503"] * 5)
    async with trio.open_nursery() as nursery:
        analyzer = await rig.start(
            nursery,
            config(max_concurrency=1),
            retry=attrs.evolve(GEMINI_RETRY, max_attempts=6),
            breaker=Breaker(threshold=3, cooldown_s=30.0),
        )
        sig, ctx = signals.make(0)
        analyzer.submit(sig, ctx)
        await rig.until(lambda: analyzer.statistics().breaker == "open")
        assert analyzer.statistics().state == "circuit_open"
        await rig.until(lambda: len(rig.messages) == 1)
        stats = analyzer.statistics()
        nursery.cancel_scope.cancel()
    assert rig.store.analyses[sig.id]["decision"] == "enter_trade"
    assert stats.breaker == "closed"
    assert stats.state == "running"


async def test_concurrency_and_rate_limits_hold_at_the_fake(
    rig: Rig, signals: Signals, autojump_clock: trio.abc.Clock
) -> None:
    rig.fake.latency_s = 7.0
    async with trio.open_nursery() as nursery:
        analyzer = await rig.start(nursery, config(max_concurrency=3, requests_per_minute=12))
        for i in range(40):
            assert analyzer.submit(*signals.make(i))
        await rig.until(lambda: len(rig.messages) == 40)
        nursery.cancel_scope.cancel()
    assert rig.fake.max_in_flight == 3
    starts = rig.fake.starts
    for i, t in enumerate(starts):
        assert sum(1 for u in starts[i:] if u < t + 60.0) <= 12
    # 40 analyses at 12/min take a little over 3 minutes (the first 12 start at once).
    assert 180.0 <= starts[-1] - starts[0] <= 200.0
    assert len(rig.store.analyses) == 40


async def test_budget_exhaustion_stops_calls_and_says_so(
    rig: Rig, signals: Signals, autojump_clock: trio.abc.Clock
) -> None:
    per_call = 3800  # the estimate reserved per call: prompt (~2.3k) + output allowance (1024)
    async with trio.open_nursery() as nursery:
        analyzer = await rig.start(
            nursery, config(daily_token_budget=3 * per_call, max_concurrency=1)
        )
        for i in range(6):
            assert analyzer.submit(*signals.make(i))
        await rig.until(lambda: analyzer.statistics().queue_depth == 0)
        await rig.until(lambda: analyzer.statistics().busy == 0)
        stats = analyzer.statistics()
        assert stats.state == "budget_exhausted"
        assert 0 < stats.tokens_today <= 3 * per_call
        made = len(rig.fake.requests)
        assert 2 <= made < 6
        assert stats.completed == made
        assert stats.abandoned_budget == 6 - made
        # Now nothing is even queued.
        sig, ctx = signals.make(10)
        assert analyzer.submit(sig, ctx) is False
        assert analyzer.statistics().skipped["budget_exhausted"] == 1
        # A new UTC day: the budget is back.
        rig.now_ms += 86_400_000
        assert analyzer.statistics().state == "running"
        assert analyzer.submit(sig, ctx) is True
        await rig.until(lambda: sig.id in rig.store.analyses)
        nursery.cancel_scope.cancel()
    assert len(rig.fake.requests) == made + 1


async def test_a_hung_api_never_delays_signals(
    rig: Rig, signals: Signals, autojump_clock: trio.abc.Clock
) -> None:
    rig.fake.default = "hang"
    async with trio.open_nursery() as nursery:
        analyzer = await rig.start(
            nursery,
            config(max_concurrency=2, timeout_s=10.0),
            queue_size=8,
            retry=attrs.evolve(GEMINI_RETRY, max_attempts=2),
        )
        await trio.sleep(1)
        accepted = []
        before = trio.current_time()
        for i in range(50):  # the screener submits while every call hangs
            accepted.append(analyzer.submit(*signals.make(i)))
        assert trio.current_time() == before  # submit is synchronous: it cannot wait
        assert accepted.count(True) == 8
        assert accepted.count(False) == 42
        await trio.sleep(5)
        assert rig.fake.in_flight == 2  # the workers are stuck, the screener is not
        stats = analyzer.statistics()
        assert (stats.queue_depth, stats.dropped, stats.in_flight) == (6, 42, 2)
        # Each call hits its deadline, is retried once, then recorded as failed.
        await rig.until(lambda: len(rig.messages) == 8)
        nursery.cancel_scope.cancel()
    stats = analyzer.statistics()
    assert stats.timeouts == 16
    assert stats.failed == 8
    assert all("no answer within 10.0s" in r["reasoning"] for r in rig.store.analyses.values())


async def test_full_queue_evicts_lower_priority(
    rig: Rig, signals: Signals, autojump_clock: trio.abc.Clock
) -> None:
    rig.fake.default = "hang"
    async with trio.open_nursery() as nursery:
        analyzer = await rig.start(nursery, config(max_concurrency=1), queue_size=2)
        analyzer.submit(*signals.make(0, priority=5))
        await trio.sleep(1)  # the worker takes it and hangs
        low = signals.make(1, priority=5)
        assert analyzer.submit(*low)
        assert analyzer.submit(*signals.make(2, priority=5))
        assert analyzer.submit(*signals.make(3, priority=9)) is False  # worse: refused
        assert analyzer.submit(*signals.make(4, priority=1)) is True  # better: evicts the newest
        assert analyzer.statistics().dropped == 2
        # The evicted signal may come back (it was never analysed) and evicts the other 5.
        assert analyzer.submit(*signals.make(2, priority=1)) is True
        assert analyzer.submit(*signals.make(5, priority=1)) is False  # FIFO among equals
        assert analyzer.statistics().queue_depth == 2
        nursery.cancel_scope.cancel()


async def test_admission_rules(rig: Rig, signals: Signals, autojump_clock: trio.abc.Clock) -> None:
    async with trio.open_nursery() as nursery:
        analyzer = await rig.start(nursery)
        assert analyzer.submit(*signals.make(0, provisional=True)) is False
        assert analyzer.submit(*signals.make(1, trader(auto=False))) is False
        sig, ctx = signals.make(2)
        assert analyzer.submit(sig, ctx) is True
        assert analyzer.submit(sig, ctx) is False  # one analysis per signal id
        limited = trader(aiAnalysisLimit="2")
        assert analyzer.submit(*signals.make(3, limited)) is True  # 2nd of trader-1 today
        assert analyzer.submit(*signals.make(4, limited)) is False
        await rig.until(lambda: len(rig.messages) == 2)
        nursery.cancel_scope.cancel()
    assert analyzer.statistics().skipped == {
        "provisional": 1,
        "auto_analyze_off": 1,
        "duplicate": 1,
        "trader_limit": 1,
    }


async def test_no_api_key_is_disabled_and_nothing_else(
    rig: Rig, signals: Signals, autojump_clock: trio.abc.Clock
) -> None:
    async with trio.open_nursery() as nursery:
        analyzer = await rig.start(nursery, config(api_key=None))
        assert analyzer.submit(*signals.make(0)) is False
        stats = analyzer.statistics()
        nursery.cancel_scope.cancel()
    assert stats.state == "disabled"
    assert stats.skipped == {"disabled": 1}
    assert rig.fake.requests == []
    assert rig.store.writes == 0


async def test_offline_analyst_fills_the_same_fields(
    rig: Rig, signals: Signals, autojump_clock: trio.abc.Clock
) -> None:
    async with trio.open_nursery() as nursery:
        analyzer = await rig.start(nursery, config(api_key=None), offline=True)
        for i in range(3):
            assert analyzer.submit(*signals.make(i * 50))
        await rig.until(lambda: len(rig.messages) == 3)
        nursery.cancel_scope.cancel()
    assert analyzer.statistics().state == "offline"
    assert rig.fake.requests == []
    for row in rig.store.analyses.values():
        assert row["model_name"] == OFFLINE_MODEL
        assert row["reasoning"].startswith("[Offline analyst: deterministic rules")
        assert row["decision"] in ("enter_trade", "bad_setup", "wait")
        assert set(row["trade_plan"]) == {"setup", "execution", "invalidation", "riskReward"}
        assert row["gemini_tokens_used"] == 0


async def test_rows_land_in_the_sqlite_store(
    fake: FakeGemini, signals: Signals, tmp_path: Path
) -> None:
    """Real time here: the SQLite store writes from a worker thread (the fake answers at once)."""
    rig = Rig(fake)
    rig.fake.script.extend(["ok", "bad_json", "bad_json"])
    store_cfg = StoreConfig(data_dir=tmp_path, batch_rows=10, flush_interval_ms=50)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            rig.store = await nursery.start(run_store, store_cfg)
            analyzer = await rig.start(nursery, config(max_concurrency=1))
            good, bad = signals.make(0), signals.make(1)
            assert analyzer.submit(*good)
            assert analyzer.submit(*bad)
            await rig.until(lambda: len(rig.messages) == 2)
            await rig.store.flush()
            nursery.cancel_scope.cancel()
    db = SqliteDatabase.open(store_cfg.database_path)
    try:
        rows = {r["signal_id"]: r for r in db.select("signal_analyses")}
    finally:
        db.close()
    assert rows[good[0].id]["decision"] == "enter_trade"
    assert rows[good[0].id]["key_levels"]["stopLoss"] < rows[good[0].id]["key_levels"]["entry"]
    failed = rows[bad[0].id]
    assert failed["technical_indicators"]["analysis_status"] == "failed"
    assert failed["raw_ai_response"].startswith('{"decision": "enter_trade", "confidence": 7')
