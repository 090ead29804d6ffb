"""The daemon: one Trio nursery tree that reads like the architecture.

::

    sinks (live longest)    store ── cloud machine ── analyzer ── server (/ws, /health, /metrics, /)
                                                  ▲                    ▲
                            delivery ─────────────┴── signals ─────────┘ (store, browsers, analyzer)
                                ▲
    sources (stopped first) screener ◄── events ── market (Binance or the simulated exchange)

:func:`run_daemon` builds it top to bottom, every collaborator passed in at construction:

1. the store (SQLite, or Supabase with its spool) — :func:`_start_store`;
2. in cloud mode the cloud machine (lifecycle, heartbeat, trader sync); the traders and the
   rings they need — :func:`_start`;
3. the services — :func:`_start_services`, one :class:`~vyx.daemon.services.Services` value:
   the sinks (the browsers' hub, the notifier and the mutes, the outcomes, the analyzer), the
   delivery, the screener (built, not screening yet: :func:`_build_screener`), the browser
   commands (:class:`~vyx.daemon.control.Control`) and the server;
4. the sources: the screener screens, the traders are installed, then the market backfills and
   streams; the scaler and the status loop watch — :func:`_run_sources`.

SIGTERM/SIGINT (or :meth:`Daemon.stop`) drain within ``DRAIN_TIMEOUT_S``, one
:class:`~vyx.daemon.drain.DrainBudget`: the market stops, the screener finishes the events it
already has (the screen in flight included) and its progress is saved, the cloud machine writes
its last row, the store flushes, browsers are closed with 1001, and :func:`run_daemon` returns
(exit 0).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import trio
from loguru import logger

from kernels.precompile import ensure_loaded
from kernels.ring import RingBuffer
from kernels.timeframes import timeframe_ms
from vyx import __version__
from vyx.authoring.desk import AuthoringDesk, drafter_for
from vyx.config import Config
from vyx.daemon.control import Control, RunningTraders
from vyx.daemon.delivery import PUSH_WAIT_S, Delivery
from vyx.daemon.drain import DrainBudget
from vyx.daemon.file_edits import file_edits_for
from vyx.daemon.handle import Daemon
from vyx.daemon.intake import Intake, TraderSource, install_first, open_intake, ring_capacity
from vyx.daemon.muting import MUTES_COPY, MuteKeeper
from vyx.daemon.phase import MarketPhase, PhaseReporter, run_market_until
from vyx.daemon.scaler import ScreenLoad
from vyx.daemon.scaling import note_screen, run_daemon_scaler
from vyx.daemon.services import Services
from vyx.daemon.settings import market_config, screener_config, server_config
from vyx.daemon.startup import listen_error
from vyx.daemon.status import cloud_metrics, status, status_loop, status_update
from vyx.data_dir import prepare_data_dir
from vyx.market.closes import MarketEvent
from vyx.notify.metrics import alerts_reporter, watch_alerts
from vyx.notify.service import Notifier, run_notifier
from vyx.outcomes.live import LiveOutcomes
from vyx.outcomes.records import Records
from vyx.outcomes.service import Outcomes
from vyx.screener.config import ScreenerHooks
from vyx.screener.marks import MarkKeeper, load_marks, marks_text
from vyx.screener.service import Screener, drive_screener
from vyx.server import ServerDeps, run_server
from vyx.server.hub import Hub
from vyx.server.service import ListenError, ServerHandle
from vyx.store.api import Store
from vyx.store.service import run_store
from vyx.telemetry.health import ComponentState, HealthRegistry
from vyx.telemetry.metrics import Metrics
from vyx.traders import TraderInfo

__all__ = ["Daemon", "DaemonOptions", "run_daemon"]

if TYPE_CHECKING:
    # Imported when used: the Supabase client and google-genai cost ~60 MiB of a 256 MB
    # machine, and an embedded daemon without a Gemini key needs neither.
    from vyx.analysis import ConcurrentAnalyzer
    from vyx.daemon.cloud import CloudMachine
    from vyx.store.supabase import SupabaseStore


@attrs.frozen
class DaemonOptions:
    """How this daemon runs beyond the environment's configuration."""

    #: Traders from a local file (None: from the store's ``traders`` table).
    traders: TraderSource | None = None
    #: Browser edits are written to the store (False when traders come from a file).
    persist_browser_edits: bool = True
    #: The traders file ``traders`` reads (``vyx run --traders``): a browser's edits are
    #: written back to it when it can be written (:mod:`vyx.daemon.file_edits`).
    traders_file: Path | None = None
    #: Install SIGTERM/SIGINT handlers (only from the main thread).
    handle_signals: bool = True
    #: Without ``GEMINI_API_KEY``, analyse signals with the built-in offline analyst (demo).
    offline_analyst: bool = False
    #: What chose the port (``vyx demo``: its ``--port``), for an operator's error.
    port_setting: str = "PORT"
    #: Called once the server listens, before the market is ready (the CLI prints the
    #: dashboard's address; the page shows how the market's start-up goes).
    announce: Callable[[ServerHandle], None] | None = None
    #: Called once the daemon is ready, after ``started(Daemon)`` (the CLI freezes the
    #: start-up's heap: :func:`vyx.daemon.heap.freeze_startup_heap`).
    ready: Callable[[], None] | None = None


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
    run = _Run(cfg, opts, DrainBudget(cfg.runtime.drain_timeout_s))
    async with trio.open_nursery() as sinks:
        if opts.handle_signals:
            sinks.start_soon(_signals, run.stop)
        with trio.CancelScope() as starting:
            sinks.start_soon(_cancel_unless_ready, run, starting)
            await _start(run, sinks, task_status)
        if starting.cancelled_caught:
            logger.info("stopped before the daemon was ready")
        # The sinks: the store flushes what is queued (its share of the budget), then
        # cancelling them is graceful for both: the server closes browsers with 1001 and the
        # store writes what is still queued, each within its own bounded budget.
        if run.store is not None:
            with trio.move_on_after(run.budget.store_flush_s) as flush_scope:
                flush_scope.shield = True
                await run.store.flush()
        sinks.cancel_scope.cancel()
    logger.info("stopped")


