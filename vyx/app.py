"""The daemon: one Trio nursery tree that reads like the architecture.

::

    sinks (live longest)        store ─────────────── server (/ws, /health, /metrics, /)
    sources (stopped first)     screener ◄── events ── market (Binance or the simulated exchange)
                                        └─► signals ─► store, browsers (and the analyzer)

Sinks start before sources; each service calls ``task_status.started`` only when ready.
SIGTERM/SIGINT (or :meth:`Daemon.stop`) drain within ``DRAIN_TIMEOUT_S``: the market stops,
the screener finishes the events it already has (the screen in flight included), the store
flushes, browsers are closed with 1001, and :func:`run_daemon` returns (exit 0).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from errno import EACCES, EADDRINUSE, EADDRNOTAVAIL
from functools import partial
from typing import TYPE_CHECKING, Any

import attrs
import trio
from loguru import logger

from kernels.lang import MAX_RING
from kernels.program import Program
from kernels.ring import RingBuffer
from kernels.timeframes import timeframe_ms
from vyx import __version__
from vyx.config import Config
from vyx.daemon.control import Control
from vyx.daemon.delivery import deliver
from vyx.daemon.health import ComponentState, HealthRegistry
from vyx.daemon.metrics import Metrics
from vyx.daemon.scaling import run_daemon_scaler
from vyx.daemon.startup import StartupError, prepare_data_dir
from vyx.daemon.status import (
    MarketPhase,
    PhaseReporter,
    cloud_metrics,
    status,
    status_loop,
    status_update,
)
from vyx.market.closes import MarketEvent
from vyx.market.connection import StreamConfig
from vyx.market.rest import RestConfig
from vyx.market.service import MarketConfig, MarketHandle, PhaseCallback, run_market
from vyx.market.universe import UniverseConfig
from vyx.screener.marks import MarkKeeper, load_marks
from vyx.screener.service import Screener, ScreenerConfig, run_screener
from vyx.server import AuthConfig, ServerConfig, ServerDeps, run_server
from vyx.server.auth import supabase_jwks_url
from vyx.server.interface import CommandRejected
from vyx.server.service import ListenError, ServerHandle
from vyx.signal import Signal

if TYPE_CHECKING:
    # Imported when used: the Supabase client and google-genai cost ~60 MiB of a 256 MB
    # machine, and an embedded daemon without a Gemini key needs neither.
    from vyx.analysis import ConcurrentAnalyzer
    from vyx.cloud.service import CloudMachine
    from vyx.store.supabase import SupabaseStore
from vyx.store.api import Store
from vyx.store.service import run_store
from vyx.traders import TraderInfo, TraderRejected, from_record

#: Traders loader: every trader to run and the ones rejected (with reasons).
TraderSource = Callable[[], Awaitable[tuple[list[TraderInfo], list[TraderRejected]]]]


@attrs.frozen
class DaemonOptions:
    """How this daemon runs beyond the environment's configuration."""

    #: Traders from a local file (None: from the store's ``traders`` table).
    traders: TraderSource | None = None
    #: Browser edits are written to the store (False when traders come from a file).
    persist_browser_edits: bool = True
    #: Install SIGTERM/SIGINT handlers (only from the main thread).
    handle_signals: bool = True
    #: Without ``GEMINI_API_KEY``, analyse signals with the built-in offline analyst (demo).
    offline_analyst: bool = False
    #: What chose the port (``vyx demo``: its ``--port``), for an operator's error.
    port_setting: str = "PORT"
    #: Called once the server listens, before the market is ready (the CLI prints the
    #: dashboard's address; the page shows how the market's start-up goes).
    announce: Callable[[ServerHandle], None] | None = None


@attrs.define(eq=False)
class Daemon:
    """The running daemon (what ``run_daemon`` hands to ``task_status.started``)."""

    cfg: Config
    store: Store
    server: ServerHandle
    screener: Screener
    market: MarketHandle
    control: Control
    health: HealthRegistry
    metrics: Metrics
    rings: dict[str, RingBuffer]
    started_at: float
    phase: MarketPhase
    _stop: trio.Event

    def stop(self) -> None:
        """Drain and stop (as SIGTERM does)."""
        self._stop.set()

    def status(self) -> dict[str, Any]:
        """The ``status_update`` data."""
        return status(self.cfg, self.screener, self.market, self.started_at, self.phase)


