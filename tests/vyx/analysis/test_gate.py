"""The Gemini gate on its own: what a cancelled call costs, and a breaker shared by callers."""

from __future__ import annotations

import attrs
import trio

from tests.vyx.analysis.conftest import config
from tests.vyx.analysis.fake_gemini import FakeGemini
from vyx.analysis import gemini
from vyx.analysis.gate import GeminiGate
from vyx.analysis.policy import GEMINI_RETRY
from vyx.breaker import Breaker

NOW_MS = 1_750_000_000_000
SETTINGS = gemini.GenerationSettings()


async def test_a_cancelled_call_is_charged_its_estimate_and_leaves_nothing_in_flight(
    fake: FakeGemini, autojump_clock: trio.abc.Clock
) -> None:
    fake.default = "hang"
    gate = GeminiGate(config(daily_token_budget=10_000, timeout_s=600.0), now_ms=lambda: NOW_MS)
    async with fake.client() as http:
        gate.client = gemini.make_client(gate.cfg, http)
        with trio.move_on_after(5):
            await gate.request("m", "hi", gemini.request_config("s", SETTINGS), 3000, GEMINI_RETRY)
    assert gate.in_flight == 0
    assert gate.budget.used_today(NOW_MS) == 3000
    assert gate.budget.remaining(NOW_MS) == 7000  # the reservation did not leak


async def test_callers_sharing_a_gate_share_its_breaker(
    fake: FakeGemini, autojump_clock: trio.abc.Clock
) -> None:
    fake.default = "503"
    gate = GeminiGate(config(), breaker=Breaker(threshold=2, cooldown_s=60.0))
    config_ = gemini.request_config("s", SETTINGS)
    async with fake.client() as http:
        gate.client = gemini.make_client(gate.cfg, http)
        first = await gate.request(
            "m", "a", config_, 10, attrs.evolve(GEMINI_RETRY, max_attempts=2)
        )
        assert first.error is not None
        assert first.error.outcome == "server"
        assert gate.breaker.state == "open"
        started = trio.current_time()
        fake.default = "ok"
        second = await gate.request(
            "m", "b", config_, 10, attrs.evolve(GEMINI_RETRY, max_attempts=1)
        )
    assert second.response is not None
    assert trio.current_time() - started >= 59  # the other caller waited for the breaker
    assert gate.counts["server"] == 2
