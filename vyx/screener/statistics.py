"""Frozen snapshots of the screener's counters, for the browser, health and metrics."""

from __future__ import annotations

from collections.abc import Mapping

import attrs


@attrs.frozen
class TraderStatistics:
    """One trader's screening record."""

    #: Epoch ms of its last screen (0: never).
    last_run_ms: int
    #: Duration of the screen that ran it, ms.
    last_duration_ms: float
    #: Signals it produced since start.
    signals: int
    #: Symbols matching at the last screen.
    matching: int
    #: Symbols still warming up (and the most bars any of them still needs).
    warming: int
    bars_needed: int
    #: The compile error of a trader that is not running, else None.
    error: str | None = None


@attrs.frozen
class ScreenerStatistics:
    """Counters of the screener service."""

    screens: int
    #: Duration of the last screen, ms.
    last_screen_ms: float
    #: Longest screen since start, ms.
    max_screen_ms: float
    signals: int
    provisional: int
    cancelled: int
    paused: bool
    workers: int
    traders: Mapping[str, TraderStatistics]
    #: Trader changes staged again because the market wrote a ring while they were staged.
    stale_stages: int = 0
