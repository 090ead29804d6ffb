"""The market service: universe, backfill, streams, gap repair, close notifications, tickers.

``run_market`` is the single writer of the rings. Start-up: exchangeInfo and 24 h tickers ->
universe -> backfill every (symbol, timeframe) with ``warmup`` bars -> open the shards' streams
-> ``task_status.started(handle)``; the exchange's clock, read then, finds the bars that closed
between their backfill and their stream's subscription (repaired). Then, forever: frames are
applied by the history writer; a revealed gap starts a repair task (REST) for that key; closes
are announced on ``events``; the universe is refreshed every ``universe_refresh_s`` (joining
symbols are subscribed and backfilled, leaving ones unsubscribed and dropped).

A location Binance refuses (HTTP 451 on REST or at a stream handshake) stops the market for good:
one line is logged, the phase becomes ``restricted`` (also after start-up) and nothing is sent to
Binance again (:mod:`vyx.market.restriction`).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import attrs
import httpx
import trio
from loguru import logger

from kernels.ring import RingBuffer
from vyx.market.announcer import Announcer
from vyx.market.backfill import fetch_newest, fetch_range
from vyx.market.closes import CloseTracker, HistoryLoaded, MarketEvent, SymbolsRemoved
from vyx.market.connection import Batch, Connect, Shard, StreamConfig, run_shard
from vyx.market.frames import FrameError, Kline, Ticker
from vyx.market.history import History, KeyState
from vyx.market.phases import PhaseCallback as PhaseCallback
from vyx.market.phases import StartupPhases
from vyx.market.rest import RestBanned, RestClient, RestConfig, RestError, RestRestricted
from vyx.market.restriction import health_detail, log_line
from vyx.market.shards import ShardPlan
from vyx.market.statistics import BackfillProgress, MarketStatistics, market_problems
from vyx.market.tickers import TickerTable
from vyx.market.universe import (
    UniverseChange,
    UniverseConfig,
    request_weight_limit,
    select_universe,
)
from vyx.retry import Backoff
from vyx.settings import MarketSettings


@attrs.frozen
class MarketConfig:
    """Settings of the market service (built by ``vyx.config`` from the environment)."""

    rest: RestConfig = attrs.Factory(RestConfig)
    stream: StreamConfig = attrs.Factory(StreamConfig)
    universe: UniverseConfig = attrs.Factory(UniverseConfig)
    #: Closed bars to backfill per timeframe (default: the ring's capacity).
    warmup: Mapping[str, int] = attrs.Factory(dict)
    universe_refresh_s: float = 3600.0
    #: How long a close waits for stragglers before it is announced without them.
    close_grace_s: float = 2.0
    backfill_concurrency: int = 8
    repair_concurrency: int = 4
    #: Batches buffered between the connections and the writer (a batch is what one socket
    #: read completed: at most 64 KiB of frames).
    frame_buffer: int = 64
    retry: Backoff = attrs.Factory(lambda: Backoff(initial=1.0, maximum=60.0))
    #: Where the machine runs (Fly region), named when Binance refuses the location.
    region: str | None = None

    @classmethod
    def from_settings(cls, settings: MarketSettings, **overrides: Any) -> MarketConfig:
        """From the daemon's parsed environment (URLs, ``SYMBOL_COUNT``, ``SYMBOLS``)."""
        universe = UniverseConfig(count=settings.symbol_count, symbols=settings.symbols or ())
        return cls(
            rest=RestConfig(base_url=settings.rest_url),
            stream=StreamConfig(ws_url=settings.ws_url),
            universe=universe,
            **overrides,
        )


T = TypeVar("T")
#: Frames sent at one instant may carry event times this far apart (each stream is stamped on
#: its own): a frame stamped later than a clock reading by more was sent after it.
CLOCK_SLACK_MS = 1_000
ProgressCallback = Callable[[BackfillProgress], None]


