"""Binance market data: universe, backfill, combined streams, gap repair, tickers.

The daemon starts :func:`run_market` with one :class:`~kernels.ring.RingBuffer` per timeframe
and the send side of a bounded channel of :data:`MarketEvent`; the started
:class:`MarketHandle` gives the ticker table and ``statistics()``.
"""

from vyx.market.closes import BarClosed, HistoryLoaded, MarketEvent, SymbolsRemoved
from vyx.market.service import MarketConfig, MarketHandle, run_market
from vyx.market.statistics import BackfillProgress, MarketStatistics

__all__ = [
    "BackfillProgress",
    "BarClosed",
    "HistoryLoaded",
    "MarketConfig",
    "MarketEvent",
    "MarketHandle",
    "MarketStatistics",
    "SymbolsRemoved",
    "run_market",
]
