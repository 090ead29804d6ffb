"""Rows for Supabase tests: uuids where PostgreSQL wants them (no pytest import: the crash
test's child process imports this module)."""

from __future__ import annotations

from typing import Any

from tests.vyx.store import factory as store_factory
from vyx.signal import Signal
from vyx.store.supabase import SupabaseStore

USER = "2b7c1f9e-6d1a-4c55-9c3e-7a1b2c3d4e5f"
OTHER_USER = "9d3e4f5a-1b2c-4d5e-8f90-a1b2c3d4e5f6"
TRADER = "5f0c2d3e-4b5a-4c6d-9e8f-7a6b5c4d3e2f"
MACHINE_UUID = "7c6b5a49-3827-4165-9e4d-3c2b1a098f7e"


def make_signal(n: int, *, trader: str = TRADER, user: str = USER) -> Signal:
    """The n-th signal of ``trader`` (uuids, unlike the SQLite tests' trader names)."""
    return store_factory.make_signal(n, trader=trader, user=user)


def make_analysis(signal: Signal, *, confidence: float = 72.0) -> dict[str, Any]:
    """A ``signal_analyses`` row for ``signal``."""
    return {
        "signal_id": signal.id,
        "trader_id": signal.trader_id,
        "user_id": signal.user_id,
        "decision": "wait",
        "confidence": confidence,
        "reasoning": "RSI low, trend intact",
        "key_levels": {
            "entry": signal.price,
            "stopLoss": signal.price * 0.98,
            "takeProfit": [signal.price * 1.03],
            "support": [],
            "resistance": [],
        },
        "trade_plan": {
            "setup": "dip",
            "execution": "limit",
            "invalidation": "close < ema200",
            "riskReward": 1.5,
        },
        "created_at": signal.created_at + 1000,
    }


async def synced(store: SupabaseStore, attempts: int = 10) -> bool:
    """``store.sync()`` under virtual time. The clock may jump while a spool thread works
    (> 20 ms of real idleness), which can expire a single wait early; retrying is safe."""
    for _ in range(attempts):
        if await store.sync(600):
            return True
    return False
