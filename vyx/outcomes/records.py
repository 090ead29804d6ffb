"""Each trader's record in the daemon: its complete signals' outcomes summed up
(:mod:`kernels.track_record`), over all of them and the last 7 days.

Bounded: a trader's record covers its newest :data:`RECORD_SIZE` complete signals (at start,
the newest ones in the store; then each signal as it completes). ``/metrics``, the browser's
traders and ``signal_outcome`` messages read it. A trader's outcomes are kept as rows of
numbers (:func:`~kernels.track_record.outcome_row`, made once as each completes), so a record is
summed up over arrays (:func:`~kernels.track_record.record_of`), not outcome by outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from kernels.graph import I64
from kernels.outcomes import HORIZONS, Outcome
from kernels.record_sums import window_nb
from kernels.track_record import (
    RECENT_MS,
    WIDTH,
    Rows,
    TrackRecord,
    outcome_row,
    record_of,
)

#: Complete signals kept per trader.
RECORD_SIZE = 1_000
#: Complete outcomes read from the store at start (newest first, all traders together).
RESTORE_LIMIT = 20_000


class _Kept:
    """A trader's newest ``size`` outcome rows and their signal bars' open times, oldest
    first, in arrays of twice that: a row is written once, and the kept ones moved to the
    front once every ``size`` rows (amortized O(1)). Each horizon's known returns of the kept
    rows are also kept sorted (:func:`~kernels.record_sums.window_nb`: a value out and a value
    in as a row enters, O(size) moves), so a record reads its medians there instead of
    selecting them."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._at = np.empty(2 * size, dtype=np.int64)
        self._rows = np.empty((2 * size, WIDTH), dtype=np.float64)
        self._end = 0
        self._ordered = np.empty((len(HORIZONS), size), dtype=np.float64)
        self._counts = np.zeros(len(HORIZONS), dtype=np.int64)

    def __len__(self) -> int:
        return min(self._end, self.size)

    def add(self, bar_open_times: Sequence[int], rows: Rows) -> None:
        """``rows`` enter (oldest first), ``size`` at most at a time: the rows they push out
        of the window are still in the arrays (moved to the front with the window first if
        the new ones would not fit), for :func:`~kernels.record_sums.window_nb` to take out.
        ``size`` rows or more (a restore): the window is then their newest ``size`` alone,
        started again from those."""
        if len(rows) >= self.size:
            rows, bar_open_times = rows[-self.size :], bar_open_times[-self.size :]
            self._end = 0
        for lo in range(0, len(rows), self.size):
            part = rows[lo : lo + self.size]
            k, held = len(part), len(self)
            if self._end + k > len(self._at):
                keep = slice(self._end - held, self._end)
                self._at[:held] = self._at[keep]
                self._rows[:held] = self._rows[keep]
                self._end = held
            end = self._end
            self._at[end : end + k] = bar_open_times[lo : lo + k]
            self._rows[end : end + k] = part
            if held:
                window_nb(self._ordered, self._counts, self._rows, end, k, held)
            else:  # an empty window: its returns sorted at once
                for h in range(len(HORIZONS)):
                    known = part[:, h][~np.isnan(part[:, h])]
                    self._ordered[h, : len(known)] = np.sort(known)
                    self._counts[h] = len(known)
            self._end = end + k

    def ordered(self) -> tuple[Rows, I64]:
        """Each horizon's known returns of the kept rows, sorted (``[k, :counts[k]]``), and
        their counts."""
        return self._ordered, self._counts

    def rows(self, since: int | None = None) -> Rows:
        """The kept rows (those of signals opened at ``since`` or later)."""
        start = self._end - len(self)
        rows = self._rows[start : self._end]
        if since is None:
            return rows
        return rows[self._at[start : self._end] >= since]

    def all_since(self, since: int) -> bool:
        """Whether every kept row is of a signal opened at ``since`` or later."""
        start = self._end - len(self)
        return bool((self._at[start : self._end] >= since).all())


