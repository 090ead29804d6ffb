"""Each trader's record in the daemon: its complete signals' outcomes summed up
(:mod:`kernels.track_record`), over all of them and the last 7 days.

Bounded: a trader's record covers its newest :data:`RECORD_SIZE` complete signals (at start,
the newest ones in the store; then each signal as it completes). ``/metrics``, the browser's
traders and ``signal_outcome`` messages read it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kernels.outcomes import Outcome
from kernels.track_record import RECENT_MS, TrackRecord, track_record

#: Complete signals kept per trader.
RECORD_SIZE = 1_000
#: Complete outcomes read from the store at start (newest first, all traders together).
RESTORE_LIMIT = 20_000


class Records:
    """Per trader: its newest complete outcomes, with their signal bar's open time."""

    def __init__(self, now_ms: Callable[[], int], size: int = RECORD_SIZE) -> None:
        self._now_ms = now_ms
        self._size = size
        self._kept: dict[str, deque[tuple[int, Outcome]]] = {}
        self._cache: dict[str, tuple[int, dict[str, Any]]] = {}
        #: The all-time record (:meth:`whole`) and its JSON, until the trader's next outcome.
        self._whole: dict[str, tuple[TrackRecord, dict[str, Any]]] = {}

    def add(self, trader_id: str, bar_open_time: int, outcome: Outcome) -> None:
        """Count a complete outcome."""
        kept = self._kept.setdefault(trader_id, deque(maxlen=self._size))
        kept.append((bar_open_time, outcome))
        self._cache.pop(trader_id, None)
        self._whole.pop(trader_id, None)

    def restore(self, rows: Iterable[tuple[str, int, Outcome]]) -> None:
        """Outcomes from the store (any order): the newest per trader are kept."""
        for trader_id, opened, outcome in sorted(rows, key=lambda r: r[1]):
            self.add(trader_id, opened, outcome)

    def record(self, trader_id: str) -> tuple[TrackRecord, TrackRecord]:
        """The trader's record over its kept signals and over the last 7 days."""
        kept = self._kept.get(trader_id, deque())
        since = self._now_ms() - RECENT_MS
        return self.whole(trader_id), track_record(o for at, o in kept if at >= since)

    def whole(self, trader_id: str) -> TrackRecord:
        """The trader's record over its kept signals, computed once per outcome added (the
        daemon reads it for every complete signal: its message and its ``/metrics`` gauges)."""
        return self._whole_cached(trader_id)[0]

    def _whole_cached(self, trader_id: str) -> tuple[TrackRecord, dict[str, Any]]:
        found = self._whole.get(trader_id)
        if found is None:
            record = track_record(o for _, o in self._kept.get(trader_id, deque()))
            found = self._whole[trader_id] = (record, record.to_json())
        return found

    def to_json(self, trader_id: str) -> dict[str, Any]:
        """``{"all": ..., "recent": ...}`` (:meth:`TrackRecord.to_json`), cached until the
        trader's next outcome; the recent part also for at most a minute (its window moves)."""
        now = self._now_ms()
        cached = self._cache.get(trader_id)
        if cached is not None and now - cached[0] < 60_000:
            return cached[1]
        kept = self._kept.get(trader_id, deque())
        whole = self._whole_cached(trader_id)[1]
        since = now - RECENT_MS
        recent = track_record(o for at, o in reversed(kept) if at >= since)
        found = {"all": whole, "recent": recent.to_json()}
        self._cache[trader_id] = (now, found)
        return found

    @property
    def traders(self) -> Mapping[str, int]:
        """Trader id -> complete signals kept."""
        return {t: len(k) for t, k in self._kept.items()}
