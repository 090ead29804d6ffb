"""What an analysis looks at: the trader's settings, the closed candles, the indicator values.

The delivery (:mod:`vyx.daemon.delivery`) hands :meth:`ConcurrentAnalyzer.submit` an
:class:`AnalysisContext` built with :meth:`Candles.from_ring` (a copy of the ring's last closed
bars, microseconds) and :meth:`TraderSettings.from_strategy`. The heavier work — the standard
indicator set computed with the Vyx kernels over those candles (:func:`standard_indicators`) —
runs later, in the analyzer's own tasks, never in the delivery's.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np

from kernels.graph import F64, I64, Graph, layout
from kernels.ops import N_BAR_FIELDS, OPEN_TIME
from kernels.program import Program, TraderDef
from kernels.ring import FIELD_INDEX, N_FIELDS, RingBuffer
from kernels.series import run_graph

#: Closed bars copied per signal: enough for ema(200)'s full warm-up (4 x 200 bars).
HISTORY_BARS = 1000

#: The standard set: name -> Vyx expression (evaluated on the signal's timeframe).
STANDARD_SET: Mapping[str, str] = {
    "sma20": "sma(close, 20)",
    "sma50": "sma(close, 50)",
    "sma200": "sma(close, 200)",
    "ema20": "ema(close, 20)",
    "ema50": "ema(close, 50)",
    "ema200": "ema(close, 200)",
    "rsi14": "rsi(close, 14)",
    "macd": "macd(close, 12, 26, 9).macd",
    "macd_signal": "macd(close, 12, 26, 9).signal",
    "macd_hist": "macd(close, 12, 26, 9).hist",
    "bb_upper": "bbands(close, 20, 2).upper",
    "bb_middle": "bbands(close, 20, 2).middle",
    "bb_lower": "bbands(close, 20, 2).lower",
    "atr14": "atr(14)",
    "vwap": "vwap()",
    "stoch_k": "stoch(high, low, close, 14, 3, 3).slowk",
    "stoch_d": "stoch(high, low, close, 14, 3, 3).slowd",
}


def _json_object(value: Any) -> dict[str, Any]:
    """A jsonb value the browser may have stored as a JSON string."""
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value) if value.strip() else {}
        except ValueError:
            return {}
    return dict(value) if isinstance(value, Mapping) else {}


def _optional_int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if math.isfinite(number) and number >= 0 else None


@attrs.frozen
class TraderSettings:
    """What the analyzer needs of a trader (from its ``traders`` row)."""

    id: str
    name: str = ""
    auto_analyze: bool = False
    #: ``strategy.instructions``: the trader's own words to the analyst.
    instructions: str = ""
    #: ``strategy.riskManagement`` (stopLoss, takeProfit, ... as the browser wrote them).
    risk_management: Mapping[str, Any] = attrs.field(factory=dict)
    #: ``strategy.aiAnalysisLimit``: analyses per UTC day (None: no limit of its own).
    ai_analysis_limit: int | None = None

    @classmethod
    def from_strategy(
        cls, trader_id: str, name: str, auto_analyze: bool, strategy: Any
    ) -> TraderSettings:
        """From a ``strategy`` jsonb value (an object or a JSON string; junk reads as empty)."""
        data = _json_object(strategy)
        instructions = data.get("instructions")
        return cls(
            id=trader_id,
            name=name,
            auto_analyze=auto_analyze,
            instructions=instructions if isinstance(instructions, str) else "",
            risk_management=_json_object(data.get("riskManagement")),
            ai_analysis_limit=_optional_int(data.get("aiAnalysisLimit")),
        )

    def risk_percent(self, key: str) -> float | None:
        """``riskManagement[key]`` as a positive percentage, if the trader set one."""
        value = self.risk_management.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            return None
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) and 0 < number < 100 else None


@attrs.frozen(eq=False)
class Candles:
    """Closed candles of one symbol and timeframe, oldest first (copies, not ring views)."""

    symbol: str
    timeframe: str
    open_time: I64
    #: ``float64[N_FIELDS, n]`` in :data:`kernels.ring.FIELDS` order.
    values: F64

    def __len__(self) -> int:
        return len(self.open_time)

    @classmethod
    def from_ring(
        cls, ring: RingBuffer, symbol: str, timeframe: str, n: int = HISTORY_BARS
    ) -> Candles:
        """Copy the last ``n`` closed bars of ``symbol`` (raises ``RingError`` if unknown)."""
        times, values = ring.window(ring.slot(symbol), n)
        return cls(symbol, timeframe, times.copy(), values.copy())

    def field(self, name: str) -> F64:
        """One field's values, oldest first."""
        column: F64 = self.values[FIELD_INDEX[name]]
        return column

    def bars(self) -> F64:
        """``float64[1, n, 9]`` as the interpreter steps them."""
        bars = np.empty((1, len(self), N_BAR_FIELDS))
        bars[0, :, :N_FIELDS] = self.values.T
        bars[0, :, OPEN_TIME] = self.open_time
        return bars


@attrs.frozen
class AnalysisContext:
    """Everything :meth:`~vyx.analysis.ConcurrentAnalyzer.submit` needs besides the signal."""

    trader: TraderSettings
    candles: Candles
    #: Lower runs first; equal priorities run in submission order.
    priority: int = 0


@attrs.frozen
class IndicatorValue:
    """One value of the standard set at the newest candle."""

    value: float | None
    #: False when the window is shorter than the kernel's full warm-up (the value is seeded
    #: from fewer bars than the screener would wait for).
    settled: bool


class _StandardPlan:
    """The standard set compiled once per timeframe into one shared graph."""

    def __init__(self, timeframe: str) -> None:
        program = Program()
        self.names = list(STANDARD_SET)
        roots = [
            program.add(TraderDef(name, expr, timeframe), require_bool=False).root
            for name, expr in STANDARD_SET.items()
        ]
        self.graph: Graph = program.graphs[timeframe]
        self.nodes = roots
        warm = layout(self.graph).warm
        self.warm = [int(warm[node]) + 1 for node in roots]


_PLANS: dict[str, _StandardPlan] = {}


def standard_indicators(candles: Candles) -> dict[str, IndicatorValue]:
    """The standard set at the newest candle, computed by the Vyx kernels over ``candles``.

    A value the kernels leave NaN (not enough bars, or a kernel not available) is None.
    """
    plan = _PLANS.get(candles.timeframe)
    if plan is None:
        plan = _PLANS[candles.timeframe] = _StandardPlan(candles.timeframe)
    if len(candles) == 0:
        return {name: IndicatorValue(None, False) for name in plan.names}
    out = run_graph(plan.graph, plan.nodes, candles.bars())
    last = out[0, -1]
    result: dict[str, IndicatorValue] = {}
    for i, name in enumerate(plan.names):
        value = float(last[i])
        finite = math.isfinite(value)
        result[name] = IndicatorValue(
            value if finite else None, finite and len(candles) >= plan.warm[i]
        )
    return result
