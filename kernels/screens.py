"""What a screen found: the matches (a trader firing on a symbol at a bar, and why) and each
trader's outcome (:class:`~kernels.executor.Executor.finish` returns them)."""

from __future__ import annotations

from collections.abc import Mapping

import attrs


@attrs.frozen
class Match:
    """A trader firing on a symbol at a bar, with its "why it fired"."""

    trader_id: str
    symbol: str
    timeframe: str
    open_time: int
    price: float
    matched: tuple[str, ...]
    clauses: Mapping[str, Mapping[str, object]]
    provisional: bool = False


@attrs.frozen
class TraderStats:
    """Per-trader outcome of one screen."""

    #: Symbols matching at their newest bar.
    matching: int
    #: Symbols without enough history yet.
    warming: int
    #: Bars still needed by the least warmed-up symbol (0 when none is warming).
    bars_needed: int


@attrs.frozen
class ScreenResult:
    """What one screen of a timeframe produced."""

    timeframe: str
    open_time: int
    matches: tuple[Match, ...]
    traders: Mapping[str, TraderStats]
    symbols_stepped: int
    bars_stepped: int
    duration_s: float
