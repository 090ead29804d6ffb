"""Where a screen's signals go: the store first (with the alerts they owe, in the same
transaction), then every browser, then the analyzer.

:class:`Delivery` is built before the screener and handed to it as its sink. The screener awaits
:meth:`Delivery.deliver` once per screen: its progress (and so the restart marks of
:mod:`vyx.screener.marks`) moves only once the store holds the screen's signals in its queue.
A queue between the two would let a mark pass signals the store has not been given yet, and a
crash then would lose them; the store's own queue is the bounded buffer (``save_signals``
waits when it is full).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import trio
from loguru import logger

from kernels.ring import RingBuffer
from vyx.daemon.control import Broadcast, RunningTraders
from vyx.server.protocol import signals_created
from vyx.signal import Signal
from vyx.store.api import Store
from vyx.store.outbox import AlertRow
from vyx.telemetry.metrics import Metrics

if TYPE_CHECKING:
    from vyx.analysis import ConcurrentAnalyzer
    from vyx.notify.service import Notifier
    from vyx.outcomes.service import Outcomes

#: Recent confirmed signals kept for the snapshot a connecting browser gets.
RECENT_SIGNALS = 100


class Delivery:
    """Hands each screen's signals to the store, the browsers and the analyzer.

    Args:
        store: where confirmed signals are saved (awaited: the store's queue is the bound).
        broadcast: the browsers' broadcast (never blocks).
        metrics: ``vyx_signals_total`` counts what was stored.
        analyzer: offered each confirmed signal of a trader with ``auto_analyze`` (never
            blocks); None when analysis is off.
        rings: the market's rings, read for the analyzer's candles.
        running: the traders running now (their analysis settings, their names).
        notifier: says which alerts each confirmed signal owes; they are saved with it (one
            transaction) and sent once committed. None: no alerts.
        outcomes: follows each confirmed signal (its outcome row is queued with it).
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
    ) -> None:
        self.store = store
        self.broadcast = broadcast
        self.metrics = metrics
        self.analyzer = analyzer
        self.rings = rings
        self.running = running
        self.notifier = notifier
        self.outcomes = outcomes
        #: The newest confirmed signals first, each the ``data`` of its ``signal_created``.
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT_SIGNALS)

    async def deliver(self, signals: Sequence[Signal], cancelled: Sequence[str]) -> None:
        """The screener's :data:`~vyx.screener.service.SignalSink`: signals are queued for the
        store first (with the alerts they owe), then pushed to every browser in one
        ``signals_created`` (per :data:`~vyx.server.protocol.MAX_SIGNALS_PER_MESSAGE`), the
        cancelled provisional ones announced; then, once the browsers' writers had their
        turn, followed for their outcomes (rows queued too), logged and offered to the
        analyzer (which never blocks: a signal never waits for its analysis)."""
        confirmed = [s for s in signals if not s.provisional]
        if confirmed:
            await self.store.save_signals(confirmed, self._alerts(confirmed))
            self.metrics.signals.inc(len(confirmed))
        datas = [s.to_message()["data"] for s in signals]
        for s, data in zip(signals, datas, strict=True):
            if not s.provisional:
                # Before the broadcast: a browser joining meanwhile gets it in its snapshot.
                self.recent.appendleft(data)
                self.running.last_signals[s.trader_id] = {"symbol": s.symbol, "time": s.created_at}
        # One message per browser for the whole screen (version 1 browsers: one per signal).
        for message in signals_created(datas):
            self.broadcast(message)
        for sid in cancelled:
            self.broadcast({"type": "signal_cancelled", "data": {"signalId": sid}})
        # The browsers' writers go first; the outcomes, the log and the analyzer after.
        await trio.lowlevel.checkpoint()
        if confirmed and self.outcomes is not None:
            # After the signals' own messages: a browser learns of a signal before its outcome.
            await self.outcomes.follow(confirmed)
        if confirmed:
            # One log call for the whole batch: a call costs ~40 µs, a line ~1 µs.
            logger.info("{}", "\n".join(map(_log_line, confirmed)))
        for s in confirmed:
            self._offer(s)

    def _alerts(self, confirmed: Sequence[Signal]) -> dict[str, list[AlertRow]] | None:
        """The alerts the signals owe (by signal id), each with its trader's name."""
        if self.notifier is None:
            return None
        names = {tid: info.definition.name for tid, info in self.running.traders.items()}
        return self.notifier.signal_alerts(confirmed, names)

    def _offer(self, s: Signal) -> None:
        """``s`` to the analyzer, with its trader's settings and candles, if it wants it."""
        info = self.running.traders.get(s.trader_id)
        if self.analyzer is None or info is None or not info.auto_analyze:
            return
        if s.interval not in self.rings:
            return
        from vyx.analysis import AnalysisContext, Candles, TraderSettings

        trader = TraderSettings.from_strategy(
            info.id, info.definition.name, info.auto_analyze, dict(info.strategy)
        )
        candles = Candles.from_ring(self.rings[s.interval], s.symbol, s.interval)
        self.analyzer.submit(s, AnalysisContext(trader, candles))


def _log_line(s: Signal) -> str:
    conditions = "; ".join(s.matched_conditions)
    return f"signal {s.trader_id} {s.symbol} {s.interval} @ {s.price}: {conditions}"
