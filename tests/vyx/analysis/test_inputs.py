"""Inputs of an analysis: indicator values from the Vyx kernels, key levels, the prompt."""

from __future__ import annotations

import math

import numpy as np
import pytest
from google.genai import types

from kernels.backtest import evaluate
from kernels.klines_csv import Klines
from kernels.program import Program, TraderDef
from kernels.ring import RingBuffer
from tests.vyx.analysis.conftest import candles_until, signal_at, trader
from vyx.analysis import AnalysisContext, Candles, TraderSettings, standard_indicators
from vyx.analysis.inputs import STANDARD_SET
from vyx.analysis.levels import key_levels, swing_points
from vyx.analysis.offline import OFFLINE_LABEL, offline_verdict
from vyx.analysis.prompt import _time, build_inputs, estimate_tokens, fmt, render_prompt
from vyx.analysis.verdict import InvalidAnswer, answer_text, parse_verdict


def test_standard_set_matches_the_screeners_evaluation(btc_1h: Klines) -> None:
    candles = candles_until(btc_1h, len(btc_1h))
    values = standard_indicators(candles)
    assert set(values) == set(STANDARD_SET)
    for name in ("sma200", "ema50", "rsi14", "bb_upper", "atr14", "vwap", "macd_hist"):
        program = Program()
        program.add(TraderDef(name, STANDARD_SET[name], "1h"), require_bool=False)
        _, series = evaluate(program, name, {"1h": {"BTCUSDT": btc_1h}})["BTCUSDT"]
        expected = series[-1]
        got = values[name].value
        if math.isnan(expected):  # a kernel not finished yet: unavailable, never invented
            assert got is None
        else:
            assert got == pytest.approx(expected, rel=1e-9), name
            assert values[name].settled


def test_short_history_gives_null_not_invented_values(btc_1h: Klines) -> None:
    values = standard_indicators(candles_until(btc_1h, 100, n=30))
    assert values["sma200"].value is None
    assert values["ema200"].value is None
    assert values["sma20"].value is not None
    assert standard_indicators(candles_until(btc_1h, 0))["rsi14"].value is None


def test_candles_from_the_ring_are_copies(btc_1h: Klines) -> None:
    ring = RingBuffer(3_600_000, 64, ["BTCUSDT"])
    slot = ring.slot("BTCUSDT")
    for i in range(70):
        ring.append(slot, int(btc_1h.open_time[i]), btc_1h.bars[i, :8])
    candles = Candles.from_ring(ring, "BTCUSDT", "1h", 50)
    assert len(candles) == 50
    assert candles.open_time[-1] == btc_1h.open_time[69]
    ring.append(slot, int(btc_1h.open_time[70]), btc_1h.bars[70, :8])
    assert candles.open_time[-1] == btc_1h.open_time[69]  # unaffected by the next append


def test_trader_settings_accept_json_strings_and_junk() -> None:
    s = TraderSettings.from_strategy(
        "t",
        "n",
        True,
        '{"instructions": "x", "riskManagement": {"stopLoss": "2.5"}, "aiAnalysisLimit": 5}',
    )
    assert (s.instructions, s.ai_analysis_limit, s.risk_percent("stopLoss")) == ("x", 5, 2.5)
    junk = TraderSettings.from_strategy("t", "n", True, "{not json")
    assert junk.instructions == ""
    assert junk.ai_analysis_limit is None
    assert (
        TraderSettings.from_strategy("t", "", False, {"aiAnalysisLimit": -1}).ai_analysis_limit
        is None
    )


def test_swing_points() -> None:
    high = np.array([1, 2, 5, 2, 1, 2, 3, 2, 1.0])
    low = np.array([0.5, 1, 4, 1, 0.2, 1, 2, 1, 0.9])
    highs, lows = swing_points(high, low, k=2)
    assert highs == [3.0, 5.0]
    assert lows == [0.2]


