"""Signals with deterministic ids for store tests (no pytest import: the crash test's child
process imports this module and must start fast)."""

from __future__ import annotations

from vyx.signal import Signal, signal_id

USER = "2b7c1f9e-6d1a-4c55-9c3e-7a1b2c3d4e5f"


def make_signal(n: int, *, trader: str = "t-1", user: str = USER) -> Signal:
    """The n-th signal of ``trader``: one per 5m bar of BTCUSDT."""
    open_time = 1_700_000_000_000 + n * 300_000
    return Signal(
        id=signal_id(trader, "BTCUSDT", "5m", open_time),
        trader_id=trader,
        user_id=user,
        symbol="BTCUSDT",
        interval="5m",
        price=40_000.0 + n,
        bar_open_time=open_time,
        matched_conditions=("rsi(14) < 30", "volume > 2 * sma(volume, 20)"),
        indicator_data={"rsi(14) < 30": {"held": True, "values": [28.5 + n % 3, 30]}},
        created_at=open_time + 300_000,
    )