@attrs.define(eq=False)
class _Run:
    """What every part of one run of the daemon shares."""

    cfg: Config
    opts: DaemonOptions
    budget: DrainBudget
    health: HealthRegistry = attrs.Factory(HealthRegistry)
    metrics: Metrics = attrs.Factory(Metrics)
    #: Set by SIGTERM/SIGINT or :meth:`Daemon.stop`.
    stop: trio.Event = attrs.Factory(trio.Event)
    #: Set once ``started(Daemon)`` was called: a stop from then on drains.
    ready: trio.Event = attrs.Factory(trio.Event)
    phase: MarketPhase = attrs.Factory(MarketPhase)
    started_at: float = attrs.Factory(time.monotonic)
    #: Once started (the drain flushes it).
    store: Store | None = None


async def _cancel_unless_ready(run: _Run, starting: trio.CancelScope) -> None:
    """A stop before the daemon is ready cancels the start-up (after, the sources drain)."""
    await run.stop.wait()
    if not run.ready.is_set():
        starting.cancel()


async def _start(run: _Run, sinks: trio.Nursery, task_status: trio.TaskStatus[Daemon]) -> None:
    """The store, the cloud machine, the traders and their rings, the services, the sources."""
    store, supabase = await _start_store(run, sinks)
    # Every kernel loaded now: none at a close, a signal or an outcome (a cold cache compiles).
    await trio.to_thread.run_sync(ensure_loaded, abandon_on_cancel=True)
    async with AsyncExitStack() as stack:
        cloud: CloudMachine | None = None
        if supabase is not None:
            from vyx.daemon.cloud import cloud_machine

            cloud = await stack.enter_async_context(cloud_machine(run.cfg, supabase, run.budget))
        intake = await open_intake(run.cfg, run.opts.traders, store, cloud)
        capacity = ring_capacity(intake.traders)  # from the warm-ups their compiles found
        capacity.setdefault(run.cfg.market.kline_interval, 300)
        rings = {tf: RingBuffer(timeframe_ms(tf), n) for tf, n in capacity.items()}
        services = await _start_services(run, sinks, store, cloud, intake.load, rings)
        await _run_sources(run, services, cloud, intake, task_status)


