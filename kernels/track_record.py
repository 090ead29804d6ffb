"""A trader's track record: its signals' outcomes (:mod:`kernels.outcomes`) summed up.

The same summary serves ``vyx backtest --outcomes``, the daemon's ``/metrics``, the dashboard
and ``vyx trader show``:

- ``signals``: signals counted; ``complete``: those whose every horizon has closed;
- ``hit_rate[N]``: the share of signals with a positive +N return, among those whose +N bar
  has closed; ``mean_return[N]`` and ``median_return[N]`` over the same signals;
- per *trade* (a complete signal, out at the level touched first, else at the last horizon's
  close: :attr:`~kernels.outcomes.Outcome.trade_return`): ``expectancy`` (the mean trade
  return) and ``profit_factor`` (gains over losses; infinite without a loss, None without
  either);
- ``worst_mae``: the lowest MAE of any signal; ``targets`` / ``stops``: signals whose target /
  stop was touched first.

Values are fractions (0.012 = +1.2 %); a figure over no signal is None.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import attrs
import numpy as np

from kernels.outcomes import HORIZONS, Outcome

#: The recent window of a track record (besides all time).
RECENT_MS = 7 * 86_400_000


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _median(values: list[float]) -> float | None:
    return float(np.median(values)) if values else None


def _json_number(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else v


@attrs.frozen
class TrackRecord:
    """The summary of some outcomes (module docstring)."""

    signals: int
    complete: int
    hit_rate: tuple[float | None, ...]
    mean_return: tuple[float | None, ...]
    median_return: tuple[float | None, ...]
    expectancy: float | None
    profit_factor: float | None
    worst_mae: float | None
    targets: int
    stops: int

    def to_json(self) -> dict[str, object]:
        """JSON-ready; per-horizon figures keyed by horizon (``"24"``); an infinite profit
        factor (no losing trade) is null with ``"noLosses": true``."""

        def by_h(values: tuple[float | None, ...]) -> dict[str, float | None]:
            return {str(h): v for h, v in zip(HORIZONS, values, strict=True)}

        pf = self.profit_factor
        return {
            "signals": self.signals,
            "complete": self.complete,
            "hitRate": by_h(self.hit_rate),
            "meanReturn": by_h(self.mean_return),
            "medianReturn": by_h(self.median_return),
            "expectancy": self.expectancy,
            "profitFactor": _json_number(pf),
            "noLosses": pf is not None and math.isinf(pf),
            "worstMae": self.worst_mae,
            "targets": self.targets,
            "stops": self.stops,
        }


def track_record(outcomes: Iterable[Outcome]) -> TrackRecord:
    """The track record of ``outcomes`` (any order)."""
    per_h: list[list[float]] = [[] for _ in HORIZONS]
    trades: list[float] = []
    maes: list[float] = []
    signals = complete = targets = stops = 0
    for o in outcomes:
        signals += 1
        complete += o.complete
        targets += o.touch == "target"
        stops += o.touch == "stop"
        for k, r in enumerate(o.returns):
            if r is not None:
                per_h[k].append(r)
        if o.mae is not None:
            maes.append(o.mae)
        trade = o.trade_return
        if trade is not None and o.complete:
            trades.append(trade)
    gains = sum(t for t in trades if t > 0)
    losses = -sum(t for t in trades if t < 0)
    if losses > 0:
        pf: float | None = gains / losses
    else:
        pf = math.inf if gains > 0 else None
    return TrackRecord(
        signals,
        complete,
        tuple((sum(r > 0 for r in rs) / len(rs)) if rs else None for rs in per_h),
        tuple(_mean(rs) for rs in per_h),
        tuple(_median(rs) for rs in per_h),
        _mean(trades),
        pf,
        min(maes) if maes else None,
        targets,
        stops,
    )