def ring_capacity(traders: Sequence[TraderInfo]) -> dict[str, int]:
    """Closed bars to keep per timeframe: every trader's warm-up plus a margin (at most
    :data:`MAX_RING`; a trader that needs more is refused when it is installed)."""
    need: dict[str, int] = {}
    for t in traders:
        # Traders that do not compile are left out here and reported by Control.apply.
        program = Program()
        try:
            program.add(t.definition)
            warmup = program.warmup(t.id, program.layouts())
        except Exception:
            continue
        for tf, bars in warmup.items():
            need[tf] = max(need.get(tf, 0), bars)
    return {tf: min(MAX_RING, max(300, int(n * 1.2) + 20)) for tf, n in need.items()}


def market_config(cfg: Config, capacity: dict[str, int]) -> MarketConfig:
    """The market service's settings from the environment's."""
    m = cfg.market
    return MarketConfig(
        rest=RestConfig(base_url=m.rest_url),
        stream=StreamConfig(ws_url=m.ws_url),
        universe=UniverseConfig(count=m.symbol_count, symbols=m.symbols or ()),
        warmup=capacity,
    )


def server_config(cfg: Config) -> ServerConfig:
    """The server's settings: Supabase tokens in cloud mode, a one-time local token embedded."""
    sb = cfg.supabase
    auth = AuthConfig(
        user_id=cfg.machine.user_id,
        jwt_secret=sb.jwt_secret if sb else None,
        jwks_url=(sb.jwks_url or supabase_jwks_url(sb.url)) if sb else None,
        local_token=cfg.mode == "embedded",
    )
    return ServerConfig(
        cfg.server.host,
        cfg.server.port,
        auth,
        machine_id=cfg.machine.machine_id,
        instance_id=cfg.fly.machine_id,
    )


async def store_traders(
    store: Store, user_id: str
) -> tuple[list[TraderInfo], list[TraderRejected]]:
    """Every trader of ``user_id`` in the store that belongs on this machine."""
    infos, rejected = [], []
    for row in await store.load_traders(user_id):
        if not row.enabled_in_cloud:
            continue
        try:
            infos.append(from_record(row))
        except TraderRejected as exc:
            rejected.append(exc)
    return infos, rejected