async def _start_store(run: _Run, sinks: trio.Nursery) -> tuple[Store, SupabaseStore | None]:
    """The store, in the sinks (the Supabase one in cloud mode, also returned as such)."""
    cfg = run.cfg
    kept = cfg.store.spool_path if cfg.supabase is not None else cfg.store.database_path
    prepare_data_dir(cfg.store.data_dir, (kept,))
    supabase: SupabaseStore | None = None
    store: Store
    if cfg.supabase is not None:
        from vyx.store.supabase import run_supabase_store

        store = supabase = await sinks.start(
            partial(run_supabase_store, cfg.store, cfg.supabase, user_id=cfg.machine.user_id)
        )
        run.health.report("store", ComponentState.OK, "Supabase (with a local spool)")
    else:
        store = await sinks.start(run_store, cfg.store)
        run.health.report("store", ComponentState.OK, str(cfg.store.database_path))
    run.store = store
    return store, supabase


async def _start_services(
    run: _Run,
    sinks: trio.Nursery,
    store: Store,
    cloud: CloudMachine | None,
    load: TraderSource,
    rings: dict[str, RingBuffer],
) -> Services:
    """Everything a signal or a browser command reaches, up before the market, in order: the
    sinks (the browsers' hub, the notifier and the user's mutes, the outcomes, the analyzer),
    the delivery, the screener (not screening yet), Control and the server."""
    cfg, metrics = run.cfg, run.metrics
    hub = Hub(metrics)  # the browsers' broadcast, before the server: every service pushes to it
    notifier = await _start_notifier(run, sinks, store)
    mutes = await _load_mutes(run, store, notifier, hub)
    running = RunningTraders()
    outcomes = await _start_outcomes(run, sinks, store, hub, running, rings)
    analyzer = await _start_analyzer(run, sinks, store, hub, notifier, outcomes)
    delivery = Delivery(
        store=store,
        broadcast=hub.broadcast,
        metrics=metrics,
        analyzer=analyzer,
        rings=rings,
        running=running,
        notifier=notifier,
        outcomes=outcomes,
        pushed=partial(hub.sent, PUSH_WAIT_S),
    )
    await sinks.start(delivery.run)
    # Signals and machine rows carry cloud_machines.id in cloud mode.
    row_id = cloud.identity.id if cloud is not None else cfg.machine.machine_id
    screener, marks, screen_load = await _build_screener(run, store, delivery, rings, row_id)
    control = Control(
        user_id=cfg.machine.user_id,
        store=store,
        screener=screener,
        reload=load,
        persist_browser_edits=run.opts.persist_browser_edits,
        status=partial(status, cfg, screener, run.started_at, run.phase),
        broadcast=hub.broadcast,
        running=running,
        recent=delivery.recent,
        desk=AuthoringDesk(
            rings,
            partial(drafter_for, analyzer, cfg.analyzer),
            default_timeframe=cfg.market.kline_interval,
            cooldown_bars=cfg.market.cooldown_bars,
        ),
        on_traders=partial(_trader_alerts, notifier),
        record=outcomes.records.to_json,
        mutes=mutes,
        **file_edits_for(run.opts.traders_file),
    )
    server = await _start_server(run, sinks, control, hub)
    return Services(
        cfg=cfg,
        health=run.health,
        metrics=metrics,
        started_at=run.started_at,
        phase=run.phase,
        rings=rings,
        store=store,
        notifier=notifier,
        analyzer=analyzer,
        delivery=delivery,
        screener=screener,
        control=control,
        server=server,
        marks=marks,
        load=screen_load,
        row_id=row_id,
    )


