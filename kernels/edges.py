"""When a match becomes a signal: edge triggering and per-(trader, symbol) cooldown.

One pure function shared by the live screener and the backtest, so both fire on the same bars.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

B = npt.NDArray[np.bool_]
I64 = npt.NDArray[np.int64]

#: The longest cooldown a trader or the machine may set, in bars of the trader's timeframe.
MAX_COOLDOWN_BARS = 10_000


def fires(match: B, previous: B, bar_index: I64, last_fire: I64, cooldown_bars: int | I64) -> B:
    """Symbols that fire now: matching, not matching on their previous bar, and at least
    ``cooldown_bars`` bars after their last signal (``last_fire`` -1: never fired).

    The arrays are (symbols, traders); ``cooldown_bars`` is one for all or one per trader
    (int64[traders]). ``match`` must already be False for symbols still warming up.
    """
    cooled = (last_fire < 0) | (bar_index - last_fire >= cooldown_bars)
    result: B = match & ~previous & cooled
    return result