class Records:
    """Per trader: its newest complete outcomes, with their signal bar's open time."""

    def __init__(self, now_ms: Callable[[], int], size: int = RECORD_SIZE) -> None:
        self._now_ms = now_ms
        self._size = size
        self._kept: dict[str, _Kept] = {}
        self._cache: dict[str, tuple[int, dict[str, Any]]] = {}
        #: The all-time record (:meth:`whole`) and its JSON, until the trader's next outcome.
        self._whole: dict[str, tuple[TrackRecord, dict[str, Any]]] = {}
        self._empty = _Kept(1)

    def add(self, trader_id: str, bar_open_time: int, outcome: Outcome) -> None:
        """Count a complete outcome."""
        self.add_rows([trader_id], [bar_open_time], np.asarray([outcome_row(outcome)]))

    def add_rows(
        self, trader_ids: Sequence[str], bar_open_times: Sequence[int], rows: Rows
    ) -> None:
        """Count complete outcomes given as their :func:`~kernels.track_record.outcome_row`
        (``rows[i]``: of ``trader_ids[i]``'s signal at ``bar_open_times[i]``), in order:
        each trader's at once."""
        if len(trader_ids) != len(bar_open_times) or len(trader_ids) != len(rows):
            raise ValueError("add_rows: one trader and one open time per row")
        by_trader: dict[str, list[int]] = {}
        for i, trader_id in enumerate(trader_ids):
            by_trader.setdefault(trader_id, []).append(i)
        for trader_id, at in by_trader.items():
            kept = self._kept.get(trader_id)
            if kept is None:
                kept = self._kept[trader_id] = _Kept(self._size)
            kept.add([bar_open_times[i] for i in at], rows[at])
            self._cache.pop(trader_id, None)
            self._whole.pop(trader_id, None)

    def restore(self, rows: Iterable[tuple[str, int, Outcome]]) -> None:
        """Outcomes from the store (any order): the newest per trader are kept."""
        found = sorted(rows, key=lambda r: r[1])
        values = np.asarray([outcome_row(o) for _, _, o in found], dtype=np.float64)
        self.add_rows(
            [t for t, _, _ in found], [at for _, at, _ in found], values.reshape(-1, WIDTH)
        )

    def record(self, trader_id: str) -> tuple[TrackRecord, TrackRecord]:
        """The trader's record over its kept signals and over the last 7 days."""
        return self.whole(trader_id), self._recent(trader_id, self._now_ms())

    def whole(self, trader_id: str) -> TrackRecord:
        """The trader's record over its kept signals, computed once per outcome added (the
        daemon reads it for every complete signal: its message and its ``/metrics`` gauges)."""
        return self._whole_cached(trader_id)[0]

    def _whole_cached(self, trader_id: str) -> tuple[TrackRecord, dict[str, Any]]:
        found = self._whole.get(trader_id)
        if found is None:
            kept = self._kept.get(trader_id, self._empty)
            record = record_of(kept.rows(), kept.ordered())
            found = self._whole[trader_id] = (record, record.to_json())
        return found

    def _recent(self, trader_id: str, now: int) -> TrackRecord:
        kept = self._kept.get(trader_id, self._empty)
        if kept.all_since(now - RECENT_MS):
            return self.whole(trader_id)  # the same signals: summed up once
        return record_of(kept.rows(since=now - RECENT_MS))

    def to_json(self, trader_id: str) -> dict[str, Any]:
        """``{"all": ..., "recent": ...}`` (:meth:`TrackRecord.to_json`), cached until the
        trader's next outcome; the recent part also for at most a minute (its window moves)."""
        now = self._now_ms()
        cached = self._cache.get(trader_id)
        if cached is not None and now - cached[0] < 60_000:
            return cached[1]
        whole, whole_json = self._whole_cached(trader_id)
        recent = self._recent(trader_id, now)
        found = {"all": whole_json, "recent": whole_json if recent is whole else recent.to_json()}
        self._cache[trader_id] = (now, found)
        return found

    @property
    def traders(self) -> Mapping[str, int]:
        """Trader id -> complete signals kept."""
        return {t: len(k) for t, k in self._kept.items()}