async def _start_notifier(run: _Run, sinks: trio.Nursery, store: Store) -> Notifier:
    """The notifier in the sinks, following the store's outbox: it sends the alerts the store
    commits (and those an earlier run owed); ``/metrics`` and ``/health`` show its channels."""
    notifier: Notifier = await sinks.start(
        partial(run_notifier, run.cfg.notify, store.outbox, report=alerts_reporter(run.health))
    )
    watch_alerts(notifier.statistics, run.metrics, run.health)
    return notifier


async def _load_mutes(run: _Run, store: Store, notifier: Notifier, hub: Hub) -> MuteKeeper:
    """The user's mutes, read before any signal can alert; the notifier follows them."""
    cfg = run.cfg
    keeper = MuteKeeper(
        store,
        cfg.machine.user_id,
        copy=cfg.store.data_dir / MUTES_COPY,
        on_change=notifier.set_mutes,
        broadcast=hub.broadcast,
    )
    await keeper.load()
    return keeper


async def _start_outcomes(
    run: _Run,
    sinks: trio.Nursery,
    store: Store,
    hub: Hub,
    running: RunningTraders,
    rings: dict[str, RingBuffer],
) -> Outcomes:
    """The outcomes of the signals, followed over the rings, in the sinks."""
    outcomes = Outcomes(
        LiveOutcomes(rings),
        Records(_now_ms),
        store,
        hub.broadcast,
        user_id=run.cfg.machine.user_id,
        direction_of=running.direction,
        now_ms=_now_ms,
        metrics=run.metrics,
    )
    await sinks.start(outcomes.run)
    return outcomes


async def _start_analyzer(
    run: _Run,
    sinks: trio.Nursery,
    store: Store,
    hub: Hub,
    notifier: Notifier,
    outcomes: Outcomes,
) -> ConcurrentAnalyzer | None:
    """The analyzer in the sinks, or None (``/health`` says why) without a Gemini key."""
    cfg = run.cfg
    if not (cfg.analyzer.enabled or run.opts.offline_analyst):
        run.health.report("analyzer", ComponentState.DISABLED, "no GEMINI_API_KEY")
        return None
    from vyx.analysis import AnalyzerOptions, run_analyzer
    from vyx.analysis.journal import JOURNAL_FILE

    def push(message: dict[str, Any]) -> None:
        hub.broadcast(message)
        outcomes.analysed(message)  # its key levels score the signal

    options = AnalyzerOptions(
        offline=run.opts.offline_analyst,
        journal=cfg.store.data_dir / JOURNAL_FILE,
        alerts=notifier.verdict_alerts,  # the verdict follows its signal's alert
    )
    analyzer: ConcurrentAnalyzer = await sinks.start(
        partial(run_analyzer, cfg.analyzer, store, push, options=options)
    )
    return analyzer


async def _build_screener(
    run: _Run, store: Store, delivery: Delivery, rings: dict[str, RingBuffer], row_id: str
) -> tuple[Screener, MarkKeeper, ScreenLoad]:
    """The screener, its signals handed to the delivery, not screening yet (no traders), from
    where the last run got (its marks, saved once the store holds the signals); and the load
    its screens put on the scaler."""
    cfg = run.cfg
    resume = load_marks(cfg.store.data_dir)
    if resume:
        logger.info("last run screened up to {}", marks_text(resume))
    marks = MarkKeeper(cfg.store.data_dir, store, resume, handed_on=delivery.flush)
    screen_load = ScreenLoad()
    hooks = ScreenerHooks(
        on_screen=(
            run.metrics.observe_screen,
            partial(note_screen, screen_load),
            delivery.screened,
        ),
        on_delay=(delivery.close_delay,),
        on_progress=marks.poke,
    )
    scfg = screener_config(cfg, row_id)
    screener = Screener(scfg, rings, delivery.deliver, resume=resume, hooks=hooks)
    await screener.set_traders(())
    return screener, marks, screen_load


