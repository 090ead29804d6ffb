"""Deterministic synthetic klines for kernel tests that must not depend on shared data."""

from __future__ import annotations

import numpy as np

from kernels.klines_csv import Klines
from kernels.ops import N_BAR_FIELDS, OPEN_TIME

START_MS = 1_700_000_000_000 // 3_600_000 * 3_600_000


def random_klines(seed: int, n: int, timeframe_ms: int, start: int = START_MS) -> Klines:
    """A random walk with volatility regimes, as closed klines."""
    rng = np.random.default_rng(seed)
    vol = np.repeat(rng.uniform(0.002, 0.02, size=n // 50 + 1), 50)[:n]
    close = 100 * np.exp(np.cumsum(rng.normal(0, vol)))
    open_ = np.concatenate([[100.0], close[:-1]])
    spread = np.abs(rng.normal(0, vol)) * close
    high = np.maximum(open_, close) + spread
    low = np.minimum(open_, close) - spread
    volume = rng.lognormal(3, 0.8, size=n)
    bars = np.empty((n, N_BAR_FIELDS))
    bars[:, 0], bars[:, 1], bars[:, 2], bars[:, 3], bars[:, 4] = open_, high, low, close, volume
    bars[:, 5] = volume * close
    bars[:, 6] = rng.integers(10, 1000, size=n)
    bars[:, 7] = volume * rng.uniform(0.3, 0.7, size=n)
    times = start + np.arange(n, dtype=np.int64) * timeframe_ms
    bars[:, OPEN_TIME] = times
    return Klines(times, bars)


def aggregate(k: Klines, factor: int) -> Klines:
    """Aggregate ``factor`` consecutive bars into one, like Binance builds longer candles."""
    n = len(k) // factor
    b = k.bars[: n * factor].reshape(n, factor, N_BAR_FIELDS)
    out = np.empty((n, N_BAR_FIELDS))
    out[:, 0] = b[:, 0, 0]
    out[:, 1] = b[:, :, 1].max(axis=1)
    out[:, 2] = b[:, :, 2].min(axis=1)
    out[:, 3] = b[:, -1, 3]
    out[:, 4:8] = b[:, :, 4:8].sum(axis=1)
    out[:, OPEN_TIME] = b[:, 0, OPEN_TIME]
    return Klines(out[:, OPEN_TIME].astype(np.int64), out)
