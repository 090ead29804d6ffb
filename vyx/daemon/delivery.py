"""Where a screen's signals go: the store first (with the alerts they owe, in the same
transaction), then every browser, then the outcomes, the log and the analyzer.

:class:`Delivery` is a service (:meth:`Delivery.run`, started with the sinks, before the
screener) consuming a bounded channel of screens' signals. The screener hands each screen's
batch to :meth:`Delivery.deliver` (its sink) and goes on screening; a full channel makes it
wait (backpressure, never an unbounded buffer). The screener's progress moves once a batch is
handed on, so the restart marks of :mod:`vyx.screener.marks` wait for :meth:`Delivery.flush`
(every batch handed on so far is queued for the store) before the store's own flush: a mark
never passes signals the store has not been given, and a crash loses none (the bars after the
mark are screened again at the next start, and signal ids are deterministic). The store's
queue is the next bounded buffer (``save_signals`` waits when it is full).

Each batch is handled in one step, without a task switch until its browsers' messages are
queued: the signals queued for the store, one ``signals_created`` message per browser
(:func:`~vyx.server.protocol.signals_created`), the cancelled provisional signals announced.
Then, once the browsers' writers sent those messages (at most :data:`PUSH_WAIT_S` later), the
signals are followed for their outcomes, logged in one call and offered to the analyzer. A
screen's notice to the outcomes service (:meth:`Delivery.screened`, which steps the open
signals through the new bars) goes through the same channel and is passed on once the channel
is empty, so that work never delays a close's signals either.

At a stop, the daemon waits for :meth:`Delivery.flush` within its drain budget (the marks'
stage of :class:`~vyx.daemon.drain.DrainBudget`); batches still queued when the sinks are
cancelled are not delivered in this run (their bars are after the saved mark: the next start
screens them again).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import trio
from loguru import logger

from kernels.ring import RingBuffer
from vyx.daemon.control import Broadcast, RunningTraders
from vyx.server.batches import signals_created
from vyx.signal import Signal
from vyx.store.api import Store
from vyx.store.outbox import AlertRow
from vyx.telemetry.metrics import Metrics

if TYPE_CHECKING:
    from kernels.executor import ScreenResult
    from vyx.analysis import ConcurrentAnalyzer
    from vyx.notify.service import Notifier
    from vyx.outcomes.service import Outcomes

#: Recent confirmed signals kept for the snapshot a connecting browser gets.
RECENT_SIGNALS = 100

#: Screens' batches (and notices) waiting for the delivery at most; the screener waits beyond.
QUEUE_BATCHES = 64

#: How long the rest of a batch's work (outcomes, log, analyzer) waits for the browsers'
#: writers to send its messages, at most (a browser reading slowly holds nothing up longer).
PUSH_WAIT_S = 0.05


@attrs.define(eq=False)
class _Batch:
    """One screen's signals, handed on at ``queued_at`` (trio time)."""

    signals: Sequence[Signal]
    cancelled: Sequence[str]
    queued_at: float
    #: Seconds from the close announced to the batch handed on (the screener says, once known).
    announced: float = math.nan
    #: Trio time when its messages were queued to the browsers.
    pushed_at: float = math.nan


@attrs.frozen
class _Screened:
    """A screen ran (for the outcomes service, once the signals before it are out)."""

    result: ScreenResult


