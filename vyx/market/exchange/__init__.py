"""A simulated Binance-compatible exchange: REST and combined streams on one port.

Start it in-process with :func:`run_exchange` (a startable trio service) or from the shell with
``vyx exchange``. Modules:

- :mod:`.candles` exact fixed-point bars, aggregation, forming states, wire forms;
- :mod:`.source`, :mod:`.synthetic`, :mod:`.replay` where candles come from;
- :mod:`.clock` market time (fast-forwarded trio time), :mod:`.market` the pure market model;
- :mod:`.rest`, :mod:`.weights`, :mod:`.streams` the protocols, sans I/O;
- :mod:`.faults` fault switches, :mod:`.server` the ASGI shell, :mod:`.service` the service.
"""

from vyx.market.exchange.candles import Kline
from vyx.market.exchange.clock import MarketClock
from vyx.market.exchange.faults import FaultControl, FaultStatistics
from vyx.market.exchange.market import Market, Ticker
from vyx.market.exchange.replay import ReplaySource
from vyx.market.exchange.server import Truth
from vyx.market.exchange.service import (
    ExchangeConfig,
    ExchangeHandle,
    ExchangeStatistics,
    run_exchange,
)
from vyx.market.exchange.source import CandleSource, SourceError, SymbolInfo, SymbolKind
from vyx.market.exchange.synthetic import SyntheticSource

__all__ = [
    "CandleSource",
    "ExchangeConfig",
    "ExchangeHandle",
    "ExchangeStatistics",
    "FaultControl",
    "FaultStatistics",
    "Kline",
    "Market",
    "MarketClock",
    "ReplaySource",
    "SourceError",
    "SymbolInfo",
    "SymbolKind",
    "SyntheticSource",
    "Ticker",
    "Truth",
    "run_exchange",
]
