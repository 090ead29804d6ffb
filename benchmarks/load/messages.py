"""The stamped ``signal_created`` broadcasts and the end marker that closes a run."""

from __future__ import annotations

import time
from typing import Any

_INDICATORS = {
    "rsi(14) < 30": {"held": True, "values": {"rsi(14)": 27.41}},
    "close > ema(200)": {"held": True, "values": {"close": 42_000.5, "ema(200)": 41_210.93}},
    "macd_hist(12, 26, 9) > 0": {"held": True, "values": {"macd_hist(12, 26, 9)": 12.87}},
}


def stamped(seq: int, phase: str) -> dict[str, Any]:
    """A ``signal_created`` the size of a real one, carrying ``loadSeq``/``loadPhase``/``loadT``
    (``loadT`` = ``perf_counter()`` now: stamp right before broadcasting)."""
    symbol = f"SYM{seq % 100:03d}USDT"
    return {
        "type": "signal_created",
        "data": {
            "signalId": f"00000000-0000-4000-8000-{seq:012d}",
            "traderId": f"trader-{seq % 20}",
            "symbol": symbol,
            "interval": "5m",
            "price": 42_000.5 + seq,
            "matchedConditions": list(_INDICATORS),
            "indicatorData": _INDICATORS,
            "provisional": False,
            "barOpenTime": 1_700_000_000_000 + 300_000 * seq,
            "createdAt": 1_700_000_300_000 + 300_000 * seq,
            "loadSeq": seq,
            "loadPhase": phase,
            "loadT": time.perf_counter(),
        },
    }


def end_marker(total: int) -> dict[str, Any]:
    """Tells readers that ``total`` stamped messages were broadcast."""
    return {"type": "status_update", "data": {"status": "running", "loadEnd": total}}