class Delivery:
    """Hands each screen's signals to the store, the browsers, the outcomes and the analyzer
    (the module docstring says in which order and when).

    Args:
        store: where confirmed signals are saved (awaited: the store's queue is the bound).
        broadcast: the browsers' broadcast (never blocks).
        metrics: ``vyx_signals_total`` counts what was stored; ``vyx_close_to_signals_seconds``
            observes each close's delay from announced to its signals pushed.
        analyzer: offered each confirmed signal of a trader with ``auto_analyze`` (never
            blocks); None when analysis is off.
        rings: the market's rings, read for the analyzer's candles.
        running: the traders running now (their analysis settings, their names).
        notifier: says which alerts each confirmed signal owes; they are saved with it (one
            transaction) and sent once committed. None: no alerts.
        outcomes: follows each confirmed signal (its outcome row is queued with it) and steps
            the open ones after each screen.
        capacity: batches waiting at most (the screener waits beyond).
        pushed: returns once the browsers' writers sent what was queued to them (bounded:
            :meth:`~vyx.server.hub.Hub.sent`); the outcomes, the log and the analyzer wait
            for it, so their work never delays a close's message. None: one task switch.
    """

    def __init__(
        self,
        *,
        store: Store,
        broadcast: Broadcast,
        metrics: Metrics,
        analyzer: ConcurrentAnalyzer | None,
        rings: Mapping[str, RingBuffer],
        running: RunningTraders,
        notifier: Notifier | None = None,
        outcomes: Outcomes | None = None,
        capacity: int = QUEUE_BATCHES,
        pushed: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.store = store
        self.broadcast = broadcast
        self.metrics = metrics
        self.analyzer = analyzer
        self.rings = rings
        self.running = running
        self.notifier = notifier
        self.outcomes = outcomes
        self.pushed = pushed
        #: The newest confirmed signals first, each the ``data`` of its ``signal_created``.
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT_SIGNALS)
        self._send, self._receive = trio.open_memory_channel[_Batch | _Screened](capacity)
        self._queued = 0
        self._handled = 0
        self._moved = trio.Event()
        self._last: _Batch | None = None
        self._screened: list[ScreenResult] = []

    # -- the screener's side -------------------------------------------------------------------

    async def deliver(self, signals: Sequence[Signal], cancelled: Sequence[str]) -> None:
        """The screener's :data:`~vyx.screener.config.SignalSink`: queue one screen's signals
        (and the provisional ones its close cancelled) for :meth:`run`, waiting while
        ``capacity`` batches wait. Cancellation: the batch is not queued."""
        batch = _Batch(tuple(signals), tuple(cancelled), trio.current_time())
        await self._send.send(batch)
        self._queued += 1
        self._last = batch

    def close_delay(self, seconds: float) -> None:
        """:attr:`ScreenerHooks.on_delay <vyx.screener.config.ScreenerHooks>`: the batch just
        handed on came ``seconds`` after its close was announced; the metric observes the delay
        to its push."""
        batch = self._last
        if batch is not None and math.isnan(batch.announced):
            batch.announced = seconds
            self._observe(batch)

    def screened(self, result: ScreenResult) -> None:
        """A screener's ``on_screen`` listener: the outcomes service hears of the screen once
        the signals queued before it are out (at once when the channel is full)."""
        if self.outcomes is None:
            return
        try:
            self._send.send_nowait(_Screened(result))
        except (trio.WouldBlock, trio.ClosedResourceError, trio.BrokenResourceError):
            self.outcomes.screened(result)

    async def flush(self) -> None:
        """Return once every batch :meth:`deliver` queued before the call is handled (queued
        for the store and pushed). Cancellation: safe."""
        target = self._queued
        while self._handled < target:
            await self._moved.wait()

    # -- the service ----------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Handle the queued batches in order until cancelled (``started()`` at once)."""
        task_status.started()
        async for item in self._receive:
            if isinstance(item, _Screened):
                self._screened.append(item.result)
            else:
                await self._deliver(item)
                self._handled += 1
                self._moved.set()
                self._moved = trio.Event()
            if self._screened and self._receive.statistics().current_buffer_used == 0:
                screened, self._screened = self._screened, []
                for result in screened:
                    if self.outcomes is not None:
                        self.outcomes.screened(result)

    async def handle(self, signals: Sequence[Signal], cancelled: Sequence[str]) -> None:
        """Deliver one screen's signals now, as :meth:`run` does each batch (tools, tests)."""
        await self._deliver(_Batch(tuple(signals), tuple(cancelled), trio.current_time()))

    async def _deliver(self, batch: _Batch) -> None:
        """One screen's signals: queued for
        the store first (with the alerts they owe), then pushed to every browser in one
        ``signals_created`` (per :data:`~vyx.server.protocol.MAX_SIGNALS_PER_MESSAGE`), the
        cancelled provisional ones announced; then, once the browsers' writers had their
        turn, followed for their outcomes (rows queued too), logged and offered to the
        analyzer (which never blocks: a signal never waits for its analysis)."""
        signals = self._mark_muted(batch.signals)
        confirmed = [s for s in signals if not s.provisional]
        if confirmed:
            await self.store.save_signals(confirmed, self._alerts(confirmed))
            self.metrics.signals.inc(len(confirmed))
        datas = [s.message_data() for s in signals]
        if confirmed:
            # Before the broadcast: a browser joining meanwhile gets them in its snapshot (the
            # newest first, as one appendleft each would leave them).
            shown = (
                datas
                if len(confirmed) == len(datas)
                else [d for d in datas if not d["provisional"]]
            )
            self.recent.extendleft(shown)
            # Each trader's last signal of the batch (a dict keeps the last value of a key).
            newest = {s.trader_id: s for s in confirmed}
            last = self.running.last_signals
            for trader_id, s in newest.items():
                last[trader_id] = {"symbol": s.symbol, "time": s.created_at}
        # One message per browser for the whole screen (version 1 browsers: one per signal).
        for message in signals_created(datas):
            self.broadcast(message)
        for sid in batch.cancelled:
            self.broadcast({"type": "signal_cancelled", "data": {"signalId": sid}})
        batch.pushed_at = trio.current_time()
        self._observe(batch)
        # The browsers' writers go first; the outcomes, the log and the analyzer after.
        if self.pushed is not None and (datas or batch.cancelled):
            await self.pushed()
        else:
            await trio.lowlevel.checkpoint()
        if confirmed and self.outcomes is not None:
            # After the signals' own messages: a browser learns of a signal before its outcome.
            await self.outcomes.follow(confirmed)
        if confirmed:
            # One log call for the whole batch: a call costs ~40 µs, a line ~1 µs.
            logger.info("{}", "\n".join(map(_log_line, confirmed)))
        if self.analyzer is not None:
            for s in confirmed:
                self._offer(s, self.analyzer)

    def _observe(self, batch: _Batch) -> None:
        """The close's delay to its push, once both halves are known."""
        if not (math.isnan(batch.announced) or math.isnan(batch.pushed_at)):
            self.metrics.close_to_signals.observe(
                batch.announced + batch.pushed_at - batch.queued_at
            )

    def _mark_muted(self, signals: Sequence[Signal]) -> Sequence[Signal]:
        """``signals``, those whose alert is muted now marked so (stored and shown muted,
        whatever the mutes are later; the notifier routes them to no channel)."""
        notifier = self.notifier
        if notifier is None or not any(map(notifier.muted, signals)):
            return signals
        return [attrs.evolve(s, alert_muted=True) if notifier.muted(s) else s for s in signals]

    def _alerts(self, confirmed: Sequence[Signal]) -> dict[str, list[AlertRow]] | None:
        """The alerts the signals owe (by signal id), each with its trader's name."""
        if self.notifier is None:
            return None
        names = {tid: info.definition.name for tid, info in self.running.traders.items()}
        return self.notifier.signal_alerts(confirmed, names)

    def _offer(self, s: Signal, analyzer: ConcurrentAnalyzer) -> None:
        """``s`` to the analyzer, with its trader's settings and candles, if it wants it."""
        info = self.running.traders.get(s.trader_id)
        if info is None or not info.auto_analyze:
            return
        if s.interval not in self.rings:
            return
        from vyx.analysis import AnalysisContext, Candles, TraderSettings

        trader = TraderSettings.from_strategy(
            info.id, info.definition.name, info.auto_analyze, dict(info.strategy)
        )
        candles = Candles.from_ring(self.rings[s.interval], s.symbol, s.interval)
        analyzer.submit(s, AnalysisContext(trader, candles))


def _log_line(s: Signal) -> str:
    conditions = "; ".join(s.matched_conditions)
    return f"signal {s.trader_id} {s.symbol} {s.interval} @ {s.price}: {conditions}"
