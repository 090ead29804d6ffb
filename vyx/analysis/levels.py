"""Key levels of a signal, computed by our code (never by the model) from ATR and swing points.

Vyx screens Binance Spot pairs, so levels are for a long entry at the signal bar's close:

- **swing points**: fractal pivots over the last :data:`SWING_LOOKBACK` closed candles — a
  high (low) strictly above (below) the ``k`` candles on each side; levels closer than
  ``0.25 x ATR`` are merged into one (the more recent pivot wins).
- **support / resistance**: up to three swing lows below / highs above the entry, nearest first.
- **stop loss**: the trader's ``riskManagement.stopLoss`` percent when set; otherwise just under
  the nearest support (``support - 0.25 ATR``) when that lies 0.5-3 ATR below the entry, else
  ``entry - 1.5 ATR``.
- **take profits**: the trader's ``riskManagement.takeProfit`` percent when set, then targets
  at 1.5 R and 3 R (R = entry - stop), each moved down to a resistance lying between 1 R and the
  target and above the previous one (price tends to stall there); ascending, de-duplicated.
"""

from __future__ import annotations

import math

import attrs
import numpy as np

from kernels.graph import F64
from vyx.analysis.inputs import Candles, TraderSettings

SWING_LOOKBACK = 120
SWING_K = 2
MAX_LEVELS = 3


@attrs.frozen
class KeyLevels:
    """The ``key_levels`` jsonb of a ``signal_analyses`` row."""

    entry: float
    stop_loss: float
    take_profit: tuple[float, ...]
    support: tuple[float, ...]
    resistance: tuple[float, ...]
    #: ATR(14) the levels were spaced with (None: no ATR, levels from percentages only).
    atr: float | None

    @property
    def risk_reward(self) -> float | None:
        """Reward of the first target per unit of risk."""
        risk = self.entry - self.stop_loss
        if risk <= 0 or not self.take_profit:
            return None
        return (self.take_profit[0] - self.entry) / risk

    def to_json(self) -> dict[str, object]:
        """The contract's ``{entry, stopLoss, takeProfit[], support[], resistance[]}``."""
        return {
            "entry": self.entry,
            "stopLoss": self.stop_loss,
            "takeProfit": list(self.take_profit),
            "support": list(self.support),
            "resistance": list(self.resistance),
        }


def swing_points(high: F64, low: F64, k: int = SWING_K) -> tuple[list[float], list[float]]:
    """Swing highs and lows (fractal pivots with ``k`` candles each side), most recent first."""
    highs: list[float] = []
    lows: list[float] = []
    n = len(high)
    for i in range(n - k - 1, k - 1, -1):
        h, lo = high[i], low[i]
        if not (math.isfinite(h) and math.isfinite(lo)):
            continue
        left_h, right_h = high[i - k : i], high[i + 1 : i + k + 1]
        left_l, right_l = low[i - k : i], low[i + 1 : i + k + 1]
        if np.all(h > left_h) and np.all(h > right_h):
            highs.append(float(h))
        if np.all(lo < left_l) and np.all(lo < right_l):
            lows.append(float(lo))
    return highs, lows


def _merge(levels: list[float], tolerance: float) -> list[float]:
    kept: list[float] = []
    for level in levels:
        if all(abs(level - other) > tolerance for other in kept):
            kept.append(level)
    return kept


def _round(value: float) -> float:
    """Six significant digits: what a price level needs, no float noise in the row."""
    if value == 0 or not math.isfinite(value):
        return value
    digits = 5 - math.floor(math.log10(abs(value)))
    return round(value, max(0, digits))


def key_levels(
    candles: Candles, entry: float, atr: float | None, trader: TraderSettings
) -> KeyLevels:
    """Levels for a long entry at ``entry`` (see the module docstring for the rules)."""
    window = slice(max(0, len(candles) - SWING_LOOKBACK), len(candles))
    highs, lows = swing_points(candles.field("high")[window], candles.field("low")[window])
    usable_atr = atr if atr is not None and math.isfinite(atr) and atr > 0 else None
    unit = usable_atr if usable_atr is not None else abs(entry) * 0.01
    tolerance = 0.25 * unit
    support = sorted(_merge([x for x in lows if x < entry], tolerance), reverse=True)
    resistance = sorted(_merge([x for x in highs if x > entry], tolerance))
    support, resistance = support[:MAX_LEVELS], resistance[:MAX_LEVELS]

    stop_pct = trader.risk_percent("stopLoss")
    if stop_pct is not None:
        stop = entry * (1 - stop_pct / 100)
    elif support and 0.5 * unit <= entry - support[0] <= 3 * unit:
        stop = support[0] - 0.25 * unit
    else:
        stop = entry - 1.5 * unit
    risk = entry - stop

    targets: list[float] = []
    tp_pct = trader.risk_percent("takeProfit")
    if tp_pct is not None:
        targets.append(entry * (1 + tp_pct / 100))
    floor = entry + risk
    for multiple in (1.5, 3.0):
        target = entry + multiple * risk
        between = [r for r in resistance if floor <= r < target]
        chosen = between[0] if between else target
        targets.append(chosen)
        floor = max(floor, chosen + tolerance)
    take_profit = _merge(sorted(targets), tolerance / 4)
    return KeyLevels(
        entry=_round(entry),
        stop_loss=_round(stop),
        take_profit=tuple(_round(t) for t in take_profit),
        support=tuple(_round(s) for s in support),
        resistance=tuple(_round(r) for r in resistance),
        atr=usable_atr,
    )
