"""The startable exchange service: configuration, the started handle, ``run_exchange``."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import attrs
import hypercorn.config
import hypercorn.trio
import trio

from kernels.timeframes import MINUTE_MS, TIMEFRAME_MS, timeframe_ms
from vyx.exchange.clock import MarketClock
from vyx.exchange.faults import FaultControl
from vyx.exchange.market import Market
from vyx.exchange.replay import ReplaySource
from vyx.exchange.rest import RestApi
from vyx.exchange.server import ExchangeApp, StreamHub, Truth, run_pump
from vyx.exchange.source import CandleSource
from vyx.exchange.synthetic import SyntheticSource
from vyx.exchange.weights import WeightLimiter


@attrs.frozen
class ExchangeConfig:
    """Settings of the simulated exchange (all have test-friendly defaults)."""

    host: str = "127.0.0.1"
    #: 0 picks a free port; the handle tells which.
    port: int = 0
    #: Synthetic pairs (named real ones first, then ``SYN0001USDT``...); ignored when replaying.
    symbols: int = 30
    #: Klines CSV files to replay instead of synthetic candles.
    klines_files: tuple[Path, ...] = ()
    #: A ready-made source (takes precedence over the two above).
    source: CandleSource | None = None
    seed: int = 0
    #: Stablecoin, leveraged-token, non-trading and non-USDT decoy pairs (synthetic only).
    decoys: bool = True
    #: Market seconds per trio second.
    speed: float = 60.0
    #: Market time at start; None: now (synthetic, floored to the minute) or the middle of the
    #: replayed data.
    start_ms: int | None = None
    #: Timeframes streamed as klines; None: every timeframe the source's interval divides.
    timeframes: tuple[str, ...] | None = None
    #: Forming (``x: false``) updates per bar before the closed frame.
    forming_updates: int = 3
    #: Market time between ``@ticker`` frames (rounded to the source's interval).
    ticker_interval_ms: int = 60_000
    #: REST weight per minute per IP.
    weight_limit: int = 6000
    weight_window_s: float = 60.0
    ban_s: float = 120.0
    max_streams: int = 1024
    max_messages_per_s: int = 5
    #: Binance cuts connections after 24 h (trio seconds here); None: never.
    connection_lifetime_s: float | None = 86_400.0
    #: Outgoing frames queued per connection; a full queue drops the connection.
    send_queue: int = 10_000
    #: How long the pump waits for a half-full queue to drain before dropping that connection.
    slow_consumer_s: float = 10.0
    #: Server ping interval (Binance pings every 20 s); None: no pings.
    ping_interval_s: float | None = 20.0
    #: Called with each stream frame's text right after it was written to a socket
    #: (benchmarks: when a closed candle really left the exchange). None: nothing is called.
    on_sent: Callable[[str], None] | None = None


@attrs.frozen
class ExchangeStatistics:
    """A snapshot of the exchange's activity."""

    #: Open WebSocket connections.
    connections: int
    #: Frames queued to clients by the pump (kline and ticker frames, not replies or faults).
    frames_published: int
    #: REST requests answered (all statuses).
    rest_requests: int
    #: Connections closed because their send queue was full.
    slow_consumers_closed: int
    #: Market time now (epoch ms).
    market_ms: int


@attrs.frozen(eq=False)
class ExchangeHandle:
    """What ``run_exchange`` starts with: addresses, market, truth and fault switches."""

    host: str
    port: int
    #: e.g. ``http://127.0.0.1:PORT`` (use as ``BINANCE_REST_URL``).
    rest_url: str
    #: e.g. ``ws://127.0.0.1:PORT`` (use as ``BINANCE_WS_URL``; streams at ``/stream``).
    ws_url: str
    clock: MarketClock
    market: Market
    truth: Truth
    faults: FaultControl
    _hub: StreamHub
    _app: ExchangeApp

    @property
    def symbols(self) -> list[str]:
        """Every listed symbol."""
        return list(self.market.symbols)

    def statistics(self) -> ExchangeStatistics:
        """Current counters."""
        return ExchangeStatistics(
            connections=len(self._hub.connections),
            frames_published=self._hub.frames_published,
            rest_requests=self._app.rest_requests,
            slow_consumers_closed=self._hub.slow_consumers_closed,
            market_ms=self.clock.now_ms(),
        )


def build_source(cfg: ExchangeConfig) -> CandleSource:
    """The candle source ``cfg`` describes (raises SourceError for unreadable files)."""
    if cfg.source is not None:
        return cfg.source
    if cfg.klines_files:
        return ReplaySource(cfg.klines_files)
    return SyntheticSource(cfg.symbols, seed=cfg.seed, decoys=cfg.decoys)


def _default_start(source: CandleSource) -> int:
    if isinstance(source, ReplaySource):
        first, last = source.common_span()
        length = timeframe_ms(source.base_interval)
        return first + (last - first) // 2 // length * length
    return int(time.time() * 1000) // MINUTE_MS * MINUTE_MS


def _bind(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def run_exchange(
    cfg: ExchangeConfig, *, task_status: trio.TaskStatus[ExchangeHandle] = trio.TASK_STATUS_IGNORED
) -> None:
    """Serve the simulated exchange until cancelled.

    Starts (``task_status.started(handle)``) once the port is listening. Raises SourceError for
    a bad candle source and OSError when the address cannot be bound. Cancellation closes the
    listener and every connection.
    """
    source = build_source(cfg)
    base_ms = timeframe_ms(source.base_interval)
    timeframes = cfg.timeframes or tuple(tf for tf, ms in TIMEFRAME_MS.items() if ms % base_ms == 0)
    market = Market(
        source,
        timeframes,
        forming_updates=cfg.forming_updates,
        ticker_interval_ms=cfg.ticker_interval_ms,
    )
    start_ms = cfg.start_ms if cfg.start_ms is not None else _default_start(source)
    clock = MarketClock.starting_now(start_ms, cfg.speed)
    hub = StreamHub(clock)
    faults = FaultControl(hub)
    truth = Truth(market, clock)
    limiter = WeightLimiter(cfg.weight_limit, cfg.weight_window_s, cfg.ban_s)
    app = ExchangeApp(
        RestApi(market, limiter, faults),
        hub,
        clock,
        faults,
        max_streams=cfg.max_streams,
        max_messages_per_s=cfg.max_messages_per_s,
        send_queue=cfg.send_queue,
        connection_lifetime_s=cfg.connection_lifetime_s,
        on_sent=cfg.on_sent,
    )
    config = hypercorn.config.Config()
    config.bind = [_bind(cfg.host, cfg.port)]
    config.loglevel = "WARNING"
    config.accesslog = None
    config.websocket_ping_interval = cfg.ping_interval_s
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(hypercorn.trio.serve, app, config)
        port = int(binds[0].rsplit(":", 1)[1])
        pump = partial(run_pump, slow_consumer_s=cfg.slow_consumer_s)
        await nursery.start(pump, market, clock, hub, faults, truth, market.timeframes)
        host = _bind(cfg.host, port).rsplit(":", 1)[0]
        handle = ExchangeHandle(
            host=cfg.host,
            port=port,
            rest_url=f"http://{host}:{port}",
            ws_url=f"ws://{host}:{port}",
            clock=clock,
            market=market,
            truth=truth,
            faults=faults,
            hub=hub,
            app=app,
        )
        task_status.started(handle)
