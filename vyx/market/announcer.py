"""The market's events, sent to the daemon in the order they must be applied.

:class:`Announcer` owns the queue between the market's single writer and the events channel:
closed bars are announced when :class:`~vyx.market.closes.CloseTracker` says their bucket is due
(every live symbol in, or the grace period over), other events as they come, with consecutive
history loads of one timeframe merged into one event. The writer never waits for a slow
consumer; :meth:`Announcer.run` does (the channel is bounded).
"""

from __future__ import annotations

import trio

from vyx.market.closes import CloseTracker, HistoryLoaded, MarketEvent


class Announcer:
    """Queues market events and sends them in order on ``events`` (None: nobody listens)."""

    def __init__(
        self, tracker: CloseTracker, events: trio.MemorySendChannel[MarketEvent] | None
    ) -> None:
        self.tracker = tracker
        self.events = events
        self._queue: list[MarketEvent] = []
        self._wake = trio.Event()

    @property
    def queued(self) -> int:
        """Events waiting to be sent."""
        return len(self._queue)

    def bars_appended(self, appended: list[tuple[str, int, str]]) -> None:
        """Closed bars the writer appended: ``(timeframe, open_time, symbol)``, in order."""
        if appended:
            now = trio.current_time()
            for tf, open_time, symbol in appended:
                self.tracker.add(tf, open_time, symbol, now)
            self._wake.set()

    def emit(self, event: MarketEvent) -> None:
        """Queue ``event`` behind everything queued before it."""
        if isinstance(event, HistoryLoaded):
            if event.upto:
                self.tracker.loaded(event.timeframe, max(event.upto))
            # Loads of one timeframe merge into one event, unless a close was queued after it.
            for i in range(len(self._queue) - 1, -1, -1):
                queued = self._queue[i]
                if not isinstance(queued, HistoryLoaded):
                    break
                if queued.timeframe == event.timeframe:
                    self._queue[i] = HistoryLoaded(
                        event.timeframe,
                        queued.symbols + event.symbols,
                        queued.upto + event.upto
                        if len(queued.upto) == len(queued.symbols)
                        and len(event.upto) == len(event.symbols)
                        else (),
                    )
                    self._wake.set()
                    return
        self._queue.append(event)
        self._wake.set()

    async def run(self) -> None:
        """Send events in order until cancelled; closes wait for stragglers up to the grace
        period."""
        while True:
            self._queue.extend(self.tracker.due(trio.current_time()))
            while self._queue:
                event = self._queue.pop(0)
                if self.events is not None:
                    await self.events.send(event)
            self._wake = trio.Event()
            self._queue.extend(self.tracker.due(trio.current_time()))
            if self._queue:
                continue
            with trio.move_on_at(self.tracker.next_deadline()):
                await self._wake.wait()
