"""The outcome of every signal a backtest fired, from the candles it ran over.

Each fire's outcome (:mod:`kernels.outcomes`) is computed from the bars of its own symbol and
timeframe after the signal bar, with ATR levels (a backtest has no analyses), in the trader's
direction; a fire near the end of the data has an incomplete outcome (the bars it has).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from kernels.fires import Fires
from kernels.klines_csv import Klines
from kernels.ops import CLOSE, HIGH, LOW
from kernels.outcomes import Outcome, history_outcomes


def fire_outcomes(
    fires: Fires,
    data: Mapping[str, Mapping[str, Klines]],
    directions: Mapping[str, str] | None = None,
) -> list[Outcome]:
    """Per fire of ``fires`` (in its order), its outcome over ``data`` (timeframe -> symbol ->
    klines, what the backtest ran over). ``directions``: trader id -> ``"long"``/``"short"``
    (long when absent)."""
    keys = fires.keys()
    directions = directions or {}
    groups: dict[tuple[str, str], list[int]] = {}
    for k, (tf, symbol) in enumerate(zip(keys.timeframe, keys.symbol, strict=True)):
        groups.setdefault((tf, symbol), []).append(k)
    found: list[Outcome | None] = [None] * len(keys.trader)
    for (tf, symbol), ks in groups.items():
        klines = data[tf][symbol]
        at = np.asarray(ks, dtype=np.int64)
        starts = np.searchsorted(klines.open_time, keys.open_time[at]).astype(np.int64)
        bars = klines.bars
        outcomes = history_outcomes(
            np.ascontiguousarray(bars[:, HIGH]),
            np.ascontiguousarray(bars[:, LOW]),
            np.ascontiguousarray(bars[:, CLOSE]),
            starts,
            [directions.get(keys.trader[k], "long") for k in ks],
        )
        for k, outcome in zip(ks, outcomes, strict=True):
            found[k] = outcome
    return [o for o in found if o is not None]