class MarketHandle:
    """What :func:`run_market` gives the daemon once started."""

    def __init__(self, svc: _Market) -> None:
        self._svc = svc

    @property
    def tickers(self) -> TickerTable:
        """Last price, 24 h change and quote volume per symbol (updated live)."""
        return self._svc.tickers

    @property
    def symbols(self) -> tuple[str, ...]:
        """The current universe."""
        return self._svc.universe

    def statistics(self) -> MarketStatistics:
        """Counters and per-connection state (see :class:`MarketStatistics`)."""
        return self._svc.statistics()

    async def refresh_universe(self) -> UniverseChange:
        """Re-select the universe now (also done every ``universe_refresh_s``)."""
        return await self._svc.refresh_universe()


async def run_market(
    cfg: MarketConfig,
    rings: Mapping[str, RingBuffer],
    events: trio.MemorySendChannel[MarketEvent] | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    connect: Connect | None = None,
    progress: ProgressCallback | None = None,
    on_phase: PhaseCallback | None = None,
    task_status: trio.TaskStatus[MarketHandle] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the market service; ``started(MarketHandle)`` once backfilled and streaming.

    Args:
        cfg: settings.
        rings: one ring per timeframe to keep (keys are Binance interval names); written only here.
        events: where :class:`BarClosed`/:class:`HistoryLoaded`/:class:`SymbolsRemoved` go
            (bounded; a slow consumer slows the writer). None: nobody listens.
        transport: httpx transport for REST (tests).
        connect: WebSocket opener (tests); default trio-websocket.
        progress: called as backfill advances.
        on_phase: called as start-up goes (see :data:`PhaseCallback`).

    Never returns; cancellation closes sockets. REST failures at start-up are retried forever.
    """
    phases = StartupPhases(on_phase)
    async with (
        RestClient(cfg.rest, transport=transport, on_failure=phases.unreachable) as rest,
        trio.open_nursery() as nursery,
    ):
        svc = _Market(cfg, rings, events, rest, nursery, connect, progress, phases)
        await svc.start()
        task_status.started(MarketHandle(svc))


class _Market:
    def __init__(
        self,
        cfg: MarketConfig,
        rings: Mapping[str, RingBuffer],
        events: trio.MemorySendChannel[MarketEvent] | None,
        rest: RestClient,
        nursery: trio.Nursery,
        connect: Connect | None,
        progress: ProgressCallback | None,
        phases: StartupPhases,
    ) -> None:
        self.cfg = cfg
        self._phase = phases
        self.rings = rings
        self.timeframes = tuple(rings)
        self.rest = rest
        self.nursery = nursery
        self.connect = connect
        self.progress_cb = progress
        self.history = History(rings)
        self.tracker = CloseTracker(self.history.live_count, cfg.close_grace_s)
        self.announcer = Announcer(self.tracker, events)
        self.tickers = TickerTable()
        self.plan = ShardPlan(self.timeframes, 1024)
        self.shards: list[Shard] = []
        self.universe: tuple[str, ...] = ()
        self.universe_set: set[str] = set()
        self.progress = BackfillProgress(0, 0, 0, 0)
        self.repairing: set[tuple[str, str]] = set()
        self.repair_limiter = trio.CapacityLimiter(cfg.repair_concurrency)
        self.backfill_limiter = trio.CapacityLimiter(cfg.backfill_concurrency)
        self.frames_send, self.frames_recv = trio.open_memory_channel[Batch](cfg.frame_buffer)
        self.started_at = trio.current_time()
        self.reported_at = -math.inf
        self.refresh_lock = trio.Lock()
        #: The ``/health`` detail once Binance refused the location (the market is stopped).
        self.restricted: str | None = None
        #: The exchange's clock read once the streams were subscribed, until applied.
        self.clock_reading: int | None = None

    def restrict(self, where: str, reason: str) -> None:
        """Binance refused the location: log one line, tell the phase, stop (idempotent)."""
        if self.restricted is not None:
            return
        self.restricted = health_detail(self.cfg.region)
        self.rest.restrict(where, reason)
        logger.error("{}", log_line(self.cfg.region, where, reason))
        self._phase.restricted(self.restricted)

    # -- start-up ----------------------------------------------------------------------------------

    async def start(self) -> None:
        self._phase("connecting", f"exchange information from {self.cfg.rest.base_url}")
        info, tickers = await self._retry(self._exchange_state, "exchangeInfo/ticker")
        universe = select_universe(self.cfg.universe, info, tickers)
        logger.info("market universe: {} symbols x {}", len(universe), ", ".join(self.timeframes))
        for row in tickers:
            if row.get("symbol") in set(universe):
                self._rest_ticker(row)
        for symbol in universe:
            self.history.add_symbol(symbol)
        self.universe, self.universe_set = universe, set(universe)
        await self._backfill([(s, tf) for s in universe for tf in self.timeframes])
        self.nursery.start_soon(self._writer)
        self.nursery.start_soon(self.announcer.run)
        await self._place(universe, wait=True)
        self.nursery.start_soon(self._read_clock)
        self.nursery.start_soon(self._refresh_loop)
        self._phase("streaming", f"{len(universe)} symbols")
        self._phase.starting = False

    async def _exchange_state(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        info = await self.rest.exchange_info()
        limit = request_weight_limit(info)
        if limit:
            self.rest.set_weight_limit(limit)
        return info, await self.rest.tickers_24hr()

    async def _retry(self, fn: Callable[[], Awaitable[T]], what: str) -> T:
        """Call ``fn`` until it succeeds: REST bans are waited out, failures backed off."""
        backoff = self.cfg.retry
        while True:
            try:
                return await fn()
            except RestRestricted as exc:
                self.restrict(exc.where, exc.reason)
                await trio.sleep_forever()
            except RestBanned as exc:
                wait = exc.banned_until - trio.current_time()
                self._phase("unreachable", f"{what}: banned by the exchange for {wait:.0f}s")
                await trio.sleep_until(exc.banned_until)
            except RestError as exc:
                delay = backoff.delay()
                logger.warning("{} failed ({}); retrying in {:.1f}s", what, exc, delay)
                self._phase("unreachable", f"{what} failed ({exc}); retrying in {delay:.0f}s")
                await trio.sleep(delay)
                backoff = backoff.failed()

    # -- backfill ----------------------------------------------------------------------------------

    async def _backfill(self, keys: list[tuple[str, str]]) -> None:
        self.progress = BackfillProgress(
            self.progress.keys_done,
            self.progress.keys_total + len(keys),
            self.progress.bars,
            self.progress.requests,
        )
        self._report()
        async with trio.open_nursery() as nursery:
            for symbol, tf in keys:
                nursery.start_soon(self._backfill_key, symbol, tf)

    async def _backfill_key(self, symbol: str, tf: str) -> None:
        ring = self.rings[tf]
        count = min(self.cfg.warmup.get(tf, ring.capacity), ring.capacity)
        async with self.backfill_limiter:
            fetched = await self._retry(
                lambda: fetch_newest(self.rest, symbol, tf, count), f"backfill {symbol} {tf}"
            )
        p = self.progress
        self.progress = BackfillProgress(
            p.keys_done + 1, p.keys_total, p.bars + len(fetched.bars), p.requests + fetched.requests
        )
        self._report()
        if self.history.state(symbol, tf) is not KeyState.LOADING:
            return  # left the universe meanwhile
        self.history.load(symbol, tf, fetched.bars)
        ring = self.rings[tf]
        newest = ring.last_open_time(ring.slot(symbol)) if symbol in ring else -1
        self.announcer.emit(HistoryLoaded(tf, (symbol,), (newest,)))

    def _report(self) -> None:
        self._phase("backfilling", self.progress.line())
        if self.progress_cb is not None:
            self.progress_cb(self.progress)
            return
        # Without a callback, a progress line every few seconds (and at the end).
        now = trio.current_time()
        p = self.progress
        if p.keys_done == p.keys_total or now - self.reported_at >= 5.0:
            self.reported_at = now
            logger.info(p.line())

    async def _read_clock(self) -> None:
        """Read the exchange's clock once the streams are subscribed (at start, after a
        reconnect): bars that closed while a stream was not sent no frame, and its next one can
        be far off (the simulated exchange's 1h bar updates 15 market minutes apart) while the
        5m closes reading the 1h bar wait. They are repaired once a later frame came."""
        try:
            reading = await self.rest.server_time()
        except RestRestricted as exc:
            self.restrict(exc.where, exc.reason)
        except RestError as exc:
            logger.warning("server time failed ({}): missed closes wait for their next frame", exc)
        else:
            self.clock_reading = max(reading, self.clock_reading or reading)

    def _apply_clock_reading(self, reading: int) -> None:
        """A frame sent after ``reading`` came: every frame sent before it is in (a connection
        delivers in order), so a bar that closed by then and is not in the ring is missing."""
        self.clock_reading = None
        for repair in self.history.closed_by(reading):
            self._start_repair(repair.symbol, repair.timeframe)

    # -- streams -----------------------------------------------------------------------------------

    async def _place(self, symbols: tuple[str, ...], *, wait: bool) -> None:
        changed = self.plan.add(symbols)
        for index in sorted(changed):
            if index < len(self.shards):
                self.shards[index].set_streams(self.plan.streams(index))
                continue
            shard = Shard(index, self.plan.streams(index))
            self.shards.append(shard)
            if wait:
                await self.nursery.start(self._run_shard, shard)
            else:
                self.nursery.start_soon(self._run_shard, shard)

    async def _run_shard(
        self, shard: Shard, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        await run_shard(
            self.cfg.stream,
            shard,
            self.frames_send.clone(),
            connect=self.connect,
            on_restricted=self.restrict,
            on_reconnected=lambda: self.nursery.start_soon(self._read_clock),
            task_status=task_status,
        )

    async def _writer(self) -> None:
        """The single writer: applies frames in arrival order, every batch waiting at once."""
        recv = self.frames_recv
        async for first in recv:
            batch: Batch | None = first
            while batch is not None:
                for event in batch:
                    if isinstance(event, Ticker):
                        if event.symbol in self.universe_set:
                            self.tickers.update(event)
                        continue
                    repair = self.history.on_kline(event)
                    if repair is not None:
                        self._start_repair(repair.symbol, repair.timeframe)
                    if event.closed:
                        self._collect()
                        if self.tracker.next_deadline() == -math.inf:
                            # A bucket is complete: let the notifier announce it now, before
                            # the frames queued behind it.
                            await trio.lowlevel.checkpoint()
                reading = self.clock_reading
                if reading is not None and batch[-1].event_time > reading + CLOCK_SLACK_MS:
                    self._apply_clock_reading(reading)
                try:
                    batch = recv.receive_nowait()
                except trio.WouldBlock:
                    batch = None
            self._collect()

    def _collect(self) -> None:
        self.announcer.bars_appended(self.history.take_appended())

    # -- gap repair --------------------------------------------------------------------------------

    def _start_repair(self, symbol: str, tf: str) -> None:
        if (symbol, tf) not in self.repairing:
            self.repairing.add((symbol, tf))
            self.nursery.start_soon(self._repair, symbol, tf)

    async def _repair(self, symbol: str, tf: str) -> None:
        ring = self.rings[tf]
        backoff = self.cfg.retry
        try:
            while (todo := self.history.pending_repair(symbol, tf)) is not None:
                if todo.end - todo.start > ring.capacity * ring.timeframe_ms:
                    logger.warning("{} {}: hole larger than the ring, reloading", symbol, tf)
                    self.history.reset(symbol, tf)
                    await self._backfill([(symbol, tf)])
                    return
                bars: tuple[Kline, ...] = ()
                if todo.end > todo.start:
                    try:
                        async with self.repair_limiter:
                            bars = (
                                await fetch_range(self.rest, symbol, tf, todo.start, todo.end)
                            ).bars
                    except RestRestricted as exc:
                        self.restrict(exc.where, exc.reason)
                        return
                    except RestBanned as exc:
                        await trio.sleep_until(exc.banned_until)
                        continue
                    except RestError as exc:
                        logger.warning("repair {} {} failed: {}", symbol, tf, exc)
                        await trio.sleep(backoff.delay())
                        backoff = backoff.failed()
                        continue
                if self.history.state(symbol, tf) is not KeyState.REPAIRING:
                    return  # left the universe (or was reset) while fetching
                before = ring.next_open_time(ring.slot(symbol))
                again = self.history.complete_repair(symbol, tf, bars)
                self._collect()
                if again is not None and ring.next_open_time(ring.slot(symbol)) == before:
                    # The exchange does not have the bars yet (REST lags the stream): wait.
                    await trio.sleep(backoff.delay())
                    backoff = backoff.failed()
        finally:
            self.repairing.discard((symbol, tf))

    # -- universe ----------------------------------------------------------------------------------

    async def _refresh_loop(self) -> None:
        while True:
            await trio.sleep(self.cfg.universe_refresh_s)
            try:
                await self.refresh_universe()
            except RestRestricted as exc:
                self.restrict(exc.where, exc.reason)
                return
            except RestError as exc:
                logger.warning("universe refresh failed: {}", exc)

    async def refresh_universe(self) -> UniverseChange:
        async with self.refresh_lock:
            return await self._refresh_universe()

    async def _refresh_universe(self) -> UniverseChange:
        info, tickers = await self._exchange_state()
        new = select_universe(self.cfg.universe, info, tickers)
        if not new:
            logger.error("universe refresh selected no symbol; keeping the current one")
            return UniverseChange((), ())
        change = UniverseChange.between(self.universe, new)
        if change.left:
            for index in self.plan.remove(change.left):
                self.shards[index].set_streams(self.plan.streams(index))
            for symbol in change.left:
                self.history.remove_symbol(symbol)
            self.tickers.remove(change.left)
            self.tracker.forget(set(change.left))
            self.announcer.emit(SymbolsRemoved(change.left))
        self.universe = new
        self.universe_set = set(new)
        if change.joined:
            logger.info("universe: {} joining, {} leaving", len(change.joined), len(change.left))
            for symbol in change.joined:
                self.history.add_symbol(symbol)
            for row in tickers:
                if row.get("symbol") in set(change.joined):
                    self._rest_ticker(row)
            await self._place(change.joined, wait=False)
            await self._backfill([(s, tf) for s in change.joined for tf in self.timeframes])
        return change

    def _rest_ticker(self, row: dict[str, Any]) -> None:
        with contextlib.suppress(FrameError):
            self.tickers.update(Ticker.from_rest(row))

    # -- statistics --------------------------------------------------------------------------------

    def statistics(self) -> MarketStatistics:
        counts = self.history.counts()
        conns = tuple(c for shard in self.shards for c in shard.statistics())
        ages = [c.last_frame_age_s for c in conns if c.last_frame_age_s is not None]
        rest = self.rest.statistics()
        shards = [s.index for s in self.shards]
        stale_after_s = self.cfg.stream.stale_after_s
        return MarketStatistics(
            symbols=len(self.universe),
            timeframes=self.timeframes,
            connections=conns,
            shards=len(self.shards),
            frames=sum(s.frames for s in self.shards),
            frames_per_s=sum(c.frames_per_s for c in conns),
            last_frame_age_s=max(ages) if ages else None,
            malformed_frames=sum(s.malformed for s in self.shards),
            reconnects=sum(s.reconnects for s in self.shards),
            rotations=sum(s.rotations for s in self.shards),
            **attrs.asdict(counts),
            repairs_in_flight=len(self.repairing),
            backfill=self.progress,
            rest=rest,
            restricted=self.restricted,
            problems=market_problems(self.restricted, rest, conns, shards, stale_after_s),
        )
