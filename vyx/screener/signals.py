"""From executor matches to :class:`~vyx.signal.Signal` (pure)."""

from __future__ import annotations

from collections.abc import Sequence

from kernels.executor import Match
from vyx.signal import Signal, signal_id


def to_signals(
    matches: Sequence[Match],
    *,
    user_id: str,
    machine_id: str | None,
    now_ms: int,
) -> list[Signal]:
    """One signal per match; ids are deterministic (trader, symbol, timeframe, bar).

    A signal's ``indicator_data`` (its "why it fired": per clause, whether it held and its
    operand values at the signal bar, None where a value was not available) is the match's
    ``clauses`` as :meth:`~kernels.program.TraderPlan.explain` built them for this match
    alone (Python bools and floats): taken as they are, not copied."""
    # Positional, in the order of Signal's fields (a keyword call costs ~0.5 µs more a signal;
    # tests/vyx/screener/test_signals.py checks each field lands where it belongs).
    return [
        Signal(
            signal_id(m.trader_id, m.symbol, m.timeframe, m.open_time),
            m.trader_id,
            user_id,
            m.symbol,
            m.timeframe,
            m.price,
            m.open_time,
            m.matched,
            m.clauses,
            now_ms,
            m.provisional,
            "new",
            "cloud",
            machine_id,
        )
        for m in matches
    ]
