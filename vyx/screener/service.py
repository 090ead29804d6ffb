"""The screener service.

It consumes the market's events in order and keeps the executor in step with the rings:

- ``HistoryLoaded``: those symbols' state is rebuilt from the ring (no signals for history)
  up to the last bar screened (this run, or the previous one: :mod:`vyx.screener.marks`); the
  bars after it closed while nobody screened them, and are screened now (*catch-up*), in time
  order across timeframes, with their signals;
- ``BarClosed``: one streaming step of every plan of that timeframe for every symbol that has
  new closed bars (repaired bars first, in order), in worker threads, then the firing rules
  (in the order of :mod:`vyx.screener.ordering`);
- ``SymbolsRemoved``: their state is dropped.

With ``intrabar_ms`` the forming bars are screened without committing every ``intrabar_ms``:
*provisional* signals, confirmed (same id) or cancelled when the bar closes. Screens never
overlap: events are handled one at a time, and trader changes wait for the screen in flight.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import TypeVar

import trio
from loguru import logger

from kernels.executor import Executor, ScreenResult, StaleStage, StepJob
from kernels.program import CompiledTrader, TraderDef
from kernels.ring import RingBuffer
from kernels.timeframes import bar_open, timeframe_ms
from vyx.market.closes import BarClosed, HistoryLoaded, MarketEvent, SymbolsRemoved
from vyx.screener.config import NO_HOOKS, ScreenerConfig, ScreenerHooks, SignalSink
from vyx.screener.install import STAGE_ATTEMPTS, InstallFailed, stage, vet
from vyx.screener.ordering import consume, intrabar_loop
from vyx.screener.signals import to_signals
from vyx.screener.statistics import ScreenerRecord, ScreenerStatistics
from vyx.signal import Signal

T = TypeVar("T")

#: Node steps a job may take on the event loop's thread (~8 ns each: at most ~0.2 ms there);
#: bigger jobs step in worker threads.
INLINE_STEPS = 25_000


def _now_ms() -> int:
    return int(time.time() * 1000)


class Screener:
    """The screener's state; :func:`drive_screener` drives it, the daemon holds it as a handle."""

    def __init__(
        self,
        cfg: ScreenerConfig,
        rings: Mapping[str, RingBuffer],
        sink: SignalSink,
        now_ms: Callable[[], int] = _now_ms,
        resume: Mapping[str, int] | None = None,
        *,
        hooks: ScreenerHooks = NO_HOOKS,
    ) -> None:
        self.cfg = cfg
        self.rings = rings
        self.executor = Executor(rings, cooldown_bars=cfg.cooldown_bars)
        self._sink = sink
        self._now_ms = now_ms
        self._lock = trio.Lock()
        self._limiter = trio.CapacityLimiter(max(1, cfg.workers))
        # One trader change compiles and warms up at a time, in a worker thread.
        self._installs = trio.CapacityLimiter(1)
        self._paused = False
        self._closed_upto: dict[str, int] = {}
        # Close time of the newest bar per timeframe whose signals went to the sink (this run),
        # the previous run's (``resume``), and per timeframe the newest bar open time loaded
        # from history that is still to be screened (catch-up).
        self._progress: dict[str, int] = {}
        self._resume = dict(resume or {})
        self._behind: dict[str, int] = {}
        self._loaded: set[str] = set()
        # Per timeframe, the slots whose history was loaded (slot -> its symbol then): only they
        # are screened. A slot the market has filled but not yet announced would otherwise be
        # stepped through its whole ring with signals on, firing on bars days old.
        self._live: dict[str, dict[int, str]] = {}
        self._caught_up = 0
        self._hooks = hooks
        self._provisional: dict[str, dict[str, Signal]] = {}
        self._record = ScreenerRecord()
        #: Set when the market's events ended and every one of them was handled.
        self.drained = trio.Event()

    # -- control (browser commands, the traders source, the scaler) ----------------------------

    async def set_traders(self, traders: Iterable[TraderDef | CompiledTrader]) -> dict[str, str]:
        """Replace the traders; returns trader id -> why it does not run (it is left out).

        Compiled traders are linked as they are (the others compiled). The change is checked,
        staged and warmed up in a worker thread and installed whole
        (see :mod:`vyx.screener.install`): screens wait for it, none sees a half-installed set.
        Raises :class:`InstallFailed` when the set as a whole could not be installed: the
        running traders are then unchanged. Cancellation: the running traders are unchanged
        (a worker still busy finishes in the background and is discarded).
        """
        wanted = list(traders)
        for _ in range(STAGE_ATTEMPTS):
            async with self._lock:
                staged, problems = await self._in_thread(partial(stage, self.executor, wanted))
                try:
                    self.executor.install(staged)
                except StaleStage:
                    self._record.stale_stages += 1
                    continue  # the closes that changed the rings are screened first
                self._record.installed(problems, self.executor.traders)
                return problems
        raise InstallFailed("the market kept writing candles while the traders were installed")

    async def check(self, trader: TraderDef | CompiledTrader) -> str | None:
        """Why ``trader`` cannot run on this machine, or None (checked in a worker thread; a
        compiled trader is not compiled again unless it cannot run here, for the reason).

        Cancellation: returns at once (the worker finishes in the background).
        """
        return await self._in_thread(partial(vet, trader, self.rings.keys(), self.executor.budget))

    async def _in_thread(self, work: Callable[[], T]) -> T:
        """``work()`` in a worker thread, one at a time (compiling and warming up traders)."""
        return await trio.to_thread.run_sync(work, limiter=self._installs, abandon_on_cancel=True)

    def pause(self) -> None:
        """Stop producing signals (state keeps up with the market, so resuming has no gap)."""
        self._paused = True

    def resume(self) -> None:
        """Produce signals again."""
        self._paused = False

    def set_workers(self, n: int) -> None:
        """Split screens over ``n`` worker threads from the next screen on."""
        self._limiter.total_tokens = max(1, n)

    def closed_upto(self, timeframe: str) -> int:
        """Close time (epoch ms) of the newest bar of ``timeframe`` screened so far (-1: none)."""
        return self._closed_upto.get(timeframe, -1)

    @property
    def progress(self) -> Mapping[str, int]:
        """Per timeframe, the close time of the newest bar whose signals went to the sink."""
        return self._progress

    @property
    def caught_up(self) -> int:
        """Bars screened by catch-up (closed while nobody screened them) since start."""
        return self._caught_up

    @property
    def timeframes(self) -> tuple[str, ...]:
        """Timeframes some trader screens or reads."""
        return self.executor.program.timeframes

    def warmup(self, trader_id: str) -> dict[str, int]:
        """Bars of history per timeframe ``trader_id`` needs before it may fire (empty: it is
        not installed)."""
        executor = self.executor
        if trader_id not in executor.program.traders:
            return {}
        return executor.program.warmup(trader_id, executor.layouts)

    def statistics(self) -> ScreenerStatistics:
        """Counters and per-trader records."""
        return self._record.snapshot(self._paused, int(self._limiter.total_tokens))

    # -- events --------------------------------------------------------------------------------

    def waiting_for(self, event: BarClosed) -> bool:
        """Must ``event`` wait for a longer timeframe's bar closed by its close (the one
        closing at the same instant, or one that is late: a repaired gap, a bar that closed
        while history was loading)?"""
        close = event.open_time + timeframe_ms(event.timeframe)
        for src_tf, need in self._sources(event.timeframe, close):
            ring = self.rings[src_tf]
            aligned = bar_open(src_tf, close) == close
            for symbol in event.symbols:
                if symbol in ring:
                    last = self.executor.last_stepped(src_tf, ring.slot(symbol))
                    # A symbol with no bar of that timeframe yet (a new listing) waits only
                    # for one closing with this bar.
                    if last < need and (aligned or last >= 0):
                        return True
        return False

    def _sources(self, tf: str, close: int) -> list[tuple[str, int]]:
        """Timeframes ``tf`` reads through ``on()``, and the open time of their newest bar
        closed by ``close``."""
        return [
            (src_tf, bar_open(src_tf, close) - timeframe_ms(src_tf))
            for src_tf in self.executor.sources(tf)
            if src_tf in self.rings
        ]

    def _sources_ready(self, tf: str, close: int) -> bool:
        """Has every symbol of ``tf`` that has longer bars stepped those closed by ``close``?"""
        slots = self._live_slots(tf)
        return not any(
            self.executor.behind(src_tf, slots, need) for src_tf, need in self._sources(tf, close)
        )

    async def handle(self, event: MarketEvent) -> None:
        """Apply one market event (see the module docstring)."""
        async with self._lock:
            if isinstance(event, BarClosed):
                if self._behind:
                    await self._catch_up()
                await self._bar_closed(event)
            elif isinstance(event, HistoryLoaded):
                await self._history_loaded(event)
            elif isinstance(event, SymbolsRemoved):
                self._symbols_removed(event)

    async def _run(self, job: StepJob) -> None:
        # A small job (a close of the reference workload: ~8,000 node steps, ~0.1 ms) is
        # stepped right here: handing it to a worker thread costs a wake-up and two GIL
        # hand-offs, each up to the interpreter's 5 ms switch interval while the event loop
        # is busy (the frames behind the close). A bigger one goes to a worker thread, helped
        # by more when it is big enough to pay for them (:meth:`StepJob.threads_worth`).
        if job.node_steps() < INLINE_STEPS:
            await trio.lowlevel.checkpoint_if_cancelled()
            job.run()
            return
        n = job.threads_worth(int(self._limiter.total_tokens))
        await trio.to_thread.run_sync(job.run_split, n, limiter=self._limiter)

    async def _bar_closed(self, event: BarClosed) -> None:
        tf = event.timeframe
        close = event.open_time + timeframe_ms(tf)
        self._closed_upto[tf] = max(self._closed_upto.get(tf, -1), close)
        if not self.executor.screens(tf):
            return
        job = self.executor.prepare(
            tf,
            until=event.open_time,
            slots=self._live_slots(tf),
            threads=int(self._limiter.total_tokens),
        )
        await self._run(job)
        result = self.executor.finish(job, emit=not self._paused)
        await self._publish(result)
        if result.matches and not math.isnan(event.at):
            delay = trio.current_time() - event.at
            for observe in self._hooks.on_delay:
                observe(delay)
        self._advanced(tf, close)

    def _advanced(self, tf: str, close: int) -> None:
        if close > self._progress.get(tf, -1):
            self._progress[tf] = close
            if self._hooks.on_progress is not None:
                self._hooks.on_progress(self._progress)

    async def _history_loaded(self, event: HistoryLoaded) -> None:
        tf = event.timeframe
        ring = self.rings.get(tf)
        if ring is None:
            return
        slots = [ring.slot(s) for s in event.symbols if s in ring]
        live = self._live.setdefault(tf, {})
        for slot in slots:
            live[slot] = ring.symbol_at(slot) or ""
        if not self.executor.screens(tf):
            # No trader of it yet: one added later is warmed from the ring, then screens these.
            return
        for slot in slots:
            self.executor.remove_symbol(tf, slot)
        # Each slot's history ends at the newest bar its load brought: bars the stream appended
        # since are closes still to come (their BarClosed follows this event).
        loaded = dict(zip(event.symbols, event.upto, strict=True)) if event.upto else {}
        by_newest: dict[int, list[int]] = {}
        for slot in slots:
            last = ring.last_open_time(slot)
            symbol = ring.symbol_at(slot) or ""
            by_newest.setdefault(min(last, loaded.get(symbol, last)), []).append(slot)
        newest = max(by_newest, default=-1)
        step = ring.timeframe_ms
        mark = self._progress.get(tf, self._resume.get(tf))
        for upto, group in sorted(by_newest.items()):
            until = None
            if mark is not None and upto >= 0:
                # History is state, not signals, up to the last bar screened; the bars after
                # it (at most ``catch_up_ms`` of them) are screened with their signals.
                start = max(mark, upto + step - self.cfg.catch_up_ms)
                until = start - step
                if upto > until:
                    self._behind[tf] = max(self._behind.get(tf, -1), upto)
            await self._step_history(tf, group, upto if until is None else until)
        await self._restep_readers(tf, event.symbols)
        if newest >= 0:
            self._closed_upto[tf] = max(self._closed_upto.get(tf, -1), newest + step)
        self._loaded.add(tf)
        waiting = {tf for tf in self._resume if self.executor.screens(tf)} - self._loaded
        if self._behind and not waiting:
            await self._catch_up()

    async def _restep_readers(self, tf: str, symbols: Sequence[str]) -> None:
        """Timeframes that read ``tf`` through ``on()`` and already stepped these symbols'
        history did so without ``tf``'s values (its history came second): step it again, as
        far as it had got, so their state and edges are what the backtest has."""
        for reader in self.executor.readers(tf):
            ring = self.rings[reader]
            live = self._live.get(reader, {})
            by_upto: dict[int, list[int]] = {}
            for symbol in symbols:
                slot = ring.slot(symbol) if symbol in ring else -1
                last = self.executor.last_stepped(reader, slot) if slot in live else -1
                if last >= 0:
                    by_upto.setdefault(last, []).append(slot)
            for upto, slots in by_upto.items():
                for slot in slots:
                    self.executor.remove_symbol(reader, slot)
                await self._step_history(reader, slots, upto)

    async def _step_history(self, tf: str, slots: Sequence[int], upto: int) -> None:
        """Step ``slots``' bars up to open time ``upto`` without signals, ``history_chunk`` bars
        at a time (one step over the whole history would hold arrays of every bar of every
        slot times every output: a transient of tens of MiB at the reference workload)."""
        ring = self.rings[tf]
        step = ring.timeframe_ms
        held = [slot for slot in slots if ring.length(slot)]
        if not held:
            return
        first = min(ring.last_open_time(slot) - (ring.length(slot) - 1) * step for slot in held)
        cut = first + (self.cfg.history_chunk - 1) * step
        while True:
            job = self.executor.prepare(tf, until=min(cut, upto), slots=held)
            await self._run(job)
            self.executor.finish(job, emit=False)
            await trio.lowlevel.checkpoint()  # a small job ran on the event loop: let it breathe
            if cut >= upto:
                return
            cut += self.cfg.history_chunk * step

    async def _catch_up(self) -> None:
        """Screen the bars loaded from history after the last bar screened, one close time at
        a time across timeframes (a longer timeframe first at the same instant, as live)."""
        todo: list[tuple[int, int, str, int]] = []
        for tf, upto in self._behind.items():
            ring = self.rings[tf]
            if not self.executor.screens(tf):
                continue
            step = ring.timeframe_ms
            held = self.executor.stepped_slots(tf, self._live_slots(tf))
            if not held:
                continue
            first = min(self.executor.last_stepped(tf, slot) for slot in held) + step
            first = max(first, upto - (self.cfg.catch_up_ms // step) * step)
            todo += [(o + step, -step, tf, o) for o in range(first, upto + 1, step)]
        self._behind.clear()
        if not todo:
            return
        todo.sort()
        started = time.perf_counter()
        before = self._record.signals
        stopped: set[str] = set()
        stepped = 0
        for close, _, tf, open_time in todo:
            if tf in stopped or not self._sources_ready(tf, close):
                # A longer bar it reads is not in yet: the rest of this timeframe is screened
                # by its next close, which waits for that bar.
                stopped.add(tf)
                continue
            job = self.executor.prepare(tf, until=open_time, slots=self._live_slots(tf))
            await self._run(job)
            await self._publish(self.executor.finish(job, emit=not self._paused))
            self._advanced(tf, close)
            stepped += 1
            await trio.lowlevel.checkpoint()  # a day of bars: the event loop keeps serving
        self._caught_up += stepped
        logger.info(
            "caught up {} bars that closed while nobody screened them ({} signals, {:.0f} ms)",
            stepped,
            self._record.signals - before,
            (time.perf_counter() - started) * 1000,
        )

    def _live_slots(self, tf: str) -> list[int]:
        ring = self.rings[tf]
        live = self._live.get(tf, {})
        gone = [slot for slot, symbol in live.items() if ring.symbol_at(slot) != symbol]
        for slot in gone:
            del live[slot]
        return list(live)

    def _symbols_removed(self, event: SymbolsRemoved) -> None:
        # The market freed their ring slots; a symbol reusing a slot arrives with a
        # HistoryLoaded that rebuilds the slot's state. Nothing is screened for a free slot.
        logger.info("symbols left the universe: {}", ", ".join(event.symbols))

    async def _publish(self, result: ScreenResult) -> None:
        for listener in self._hooks.on_screen:
            listener(result)
        now = self._now_ms()
        signals = to_signals(
            result.matches, user_id=self.cfg.user_id, machine_id=self.cfg.machine_id, now_ms=now
        )
        # Provisional signals of this bar that did not confirm are cancelled.
        pending = self._provisional.pop(result.timeframe, {})
        confirmed = {s.id for s in signals}
        cancelled = [sid for sid in pending if sid not in confirmed]
        traders = [s.trader_id for s in signals]
        self._record.screened(result.duration_s, result.traders, traders, len(cancelled), now)
        if signals or cancelled:
            await self._sink(signals, cancelled)

    async def intrabar(self) -> None:
        """Screen every timeframe's forming bars once: new provisional signals go out."""
        for tf in self.timeframes:
            async with self._lock:
                if not self.executor.screens(tf) or self._paused:
                    continue
                job = self.executor.prepare(tf, forming=True, slots=self._live_slots(tf))
                await self._run(job)
                result = self.executor.finish(job)
            signals = to_signals(
                result.matches,
                user_id=self.cfg.user_id,
                machine_id=self.cfg.machine_id,
                now_ms=self._now_ms(),
            )
            known = self._provisional.setdefault(tf, {})
            fresh = [s for s in signals if s.id not in known]
            for s in fresh:
                known[s.id] = s
            self._record.provisional += len(fresh)
            if fresh:
                await self._sink(fresh, ())


async def drive_screener(
    screener: Screener,
    events: trio.MemoryReceiveChannel[MarketEvent],
    *,
    task_status: trio.TaskStatus[Screener] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Screen ``events`` until the channel closes, with a screener built by the caller (the
    daemon builds it before the server, which hands it browser commands); ``started(screener)``
    at once. Returns once the
    channel closed and every event was handled (:attr:`Screener.drained` is then set)."""
    cfg = screener.cfg
    async with trio.open_nursery() as nursery:
        if cfg.intrabar_ms > 0:
            nursery.start_soon(intrabar_loop, screener, cfg.intrabar_ms / 1000)
        task_status.started(screener)
        await consume(screener, events, cfg.align_timeout_s)
        screener.drained.set()
        nursery.cancel_scope.cancel()
