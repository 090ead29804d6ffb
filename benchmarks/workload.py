"""The reference workload of DESIGN §6, written down once for every benchmark.

100 symbols × 1000 bars on 5m and 1h, and 20 realistic traders — each twice: in the Vyx
filter language, and as the plain Python + TA-Lib function a Python user would otherwise write
(run over the window of bars held for each symbol).
"""

from __future__ import annotations

import numpy as np

from benchmarks.talib_filters import Arrays
from kernels.klines_csv import Klines
from kernels.ops import N_BAR_FIELDS, OPEN_TIME
from kernels.program import TraderDef
from kernels.timeframes import timeframe_ms

END_MS = 1_760_000_000_000 // 3_600_000 * 3_600_000


#: (filter, timeframe) of the 20 reference traders.
FILTERS: list[tuple[str, str]] = [
    ("rsi(14) < 30", "5m"),
    ("rsi(14) > 70", "5m"),
    ("close > ema(close, 50) and rsi(14) < 40", "5m"),
    ("crosses_above(ema(close, 9), ema(close, 21))", "5m"),
    ("crosses_below(ema(close, 9), ema(close, 21))", "5m"),
    ("macd(12, 26, 9).hist > 0 and macd(12, 26, 9).macd < 0", "5m"),
    ("close < bbands(20, 2).lower", "5m"),
    ("close > bbands(20, 2).upper and volume > 2 * sma(volume, 20)", "5m"),
    ("volume > 3 * sma(volume, 20)", "5m"),
    ("natr(14) > 0.5", "5m"),
    ("adx(14) > 25 and plus_di(14) > minus_di(14)", "5m"),
    ("stoch(14, 3, 3).slowk < 20", "5m"),
    ("cci(20) < -100", "5m"),
    ("mfi(14) < 20", "5m"),
    ("willr(14) < -80", "5m"),
    ("close > highest(high, 20)[1]", "5m"),
    ("close < lowest(low, 20)[1]", "5m"),
    ('on("1h", close > ema(close, 50)) and rsi(14) < 35', "5m"),
    ('on("1h", rsi(14) > 50) and crosses_above(close, sma(close, 20))', "5m"),
    ("roc(close, 10) > 2 and close > sma(close, 200)", "5m"),
]


def traders(n: int = 20) -> list[TraderDef]:
    """The first ``n`` reference traders (cycled with shifted periods beyond 20)."""
    out = []
    for i in range(n):
        src, tf = FILTERS[i % len(FILTERS)]
        if i >= len(FILTERS):  # more traders: same shapes, other parameters
            src = src.replace("(14)", f"({14 + i // len(FILTERS)})")
        out.append(TraderDef(f"t{i:02d}", src, tf, f"trader {i}"))
    return out


def klines(n_symbols: int, n_bars: int, timeframe: str, seed: int) -> dict[str, Klines]:
    """Random-walk klines ending at :data:`END_MS` (so every timeframe closes together)."""
    rng = np.random.default_rng(seed)
    step = timeframe_ms(timeframe)
    times = END_MS - step * np.arange(n_bars, 0, -1, dtype=np.int64)
    scale = np.sqrt(step / 300_000)
    out = {}
    for s in range(n_symbols):
        vol = np.repeat(rng.uniform(0.001, 0.006, size=n_bars // 50 + 1), 50)[:n_bars] * scale
        price = 10 ** rng.uniform(-1, 4)
        close = price * np.exp(np.cumsum(rng.normal(0, vol)))
        open_ = np.concatenate([[close[0]], close[:-1]])
        spread = np.abs(rng.normal(0, vol)) * close
        bars = np.empty((n_bars, N_BAR_FIELDS))
        bars[:, 0], bars[:, 3] = open_, close
        bars[:, 1] = np.maximum(open_, close) + spread
        bars[:, 2] = np.minimum(open_, close) - spread
        bars[:, 4] = rng.lognormal(5, 0.9, size=n_bars)
        bars[:, 5] = bars[:, 4] * close
        bars[:, 6] = rng.integers(50, 5000, size=n_bars)
        bars[:, 7] = bars[:, 4] * rng.uniform(0.3, 0.7, size=n_bars)
        bars[:, OPEN_TIME] = times
        out[f"S{s:04d}USDT"] = Klines(times.copy(), bars)
    return out


def arrays(k: Klines, hour: Klines | None = None) -> Arrays:
    """Field arrays of ``k`` (what TA-Lib is called on); with ``hour``, ``hidx`` maps each bar
    to the last ``hour`` bar closed by its close (-1: none yet)."""
    out = {
        f: np.ascontiguousarray(k.bars[:, i])
        for i, f in enumerate(("open", "high", "low", "close", "volume"))
    }
    if hour is not None:
        step = int(k.open_time[1] - k.open_time[0])
        hstep = int(hour.open_time[1] - hour.open_time[0])
        close = k.open_time + step
        out["hidx"] = np.searchsorted(hour.open_time + hstep, close, side="right") - 1
    return out
