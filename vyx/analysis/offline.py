"""The offline analyst of ``vyx demo``: deterministic rules over the same inputs as the model.

It is not an AI model and says so: its rows carry ``model_name`` :data:`OFFLINE_MODEL` and its
reasoning starts with :data:`OFFLINE_LABEL`. Rules (each adds or removes a point):

- trend: close above/below ema(50), ema(50) above/below ema(200);
- momentum: MACD histogram sign; RSI in 45-70 (+), above 75 (overbought, -) or below 30
  (falling knife, -); stochastic %K above %D below 80 (+);
- location: close above the upper Bollinger band (stretched, -), close above VWAP (+);
- risk: the key levels' risk/reward to the first target below 1.2 makes it a bad setup.

enter_trade at 3+ points with risk/reward >= 1.5; bad_setup at -2 or less, or poor risk/reward;
wait otherwise. Confidence = 50 + 10 x |points|, capped at 90.
"""

from __future__ import annotations

from vyx.analysis.prompt import AnalysisInputs, fmt
from vyx.analysis.verdict import Decision, Verdict

OFFLINE_MODEL = "vyx-offline-analyst"
OFFLINE_LABEL = "[Offline analyst: deterministic rules, not an AI model]"


def offline_verdict(inputs: AnalysisInputs) -> Verdict:
    """The rule-based verdict for ``inputs`` (pure)."""
    ind = {k: v.value for k, v in inputs.indicators.items()}
    close = inputs.signal.price
    points = 0
    notes: list[str] = []

    def rule(condition: bool | None, delta: int, note: str) -> None:
        nonlocal points
        if condition:
            points += delta
            notes.append(f"{note} ({delta:+d})")

    ema50, ema200, rsi = ind["ema50"], ind["ema200"], ind["rsi14"]
    rule(ema50 is not None and close > ema50, 1, f"close above ema50 {fmt(ema50)}")
    rule(ema50 is not None and close < ema50, -1, f"close below ema50 {fmt(ema50)}")
    rule(ema50 is not None and ema200 is not None and ema50 > ema200, 1, "ema50 above ema200")
    rule(ema50 is not None and ema200 is not None and ema50 < ema200, -1, "ema50 below ema200")
    hist = ind["macd_hist"]
    rule(hist is not None and hist > 0, 1, f"MACD histogram positive {fmt(hist)}")
    rule(hist is not None and hist < 0, -1, f"MACD histogram negative {fmt(hist)}")
    rule(rsi is not None and 45 <= rsi <= 70, 1, f"RSI {fmt(rsi)} in the 45-70 momentum zone")
    rule(rsi is not None and rsi > 75, -1, f"RSI {fmt(rsi)} overbought")
    rule(rsi is not None and rsi < 30, -1, f"RSI {fmt(rsi)} oversold, no reversal yet")
    k, d = ind["stoch_k"], ind["stoch_d"]
    rule(k is not None and d is not None and d < k < 80, 1, "stochastic %K above %D")
    upper, vwap = ind["bb_upper"], ind["vwap"]
    rule(upper is not None and close > upper, -1, "close above the upper Bollinger band")
    rule(vwap is not None and close > vwap, 1, f"close above VWAP {fmt(vwap)}")

    levels = inputs.levels
    rr = levels.risk_reward
    rr_text = "unknown" if rr is None else f"{rr:.2f}"
    decision: Decision
    if rr is None or rr < 1.2 or points <= -2:
        decision = "bad_setup"
    elif points >= 3 and rr >= 1.5:
        decision = "enter_trade"
    else:
        decision = "wait"
    confidence = min(90, 50 + 10 * abs(points))
    evidence = "; ".join(notes) if notes else "no rule applied (indicators unavailable)"
    target = fmt(levels.take_profit[0]) if levels.take_profit else "none"
    return Verdict(
        decision=decision,
        confidence=confidence,
        reasoning=f"{OFFLINE_LABEL} Score {points:+d} from: {evidence}. "
        f"Risk/reward to the first target {rr_text}.",
        trade_plan={
            "setup": f"{inputs.signal.symbol} {inputs.signal.interval}: "
            + ", ".join(inputs.signal.matched_conditions or ("filter matched",)),
            "execution": f"Long at {fmt(levels.entry)}, stop {fmt(levels.stop_loss)}, "
            f"first target {target}.",
            "invalidation": f"A close below {fmt(levels.stop_loss)}.",
            "riskReward": rr_text,
        },
        technical_context=f"{OFFLINE_LABEL} ema50 {fmt(ema50)}, ema200 {fmt(ema200)}, "
        f"RSI {fmt(rsi)}, MACD hist {fmt(hist)}, ATR {fmt(levels.atr)}.",
    )
