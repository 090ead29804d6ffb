"""Open signals' bookkeeping by tracker row, as arrays (:class:`RowBook`).

:class:`~vyx.outcomes.live.LiveOutcomes` keeps, per :class:`~kernels.outcomes.OutcomeTracker`
row that follows a signal, the open time of the newest bar stepped, when its next update is
due, what it touched as of its last update, its timeframe and symbol (interned as small
integers) and when it was followed. Held in arrays, the step at a close finds the open signals
of a timeframe that have exactly one new bar — the ring's newest — and steps them, and finds
those whose update is due, with numpy over every row at once: no Python per open signal, only
per signal that moved.

Memory is fixed by the tracker's capacity (six ``int64`` per row), plus one small integer per
distinct timeframe and symbol ever followed (the symbols Binance lists: a few thousand).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kernels.graph import I64
from kernels.ring import RingBuffer

#: ``interval`` of a row that follows no signal.
FREE = -1


class RowBook:
    """Bookkeeping of ``capacity`` tracker rows (module docstring)."""

    def __init__(self, capacity: int) -> None:
        #: Open time of the newest bar stepped (the signal's bar at first).
        self.last_time = np.full(capacity, -1, dtype=np.int64)
        #: Bars at which the next update goes out.
        self.due = np.ones(capacity, dtype=np.int64)
        #: What it touched first as of the last update (a ``TOUCH_NAMES`` index).
        self.touch = np.zeros(capacity, dtype=np.int64)
        #: Timeframe id (:data:`FREE`: the row follows nothing) and symbol id.
        self.interval = np.full(capacity, FREE, dtype=np.int64)
        self.symbol = np.full(capacity, -1, dtype=np.int64)
        #: When the row's signal was followed (a counter): the order of the open signals.
        self.order = np.zeros(capacity, dtype=np.int64)
        self._intervals: dict[str, int] = {}
        self._symbols: dict[str, int] = {}
        self._followed = 0

    def track(self, row: int, interval: str, symbol: str, last_time: int) -> None:
        """``row`` now follows a signal of ``interval`` and ``symbol`` whose bar opened at
        ``last_time``: nothing seen, first update due at bar 1, nothing touched."""
        self.track_all([row], [interval], [symbol], [last_time])

    def track_all(
        self,
        rows: Sequence[int],
        intervals: Sequence[str],
        symbols: Sequence[str],
        last_times: Sequence[int],
    ) -> None:
        """:meth:`track` each (row, interval, symbol, last time), in order, in one write."""
        n = len(rows)
        at = np.asarray(rows, dtype=np.int64)
        codes, names = self._intervals, self._symbols
        self.last_time[at] = last_times
        self.due[at] = 1
        self.touch[at] = 0
        self.interval[at] = [codes.setdefault(i, len(codes)) for i in intervals]
        self.symbol[at] = [names.setdefault(s, len(names)) for s in symbols]
        self.order[at] = np.arange(self._followed, self._followed + n)
        self._followed += n

    def untrack(self, rows: int | list[int]) -> None:
        """``rows`` follow nothing any more."""
        self.interval[rows] = FREE

    def rows_of(self, interval: str) -> I64:
        """The rows following signals of ``interval``, in the order they were followed."""
        code = self._intervals.get(interval)
        if code is None:
            return np.empty(0, dtype=np.int64)
        rows = np.flatnonzero(self.interval == code)
        ordered: I64 = rows[np.argsort(self.order[rows])]
        return ordered

    def newest(self, rows: I64, ring: RingBuffer, times: I64) -> tuple[I64, I64]:
        """Per row of ``rows``: the ring slot of its symbol (-1: not held) and the open time of
        that slot's newest bar (``times``, from :meth:`RingBuffer.newest`; -1: none)."""
        slot_of = np.full(len(self._symbols), -1, dtype=np.int64)
        for symbol, code in self._symbols.items():
            if symbol in ring:
                slot_of[code] = ring.slot(symbol)
        slots: I64 = slot_of[self.symbol[rows]]
        if not len(times):
            return slots, np.full(len(rows), -1, dtype=np.int64)
        newest: I64 = np.where(slots >= 0, times[slots], -1)
        return slots, newest
