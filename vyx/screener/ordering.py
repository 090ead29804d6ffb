"""When the screener handles the market's events, and screens the forming bars.

Events are handled one at a time, in order, except that a close of a timeframe that reads a
longer one through ``on()`` is held back (briefly) until that one's bar closing at the same
instant is in, so live screens see what the backtest sees; later closes of its timeframe queue
behind it.
"""

from __future__ import annotations

import math
from typing import Protocol

import trio

from vyx.market.closes import BarClosed, MarketEvent


class EventHandler(Protocol):
    """What :func:`consume` drives (the screener)."""

    def waiting_for(self, event: BarClosed) -> bool:
        """Must ``event`` wait for a longer timeframe's bar?"""
        ...

    async def handle(self, event: MarketEvent) -> None:
        """Apply one event."""
        ...

    async def intrabar(self) -> None:
        """Screen the forming bars once."""
        ...


async def consume(
    screener: EventHandler, events: trio.MemoryReceiveChannel[MarketEvent], align_timeout_s: float
) -> None:
    """Handle events in order, holding back closes that wait for a longer timeframe (at most
    ``align_timeout_s``), until the market closes the channel."""
    held: list[tuple[float, BarClosed]] = []
    async with events:
        while True:
            deadline = min((d for d, _ in held), default=math.inf)
            event: MarketEvent | None = None
            with trio.move_on_at(deadline):
                try:
                    event = await events.receive()
                except trio.EndOfChannel:
                    break
            if event is not None:
                # A close queues behind a held close of its timeframe: handling it would step
                # the held bar too, before the longer bar it waits for.
                queued = isinstance(event, BarClosed) and any(
                    ev.timeframe == event.timeframe for _, ev in held
                )
                if isinstance(event, BarClosed) and (queued or screener.waiting_for(event)):
                    held.append((trio.current_time() + align_timeout_s, event))
                else:
                    await screener.handle(event)
            # Release held closes (in order per timeframe) whose longer timeframe has closed,
            # or that waited too long.
            now = trio.current_time()
            still: list[tuple[float, BarClosed]] = []
            blocked: set[str] = set()
            for d, ev in held:
                if ev.timeframe not in blocked and (d <= now or not screener.waiting_for(ev)):
                    await screener.handle(ev)
                else:
                    blocked.add(ev.timeframe)
                    still.append((d, ev))
            held = still
        for _, ev in held:
            await screener.handle(ev)


async def intrabar_loop(screener: EventHandler, period_s: float) -> None:
    """Screen the forming bars every ``period_s`` (drift-free) until cancelled."""
    deadline = trio.current_time()
    while True:
        deadline += period_s
        await trio.sleep_until(deadline)
        await screener.intrabar()
