"""From executor matches to :class:`~vyx.signal.Signal` (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kernels.executor import Match
from vyx.signal import Signal, signal_id


def indicator_data(match: Match) -> dict[str, Any]:
    """The "why it fired" stored with a signal: per clause, whether it held and its operand
    values at the signal bar (None where a value was not available)."""
    return {
        label: {"held": bool(clause["held"]), "values": dict(clause["values"])}  # type: ignore[call-overload]
        for label, clause in match.clauses.items()
    }


def to_signals(
    matches: Sequence[Match],
    *,
    user_id: str,
    machine_id: str | None,
    now_ms: int,
) -> list[Signal]:
    """One signal per match; ids are deterministic (trader, symbol, timeframe, bar)."""
    return [
        Signal(
            id=signal_id(m.trader_id, m.symbol, m.timeframe, m.open_time),
            trader_id=m.trader_id,
            user_id=user_id,
            symbol=m.symbol,
            interval=m.timeframe,
            price=m.price,
            bar_open_time=m.open_time,
            matched_conditions=m.matched,
            indicator_data=indicator_data(m),
            created_at=now_ms,
            provisional=m.provisional,
            machine_id=machine_id,
        )
        for m in matches
    ]
