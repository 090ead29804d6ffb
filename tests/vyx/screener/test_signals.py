"""From matches to signals: every field of the match lands in its place."""

from __future__ import annotations

from kernels.executor import Match
from vyx.screener.signals import to_signals
from vyx.signal import Signal, signal_id


def test_each_field_of_a_match_lands_in_its_signal() -> None:
    clauses = {"rsi(14) < 30": {"held": True, "values": {"rsi(14)": 25.5, "30": 30.0}}}
    match = Match("t-7", "ETHUSDT", "15m", 1_700_000_100_000, 2012.5, ("rsi(14) < 30",), clauses)
    provisional = Match("t-8", "BTCUSDT", "1h", 1_700_000_200_000, 1.5, (), {}, provisional=True)
    first, second = to_signals([match, provisional], user_id="u-1", machine_id="m-1", now_ms=42)
    assert first == Signal(
        id=signal_id("t-7", "ETHUSDT", "15m", 1_700_000_100_000),
        trader_id="t-7",
        user_id="u-1",
        symbol="ETHUSDT",
        interval="15m",
        price=2012.5,
        bar_open_time=1_700_000_100_000,
        matched_conditions=("rsi(14) < 30",),
        indicator_data=clauses,
        created_at=42,
        provisional=False,
        status="new",
        source="cloud",
        machine_id="m-1",
    )
    assert first.indicator_data is clauses  # explain built them for this match: not copied
    assert (second.trader_id, second.interval, second.provisional) == ("t-8", "1h", True)
    assert not second.alert_muted