def test_key_levels_from_atr_and_swings(btc_1h: Klines) -> None:
    candles = candles_until(btc_1h, 1500)
    close = float(candles.field("close")[-1])
    atr = standard_indicators(candles)["atr14"].value
    assert atr is not None
    plain = TraderSettings("t")
    levels = key_levels(candles, close, atr, plain)
    assert levels.entry == pytest.approx(close, rel=1e-5)
    assert 0.5 * atr <= levels.entry - levels.stop_loss <= 3.3 * atr
    assert all(s < close for s in levels.support)
    assert all(r > close for r in levels.resistance)
    assert list(levels.take_profit) == sorted(levels.take_profit)
    assert levels.take_profit[0] >= close + (close - levels.stop_loss) * 0.99
    pct = key_levels(candles, close, atr, trader())  # stopLoss 2 %, takeProfit 4 %
    assert pct.stop_loss == pytest.approx(close * 0.98, rel=1e-5)
    assert pytest.approx(close * 1.04, rel=1e-5) in pct.take_profit
    # No ATR (too little history): levels still come out, spaced by 1 % of price.
    assert key_levels(candles, close, None, plain).stop_loss == pytest.approx(
        close * 0.985, rel=1e-4
    )


def test_prompt_holds_real_candles_and_indicator_values(btc_1h: Klines) -> None:
    candles = candles_until(btc_1h, 1500)
    sig = signal_at(candles)
    inputs = build_inputs(sig, AnalysisContext(trader(), candles))
    prompt = render_prompt(inputs, 50)
    c = candles.field("close")
    for i in (-1, -2, -50):
        assert f",{fmt(float(c[i]))}," in prompt
    section = prompt.split("# Last")[1]
    assert len(section.splitlines()) == 51  # the heading and 50 rows
    assert f"{_time(int(candles.open_time[-50]))}," in section
    assert f"{_time(int(candles.open_time[-51]))}," not in section
    for name in ("rsi14", "ema200", "atr14", "bb_lower", "vwap"):
        value = inputs.indicators[name].value
        assert value is not None
        assert f"{name} = {fmt(value)}" in prompt.replace("~", "")
    assert "rsi(14) < 40: held; rsi(14) = 37.25" in prompt
    assert "Only take longs in an uptrend" in prompt
    assert "stopLoss = 2" in prompt
    assert f"stopLoss = {fmt(inputs.levels.stop_loss)}" in prompt
    assert "2025-" in prompt
    assert sig.symbol in prompt
    assert 1500 < estimate_tokens(prompt) < 4000


def test_fmt() -> None:
    assert fmt(82456.3123) == "82456.3"
    assert fmt(0.000123456789) == "0.000123457"
    assert fmt(None) == "null"
    assert fmt(float("nan")) == "null"
    assert fmt(0.0) == "0"
    assert fmt(1200.0) == "1200"


def test_parse_verdict_rules() -> None:
    good = (
        '```json\n{"decision": "wait", "confidence": 55.4, "reasoning": "r", "trade_plan": '
        '{"setup": "s", "execution": "e", "invalidation": "i", "riskReward": "2"}, '
        '"technical_context": "t"}\n```'
    )
    verdict = parse_verdict(good)
    assert verdict.decision == "wait"
    assert verdict.confidence == 55
    for bad, reason in [
        ("[]", "expected a JSON object"),
        ('{"decision": "wait", "confidence": 101}', "confidence"),
        ('{"decision": "wait", "confidence": true}', "confidence"),
        ('{"decision": "wait", "confidence": 5, "trade_plan": {}}', "trade_plan.setup"),
    ]:
        with pytest.raises(InvalidAnswer, match=reason) as info:
            parse_verdict(bad)
        assert info.value.raw == bad


def test_answer_text_skips_thoughts() -> None:
    response = types.GenerateContentResponse.model_validate(
        {
            "candidates": [
                {
                    "content": {"parts": [{"text": "hmm", "thought": True}, {"text": "{}"}]},
                    "finishReason": "MAX_TOKENS",
                }
            ],
        }
    )
    with pytest.raises(InvalidAnswer, match="MAX_TOKENS") as info:
        answer_text(response)
    assert info.value.raw == "{}"


def test_offline_analyst_is_deterministic_and_labelled(btc_1h: Klines) -> None:
    verdicts = set()
    for end in range(1300, 2900, 100):
        candles = candles_until(btc_1h, end)
        inputs = build_inputs(signal_at(candles), AnalysisContext(trader(), candles))
        v = offline_verdict(inputs)
        assert v == offline_verdict(inputs)
        assert v.reasoning.startswith(OFFLINE_LABEL)
        assert 50 <= v.confidence <= 90
        verdicts.add(v.decision)
    assert len(verdicts) >= 2  # the rules do discriminate on real data