async def run_daemon(
    cfg: Config,
    opts: DaemonOptions = DaemonOptions(),
    *,
    task_status: trio.TaskStatus[Daemon] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run every service until SIGTERM/SIGINT or :meth:`Daemon.stop`, then drain (bounded).

    ``started(Daemon)`` once the market is backfilled and streaming. A SIGTERM/SIGINT before
    that (market unreachable, backfilling, catching up, installing traders) stops the start-up
    and returns without ``started``.
    """
    run = _Run(cfg, opts, HealthRegistry(), Metrics(), trio.Event(), trio.Event())
    async with trio.open_nursery() as sinks:
        if opts.handle_signals:
            sinks.start_soon(_signals, run.stop)
        with trio.CancelScope() as starting:
            sinks.start_soon(_cancel_unless_ready, run, starting)
            await _start(run, sinks, task_status)
        if starting.cancelled_caught:
            logger.info("stopped before the daemon was ready")
        # 2. Sinks: flush what is queued, close browsers with 1001, stop the writer. The sources
        # took at most 55% of the drain budget and the cloud machine's final write 20%.
        store = run.store
        if store is not None:
            with trio.move_on_after(cfg.runtime.drain_timeout_s / 4) as flush_scope:
                flush_scope.shield = True
                await store.flush()
        # Cancelling the sinks is graceful for both: the server closes browsers with 1001 and
        # the store writes what is still queued, each within its own bounded budget.
        sinks.cancel_scope.cancel()
    logger.info("stopped")


@attrs.define(eq=False)
class _Run:
    """What every part of one run of the daemon shares."""

    cfg: Config
    opts: DaemonOptions
    health: HealthRegistry
    metrics: Metrics
    #: Set by SIGTERM/SIGINT or :meth:`Daemon.stop`.
    stop: trio.Event
    #: Set once ``started(Daemon)`` was called: a stop from then on drains.
    ready: trio.Event
    phase: MarketPhase = attrs.Factory(MarketPhase)
    started_at: float = attrs.Factory(time.monotonic)
    store: Store | None = None


async def _cancel_unless_ready(run: _Run, starting: trio.CancelScope) -> None:
    """A stop before the daemon is ready cancels the start-up (after, the sources drain)."""
    await run.stop.wait()
    if not run.ready.is_set():
        starting.cancel()


async def _start(run: _Run, sinks: trio.Nursery, task_status: trio.TaskStatus[Daemon]) -> None:
    """The store, the cloud machine and the traders, then :func:`_serve`."""
    cfg, opts, health = run.cfg, run.opts, run.health
    store: Store
    supabase: SupabaseStore | None = None
    kept = cfg.store.spool_path if cfg.supabase is not None else cfg.store.database_path
    prepare_data_dir(cfg.store.data_dir, (kept,))
    if cfg.supabase is not None:
        from vyx.store.supabase import run_supabase_store

        store = supabase = await sinks.start(
            partial(run_supabase_store, cfg.store, cfg.supabase, user_id=cfg.machine.user_id)
        )
        health.report("store", ComponentState.OK, "Supabase (with a local spool)")
    else:
        store = await sinks.start(run_store, cfg.store)
        health.report("store", ComponentState.OK, str(cfg.store.database_path))
    run.store = store
    async with AsyncExitStack() as stack:
        cloud: CloudMachine | None = None
        if supabase is not None:
            from vyx.cloud.service import cloud_machine

            cloud = await stack.enter_async_context(cloud_machine(cfg, supabase))
        if opts.traders is not None:
            load: TraderSource = opts.traders
        elif cloud is not None:
            load = cloud.reload
        else:
            load = partial(store_traders, store, cfg.machine.user_id)
        traders, rejected = cloud.traders.current() if cloud and not opts.traders else await load()
        await _serve(run, store, cloud, load, traders, rejected, sinks, task_status)


async def _serve(
    run: _Run,
    store: Store,
    cloud: CloudMachine | None,
    load: TraderSource,
    traders: list[TraderInfo],
    rejected: list[TraderRejected],
    sinks: trio.Nursery,
    task_status: trio.TaskStatus[Daemon],
) -> None:
    """Rings, screener, server and market; returns once the sources have drained."""
    cfg, opts, health, metrics = run.cfg, run.opts, run.health, run.metrics
    stop, started_at, phase = run.stop, run.started_at, run.phase
    capacity = await trio.to_thread.run_sync(ring_capacity, traders, abandon_on_cancel=True)
    capacity.setdefault(cfg.market.kline_interval, 300)
    rings = {tf: RingBuffer(timeframe_ms(tf), n) for tf, n in capacity.items()}
    market: MarketHandle | None = None
    sink_ref: list[Callable[[Sequence[Signal], Sequence[str]], Awaitable[None]]] = []

    async def sink(signals: Sequence[Signal], cancelled: Sequence[str]) -> None:
        await sink_ref[0](signals, cancelled)

    events_tx, events_rx = trio.open_memory_channel[MarketEvent](1024)
    scfg = ScreenerConfig(
        user_id=cfg.machine.user_id,
        # Signals carry cloud_machines.id in cloud mode.
        machine_id=cloud.identity.id if cloud is not None else cfg.machine.machine_id,
        workers=cfg.runtime.workers,
        intrabar_ms=cfg.market.screening_interval_ms,
        cooldown_bars=cfg.market.cooldown_bars,
    )
    async with trio.open_nursery() as sources:
        resume = load_marks(cfg.store.data_dir)
        if resume:
            logger.info("last run screened up to {}", _marks_line(resume))
        screener: Screener = await sources.start(
            partial(run_screener, scfg, rings, events_rx, sink, resume=resume)
        )
        marks = MarkKeeper(cfg.store.data_dir, store, screener.progress, resume)
        screener.on_progress = marks.poke
        sources.start_soon(marks.run)
        screener.listeners.append(metrics.observe_screen)
        screener.delay_listeners.append(metrics.close_to_signals.observe)
        events_depth = metrics.queue_depth.labels("market_events")
        events_depth.set_function(lambda: events_rx.statistics().current_buffer_used)
        control = Control(
            user_id=cfg.machine.user_id,
            store=store,
            screener=screener,
            reload=load,
            persist_browser_edits=opts.persist_browser_edits,
            status=lambda: status(cfg, screener, market, started_at, phase),
        )
        deps = ServerDeps(
            commands=control.handle, snapshot=control.snapshot, health=health, metrics=metrics
        )
        try:
            server: ServerHandle = await sinks.start(run_server, server_config(cfg), deps)
        except ListenError as exc:
            hint = {
                EADDRINUSE: f"; set {opts.port_setting} to a free port",
                EACCES: f"; set {opts.port_setting} to a port above 1023",
                EADDRNOTAVAIL: "; set HOST to an address of this machine",
            }.get(exc.errno or 0, "")
            raise StartupError(f"{exc}{hint}") from None
        control.broadcast = server.broadcast

        def push(message: dict[str, Any]) -> None:
            server.broadcast(message)

        if opts.announce is not None:
            opts.announce(server)
        analyzer: ConcurrentAnalyzer | None = None
        if cfg.analyzer.enabled or opts.offline_analyst:
            from vyx.analysis import AnalyzerOptions, run_analyzer
            from vyx.analysis.journal import JOURNAL_FILE

            analyzer = await sinks.start(
                partial(
                    run_analyzer,
                    cfg.analyzer,
                    store,
                    push,
                    options=AnalyzerOptions(
                        offline=opts.offline_analyst,
                        journal=cfg.store.data_dir / JOURNAL_FILE,
                    ),
                )
            )
        else:
            health.report("analyzer", ComponentState.DISABLED, "no GEMINI_API_KEY")
        sink_ref.append(partial(deliver, store, server, control, metrics, analyzer, rings))
        if cloud is not None and opts.traders is None:
            await cloud.traders.attach(control)
        else:
            try:
                await control.apply(traders, rejected)
            except CommandRejected as exc:
                # Never a reason to stop: the daemon runs without them and says why.
                logger.error("{}", exc.message)
        if cloud is not None:
            cloud.sample = partial(cloud_metrics, cfg, screener, analyzer, control)
        health.report("server", ComponentState.OK, server.url)
        health.report("market", ComponentState.STARTING, "backfilling")
        health.report("screener", ComponentState.STARTING, "waiting for history")
        market_scope = trio.CancelScope()
        market = await sources.start(
            _run_market_until,
            market_scope,
            market_config(cfg, capacity),
            rings,
            events_tx,
            PhaseReporter(phase, health, lambda: server.broadcast(status_update(control))),
        )
        assert market is not None
        row_id = cloud.identity.id if cloud is not None else cfg.machine.machine_id
        await sources.start(run_daemon_scaler, cfg, screener, store, server, analyzer, row_id)
        sources.start_soon(
            status_loop,
            cfg,
            analyzer,
            control,
            screener,
            market,
            store,
            server,
            health,
            metrics,
            started_at,
            phase,
        )
        daemon = Daemon(
            cfg,
            store,
            server,
            screener,
            market,
            control,
            health,
            metrics,
            rings,
            started_at,
            phase,
            stop,
        )
        logger.info(
            "vyx {} ready: {} traders, {} symbols, timeframes {}",
            __version__,
            len(traders),
            len(market.symbols),
            ", ".join(rings),
        )
        task_status.started(daemon)
        run.ready.set()
        await stop.wait()
        logger.info("draining (budget {}s)", cfg.runtime.drain_timeout_s)
        budget = cfg.runtime.drain_timeout_s
        begun = trio.current_time()
        # 1. Sources stop: the market closes its sockets and the event channel; the
        # screener finishes the events it already has, then returns (40% of the budget), and
        # its progress is saved once the store holds its signals (15%).
        market_scope.cancel()
        with trio.move_on_at(begun + budget * 0.4) as too_slow:
            await screener.drained.wait()
        if too_slow.cancelled_caught:
            logger.warning("screener did not finish in time; stopping it")
        else:
            with trio.move_on_at(begun + budget * 0.55):
                await marks.save()
        sources.cancel_scope.cancel()


def _marks_line(marks: Mapping[str, int]) -> str:
    return ", ".join(
        f"{tf} {time.strftime('%Y-%m-%d %H:%M', time.gmtime(ms / 1000))} UTC"
        for tf, ms in sorted(marks.items(), key=lambda kv: timeframe_ms(kv[0]))
    )


async def _run_market_until(
    scope: trio.CancelScope,
    cfg: MarketConfig,
    rings: dict[str, RingBuffer],
    events: trio.MemorySendChannel[MarketEvent],
    on_phase: PhaseCallback,
    *,
    task_status: trio.TaskStatus[MarketHandle] = trio.TASK_STATUS_IGNORED,
) -> None:
    async with events:  # closing it tells the screener that no more events will come
        with scope:
            await run_market(cfg, rings, events, on_phase=on_phase, task_status=task_status)


async def _signals(stop: trio.Event) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as received:
        async for signum in received:
            logger.info("received {}, stopping", signal.Signals(signum).name)
            stop.set()
