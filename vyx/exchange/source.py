"""What the simulated exchange lists and where its candles come from.

A :class:`CandleSource` yields *base* bars (the finest timeframe it has: 1m for the synthetic
generator, the files' interval for a replay); everything coarser is aggregated from them by
:mod:`vyx.exchange.market`, so every timeframe agrees with every other.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Protocol

import attrs

from vyx.exchange.candles import Bars


class SymbolKind(enum.Enum):
    """Why a symbol is listed: an ordinary pair, or a decoy universe selection must skip."""

    NORMAL = "normal"
    STABLECOIN = "stablecoin"
    LEVERAGED = "leveraged"
    OTHER_QUOTE = "other_quote"


@attrs.frozen
class SymbolInfo:
    """One listed symbol: names, status and price/quantity grids (in 1e-8 units)."""

    symbol: str
    base_asset: str
    quote_asset: str = "USDT"
    status: str = "TRADING"
    kind: SymbolKind = SymbolKind.NORMAL
    tick: int = 1_000_000
    step: int = 1_000


class SourceError(Exception):
    """A candle source cannot be built (unreadable or inconsistent files, bad settings)."""


class CandleSource(Protocol):
    """Base bars per symbol; implementations must be deterministic and free of I/O after start."""

    @property
    def base_interval(self) -> str:
        """The timeframe of the bars :meth:`base_bars` returns (``"1m"``, ``"1h"``...)."""
        ...

    @property
    def symbols(self) -> Sequence[SymbolInfo]:
        """Every symbol the source has candles for."""
        ...

    def span(self, symbol: str) -> tuple[int, int | None]:
        """Open time of the first base bar, and of the last one (None: unbounded)."""
        ...

    def base_bars(self, symbol: str, start_ms: int, end_ms: int) -> Bars:
        """The contiguous base bars of ``symbol`` with open time in ``[start_ms, end_ms)``."""
        ...
