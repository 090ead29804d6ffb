"""A simulated Binance-compatible exchange: REST and combined streams on one port.

Start it in-process with :func:`run_exchange` (a startable trio service) or from the shell with
``vyx exchange``. Modules:

- :mod:`.candles` exact fixed-point bars, aggregation, forming states, wire forms;
- :mod:`.source`, :mod:`.synthetic`, :mod:`.replay` where candles come from;
- :mod:`.clock` market time (fast-forwarded trio time), :mod:`.market` the pure market model;
- :mod:`.rest`, :mod:`.weights`, :mod:`.streams` the protocols, sans I/O;
- :mod:`.faults` fault switches, :mod:`.server` the ASGI shell, :mod:`.service` the service.
"""

from vyx.exchange.candles import ExactKline
from vyx.exchange.clock import MarketClock
from vyx.exchange.faults import FaultControl, FaultStatistics
from vyx.exchange.market import Market, RollingTicker
from vyx.exchange.replay import ReplaySource
from vyx.exchange.server import Truth
from vyx.exchange.service import (
    ExchangeConfig,
    ExchangeHandle,
    ExchangeStatistics,
    run_exchange,
)
from vyx.exchange.source import CandleSource, SourceError, SymbolInfo, SymbolKind
from vyx.exchange.synthetic import SyntheticSource

__all__ = [
    "CandleSource",
    "ExactKline",
    "ExchangeConfig",
    "ExchangeHandle",
    "ExchangeStatistics",
    "FaultControl",
    "FaultStatistics",
    "Market",
    "MarketClock",
    "ReplaySource",
    "RollingTicker",
    "SourceError",
    "SymbolInfo",
    "SymbolKind",
    "SyntheticSource",
    "Truth",
    "run_exchange",
]
