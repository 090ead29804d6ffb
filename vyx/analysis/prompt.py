"""The prompt: real candles, real indicator values, our key levels, the trader's own words.

Pure: :func:`build_inputs` gathers what an analysis looks at (the standard indicator set is
computed by the Vyx kernels here), :func:`render_prompt` writes it as text, compactly — numbers
at six significant digits, candles as CSV rows — because every character is paid for in tokens.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import attrs

from vyx.analysis.inputs import AnalysisContext, IndicatorValue, standard_indicators
from vyx.analysis.levels import KeyLevels, key_levels
from vyx.signal import Signal

#: Candles written into the prompt (indicators see the whole copied history).
PROMPT_CANDLES = 50

SYSTEM_INSTRUCTION = """\
You are a disciplined crypto spot-market analyst. A user's screening filter (a "trader") just \
fired a signal; judge the setup from the data given and nothing else.
Decide one of:
- enter_trade: the setup is valid now; a long entry at the entry price with the given stop loss \
makes sense.
- wait: promising, but it needs confirmation first (say what would confirm it).
- bad_setup: the signal is misleading or the risk is not worth it.
Confidence is 0-100. The key levels (entry, stop loss, take profits, supports, resistances) were \
computed by the screener from ATR and swing points: use them, do not invent other price levels. \
Follow the trader's instructions when they do not contradict the data. Indicator values given \
as null are unavailable: do not guess them. Answer with one JSON object matching the schema."""


@attrs.frozen
class AnalysisInputs:
    """What one analysis looked at (also stored as ``technical_indicators``)."""

    signal: Signal
    context: AnalysisContext
    indicators: Mapping[str, IndicatorValue]
    levels: KeyLevels

    def technical_indicators(self) -> dict[str, Any]:
        """The ``technical_indicators`` jsonb: the standard set, the clause values, the ATR."""
        return {
            "standard": {k: v.value for k, v in self.indicators.items()},
            "unsettled": sorted(
                k for k, v in self.indicators.items() if v.value is not None and not v.settled
            ),
            "clauses": dict(self.signal.indicator_data),
            "candles": len(self.context.candles),
            "timeframe": self.context.candles.timeframe,
        }


def build_inputs(signal: Signal, context: AnalysisContext) -> AnalysisInputs:
    """Compute the indicators (Vyx kernels over the context's candles) and the key levels."""
    indicators = standard_indicators(context.candles)
    atr = indicators["atr14"].value
    levels = key_levels(context.candles, signal.price, atr, context.trader)
    return AnalysisInputs(signal, context, indicators, levels)


def fmt(value: float | None) -> str:
    """Six significant digits without exponent or trailing zeros; ``null`` for None/NaN."""
    if value is None or not math.isfinite(value):
        return "null"
    if value == 0:
        return "0"
    decimals = max(0, 5 - math.floor(math.log10(abs(value))))
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def _list(values: tuple[float, ...]) -> str:
    return "[" + ", ".join(fmt(v) for v in values) + "]"


def _clause_lines(indicator_data: Mapping[str, Any]) -> list[str]:
    lines = []
    for label, clause in indicator_data.items():
        if not isinstance(clause, Mapping):
            lines.append(f"- {label}: {clause}")
            continue
        held = "held" if clause.get("held") else "did not hold"
        values = clause.get("values")
        shown = ""
        if isinstance(values, Mapping) and values:
            shown = "; " + ", ".join(
                f"{k} = {fmt(v) if isinstance(v, int | float) else 'null'}"
                for k, v in values.items()
            )
        lines.append(f"- {label}: {held}{shown}")
    return lines


def render_prompt(inputs: AnalysisInputs, n_candles: int = PROMPT_CANDLES) -> str:
    """The user turn of the request."""
    signal, ctx, levels = inputs.signal, inputs.context, inputs.levels
    trader = ctx.trader
    out = [
        "# Signal",
        f"trader: {trader.name or trader.id}",
        f"symbol: {signal.symbol}  timeframe: {signal.interval}  "
        f"signal bar (UTC open): {_time(signal.bar_open_time)}  close: {fmt(signal.price)}",
        "matched conditions: " + (", ".join(signal.matched_conditions) or "none"),
    ]
    clause_lines = _clause_lines(signal.indicator_data)
    if clause_lines:
        out += ["filter clauses at the signal bar:", *clause_lines]
    out += ["", "# Trader strategy", f"instructions: {trader.instructions.strip() or 'none'}"]
    if trader.risk_management:
        out.append(
            "risk management: "
            + ", ".join(f"{k} = {v}" for k, v in sorted(trader.risk_management.items()))
        )
    out += [
        "",
        "# Indicators at the signal bar (null = unavailable; ~ = seeded from fewer bars than "
        "a full warm-up)",
    ]
    out.append(
        ", ".join(
            f"{name} = {'~' if v.value is not None and not v.settled else ''}{fmt(v.value)}"
            for name, v in inputs.indicators.items()
        )
    )
    rr = levels.risk_reward
    out += [
        "",
        "# Key levels (computed by the screener, long entry)",
        f"entry = {fmt(levels.entry)}, stopLoss = {fmt(levels.stop_loss)}, "
        f"takeProfit = {_list(levels.take_profit)}",
        f"support = {_list(levels.support)}, resistance = {_list(levels.resistance)}",
        f"ATR14 = {fmt(levels.atr)}, risk/reward to the first target = "
        f"{'null' if rr is None else f'{rr:.2f}'}",
    ]
    candles = ctx.candles
    n = min(n_candles, len(candles))
    out += [
        "",
        f"# Last {n} closed {candles.timeframe} candles, oldest first "
        "(UTC open time,open,high,low,close,volume)",
    ]
    o, h, lo, c, v = (candles.field(f) for f in ("open", "high", "low", "close", "volume"))
    for i in range(len(candles) - n, len(candles)):
        row = (o[i], h[i], lo[i], c[i], v[i])
        out.append(_time(int(candles.open_time[i])) + "," + ",".join(fmt(x) for x in row))
    return "\n".join(out)


def estimate_tokens(text: str) -> int:
    """A conservative token estimate: Gemini's tokenizer splits numbers into single digits,
    so each digit counts one token, everything else about four characters per token."""
    digits = sum(ch.isdigit() for ch in text)
    return digits + math.ceil((len(text) - digits) / 4)
