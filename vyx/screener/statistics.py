"""The screener's counters (:class:`ScreenerRecord`, kept as it screens) and their frozen
snapshots, for the browser, health and metrics."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping

import attrs

from kernels.screens import TraderStats


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


@attrs.define
class ScreenerRecord:
    """The screener's running counters and per-trader records, kept as screens and trader
    changes happen; :meth:`snapshot` is what :meth:`~vyx.screener.service.Screener.statistics`
    returns."""

    screens: int = 0
    last_ms: float = 0.0
    max_ms: float = 0.0
    signals: int = 0
    provisional: int = 0
    cancelled: int = 0
    stale_stages: int = 0
    #: Per running trader, its record (traders no longer running leave).
    traders: dict[str, TraderStatistics] = attrs.Factory(dict)
    #: Per trader that does not run, why.
    errors: dict[str, str] = attrs.Factory(dict)

    def installed(self, problems: Mapping[str, str], running: Collection[str]) -> None:
        """A trader set was installed: ``running`` run, ``problems`` say why others do not."""
        self.errors = dict(problems)
        self.traders = {tid: s for tid, s in self.traders.items() if tid in running}

    def screened(
        self,
        duration_s: float,
        traders: Mapping[str, TraderStats],
        signals: Iterable[str],
        cancelled: int,
        now_ms: int,
    ) -> None:
        """A screen ran in ``duration_s``: per trader what it found (``traders``), the trader
        id of each signal it produced (``signals``) and how many provisional ones it
        cancelled."""
        self.screens += 1
        ms = duration_s * 1000
        self.last_ms = ms
        self.max_ms = max(self.max_ms, ms)
        counts = Counter(signals)
        for tid, stats in traders.items():
            before = self.traders.get(tid)
            self.traders[tid] = TraderStatistics(
                now_ms,
                ms,
                (before.signals if before else 0) + counts[tid],
                stats.matching,
                stats.warming,
                stats.bars_needed,
            )
        self.signals += sum(counts.values())
        self.cancelled += cancelled

    def snapshot(self, paused: bool, workers: int) -> ScreenerStatistics:
        """The frozen counters (a trader that does not run has a record with its error)."""
        traders = dict(self.traders)
        for tid, message in self.errors.items():
            traders[tid] = TraderStatistics(0, 0.0, 0, 0, 0, 0, message)
        return ScreenerStatistics(
            self.screens,
            self.last_ms,
            self.max_ms,
            self.signals,
            self.provisional,
            self.cancelled,
            paused,
            workers,
            traders,
            self.stale_stages,
        )