async def _start_server(run: _Run, sinks: trio.Nursery, control: Control, hub: Hub) -> ServerHandle:
    """The server in the sinks; an address it cannot bind stops the start (exit status 2)."""
    opts = run.opts
    deps = ServerDeps(
        commands=control.handle,
        snapshot=control.snapshot,
        health=run.health,
        metrics=run.metrics,
        hub=hub,
    )
    try:
        server: ServerHandle = await sinks.start(run_server, server_config(run.cfg), deps)
    except ListenError as exc:
        raise listen_error(exc, opts.port_setting) from None
    if opts.announce is not None:
        opts.announce(server)
    return server


def _trader_alerts(notifier: Notifier, traders: Mapping[str, TraderInfo]) -> None:
    notifier.set_traders({tid: info.alerts for tid, info in traders.items()})


async def _run_sources(
    run: _Run,
    services: Services,
    cloud: CloudMachine | None,
    intake: Intake,
    task_status: trio.TaskStatus[Daemon],
) -> None:
    """The screener screens, the traders are installed, the market starts; ``started`` once it
    streams; at a stop the sources drain within their share of the budget."""
    s, cfg, health = services, run.cfg, run.health
    events_tx, events_rx = trio.open_memory_channel[MarketEvent](1024)
    events_depth = run.metrics.queue_depth.labels("market_events")
    events_depth.set_function(lambda: events_rx.statistics().current_buffer_used)
    async with trio.open_nursery() as sources:
        await sources.start(drive_screener, s.screener, events_rx)
        sources.start_soon(s.marks.run)
        await install_first(intake, s.control, cloud)
        if cloud is not None:
            sample = partial(cloud_metrics, cfg, s.screener, s.analyzer, s.control)
            sources.start_soon(cloud.run_metrics, sample)
        health.report("server", ComponentState.OK, s.server.url)
        health.report("market", ComponentState.STARTING, "backfilling")
        health.report("screener", ComponentState.STARTING, "waiting for history")
        market_scope = trio.CancelScope()
        capacity = {tf: ring.capacity for tf, ring in s.rings.items()}
        market = await sources.start(
            run_market_until,
            market_scope,
            market_config(cfg, capacity),
            s.rings,
            events_tx,
            PhaseReporter(run.phase, health, lambda: s.server.broadcast(status_update(s.control))),
        )
        run.phase.market = market
        await sources.start(run_daemon_scaler, services)
        sources.start_soon(status_loop, services, market)
        logger.info(
            "vyx {} ready: {} traders, {} symbols, timeframes {}",
            __version__,
            len(intake.traders),
            len(market.symbols),
            ", ".join(s.rings),
        )
        task_status.started(Daemon(services, market, run.stop))
        run.ready.set()
        if run.opts.ready is not None:
            run.opts.ready()
        await run.stop.wait()
        await _drain_sources(run, services, market_scope)
        sources.cancel_scope.cancel()


async def _drain_sources(run: _Run, services: Services, market_scope: trio.CancelScope) -> None:
    """The market closes its sockets and the event channel; the screener finishes the events
    it already has, then returns; the delivery hands on the signals queued, and the screener's
    progress is saved once the store holds them (each by its deadline of
    :class:`DrainBudget`)."""
    logger.info("draining (budget {}s)", run.budget.total_s)
    begun = trio.current_time()
    market_scope.cancel()
    with trio.move_on_at(run.budget.sources_until(begun)) as too_slow:
        await services.screener.drained.wait()
    if too_slow.cancelled_caught:
        logger.warning("screener did not finish in time; stopping it")
    else:
        with trio.move_on_at(run.budget.marks_until(begun)):
            await services.delivery.flush()
            await services.marks.save()


def _now_ms() -> int:
    return int(time.time() * 1000)


async def _signals(stop: trio.Event) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as received:
        async for signum in received:
            logger.info("received {}, stopping", signal.Signals(signum).name)
            stop.set()
