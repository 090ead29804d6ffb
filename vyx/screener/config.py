"""What the screener is built with: its settings, where its signals go and who hears about its
work (:class:`~vyx.screener.service.Screener`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence

import attrs

from kernels.executor import ScreenResult
from vyx.signal import Signal

#: Receives each screen's new signals and the ids of provisional signals cancelled at close.
SignalSink = Callable[[Sequence[Signal], Sequence[str]], Awaitable[None]]


@attrs.frozen
class ScreenerConfig:
    """Settings of the screener."""

    user_id: str
    machine_id: str | None = None
    #: Worker threads a screen is split over.
    workers: int = 1
    #: Minimum bars between two signals of one trader on one symbol.
    cooldown_bars: int = 0
    #: Period of intrabar (provisional) screens; 0 = off.
    intrabar_ms: int = 0
    #: How long a close waits for a longer timeframe's close at the same instant.
    align_timeout_s: float = 5.0
    #: History is stepped this many bars at a time (bounds the memory of a load).
    history_chunk: int = 16
    #: Catch-up screens at most this much history after a restart (older bars: no signals).
    catch_up_ms: int = 86_400_000


@attrs.frozen
class ScreenerHooks:
    """Who hears about the screener's work, given at construction (never appended later)."""

    #: Called with every screen's result (metrics, the scaler's load measure).
    on_screen: Sequence[Callable[[ScreenResult], None]] = ()
    #: Called with each close's delay from announced (every symbol's bar in) to its signals
    #: handed on (stored and pushed), seconds (/metrics keeps the histogram).
    on_delay: Sequence[Callable[[float], None]] = ()
    #: Called with :attr:`Screener.progress` after each screen whose signals went to the sink
    #: (the progress moved).
    on_progress: Callable[[Mapping[str, int]], None] | None = None


#: No one hears about the screener's work (tests, tools).
NO_HOOKS = ScreenerHooks()
