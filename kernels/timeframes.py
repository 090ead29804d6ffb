"""Binance kline intervals and their lengths.

Monthly candles (``1M``) have no fixed length and are not supported: every supported timeframe
is a whole number of milliseconds, and bars open at multiples of it since the epoch (weeks open
on Monday, as Binance's do, which is 4 days after the epoch's Thursday).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

#: Supported timeframe name -> length in milliseconds, shortest first.
TIMEFRAME_MS: dict[str, int] = {
    "1m": MINUTE_MS,
    "3m": 3 * MINUTE_MS,
    "5m": 5 * MINUTE_MS,
    "15m": 15 * MINUTE_MS,
    "30m": 30 * MINUTE_MS,
    "1h": HOUR_MS,
    "2h": 2 * HOUR_MS,
    "4h": 4 * HOUR_MS,
    "6h": 6 * HOUR_MS,
    "8h": 8 * HOUR_MS,
    "12h": 12 * HOUR_MS,
    "1d": DAY_MS,
    "3d": 3 * DAY_MS,
    "1w": 7 * DAY_MS,
}

#: Offset of bar boundaries from the epoch (Binance weeks start on Monday 00:00 UTC).
_ANCHOR_MS = {"1w": 4 * DAY_MS}


class TimeframeError(ValueError):
    """An unknown timeframe name."""


def timeframe_ms(name: str) -> int:
    """Length of timeframe ``name`` in ms; raises :class:`TimeframeError` naming the valid ones."""
    try:
        return TIMEFRAME_MS[name]
    except KeyError:
        valid = ", ".join(TIMEFRAME_MS)
        raise TimeframeError(f"unknown timeframe {name!r} (expected one of {valid})") from None


def bar_open(name: str, t_ms: int) -> int:
    """Open time of the bar of timeframe ``name`` that contains instant ``t_ms``."""
    length = timeframe_ms(name)
    anchor = _ANCHOR_MS.get(name, 0)
    return (t_ms - anchor) // length * length + anchor


def bar_open_array(name: str, t_ms: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """:func:`bar_open` of every instant of ``t_ms`` (float epoch ms; NaN stays NaN)."""
    length = timeframe_ms(name)
    anchor = _ANCHOR_MS.get(name, 0)
    opened: npt.NDArray[np.float64] = np.floor((t_ms - anchor) / length) * length + anchor
    return opened
