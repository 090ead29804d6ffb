"""Signals' outcomes followed live, over the market's rings (:mod:`kernels.outcomes`).

:class:`LiveOutcomes` keeps one row of an :class:`~kernels.outcomes.OutcomeTracker` per open
signal (at most ``capacity``). After every screen it steps each open signal of that timeframe
by the bars its symbol's ring holds after the last one it saw — one bar at a close, several
after a gap repair or a restart — so what it computes depends on the candles only, never on
when they arrived: it equals the backtest's outcome of the same signal over the same candles.

The open signals' bookkeeping (newest bar stepped, next update due, touch as last reported)
is kept by tracker row in arrays (:class:`~vyx.outcomes.book.RowBook`): the step at a close
finds and steps every signal of the timeframe with one new bar, and finds those whose update
is due, with numpy over all of them at once; Python runs only per signal that moved.

A signal enters at its bar's close with the analysis' key levels when it has them (they may
come later: the signal is then stepped again from its bar with them) or ATR levels from the 15
bars up to its bar. After a restart the open signals come back from the store
(:meth:`restore`) and are stepped through the rings from their bar: nothing is lost as long as
the rings still hold the signal's bar (they hold at least 300 bars).

Pure and synchronous (the rings are read on the event loop, where the market writes them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs
import numpy as np
from loguru import logger

from kernels.graph import F64, I64
from kernels.ops import CLOSE, HIGH, LOW
from kernels.outcomes import (
    ATR_PERIOD,
    HORIZON,
    HORIZONS,
    SEEN,
    Levels,
    Outcome,
    OutcomeTracker,
    TrackerFull,
    atr_levels,
    direction_sign,
)
from kernels.ring import RingBuffer
from vyx.outcomes.batch import atr_levels_all
from vyx.outcomes.book import RowBook
from vyx.outcomes.reports import OutcomeUpdate, Reports
from vyx.signal import Signal

#: Open signals followed at once (a fixed ~1 MiB of state); beyond, new signals are not scored.
MAX_OPEN = 8_192
#: Bars after the signal at which its outcome is stored and pushed (besides when it is first
#: followed, and at the first touch of its target or stop): the first bar, and complete.
REPORT_AT = (1, HORIZON)
#: Per number of :data:`REPORT_AT` entries at or before a signal's bars, when its next update
#: is due (past the last: never, the signal is complete).
_NEXT_DUE = np.asarray([*REPORT_AT, HORIZON + 1], dtype=np.int64)


class _Column:
    """An attribute of a :class:`Followed` kept in its row of one of the book's arrays (read
    and written while the signal is open)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, f: Followed, owner: object = None) -> int:
        return int(getattr(f.book, self.name)[f.row])

    def __set__(self, f: Followed, value: int) -> None:
        getattr(f.book, self.name)[f.row] = value


@attrs.define
class Followed:
    """An open signal and where its outcome is: its tracker row, whose bookkeeping is in
    ``book``."""

    signal_id: str
    trader_id: str
    user_id: str
    symbol: str
    interval: str
    bar_open_time: int
    row: int
    book: RowBook = attrs.field(repr=False)
    #: Open time of the newest bar stepped (the signal's bar at first).
    last_time = _Column()
    #: Bars at which the next update goes out (:data:`REPORT_AT`).
    due = _Column()
    #: What it touched first as of the last update (a :data:`~kernels.outcomes.TOUCH_NAMES`
    #: index): an update goes out when that changes.
    touch = _Column()

    def update(self, outcome: Outcome) -> OutcomeUpdate:
        """``outcome`` as this signal's update."""
        return OutcomeUpdate(
            self.signal_id,
            self.trader_id,
            self.user_id,
            self.symbol,
            self.interval,
            self.bar_open_time,
            outcome,
        )


def outcome_from_row(row: Mapping[str, Any]) -> Outcome:
    """A stored ``signal_outcomes`` row as an :class:`Outcome`."""

    def num(key: str) -> float | None:
        v = row.get(key)
        return None if v is None else float(v)

    touch_bar = row.get("touch_bar")
    return Outcome(
        str(row["direction"]),
        float(row["entry"]),
        num("stop_level"),
        num("target_level"),
        str(row["levels"]),
        int(row["bars"]),
        tuple(num(f"return_{h}") for h in HORIZONS),
        num("mfe"),
        num("mae"),
        str(row["touch"]),
        None if touch_bar is None else int(touch_bar),
    )


def _levels_of(row: Mapping[str, Any]) -> Levels:
    stop, target = row.get("stop_level"), row.get("target_level")
    if stop is None or target is None:
        return Levels.none()
    return Levels(float(stop), float(target), str(row["levels"]))


class LiveOutcomes:
    """Open signals' outcomes over ``rings`` (module docstring)."""

    def __init__(self, rings: Mapping[str, RingBuffer], capacity: int = MAX_OPEN) -> None:
        self.rings = rings
        self.tracker = OutcomeTracker(capacity)
        self.book = RowBook(capacity)
        self.open: dict[str, Followed] = {}
        #: The open signal each tracker row follows.
        self._by_row: list[Followed | None] = [None] * capacity
        #: Stored open outcomes waiting for their ring to hold their bar (after a restart).
        self._pending: dict[str, Mapping[str, Any]] = {}
        #: Signals not scored because every row was taken, and outcomes given up (their
        #: symbol's bars left the rings).
        self.refused = 0
        self.lost = 0

    def __len__(self) -> int:
        return len(self.open)

    def _bars_after(self, f: Followed, upto: int | None = None) -> tuple[I64, F64] | None:
        """The ring's bars of ``f``'s symbol after its last one, up to open time ``upto``;
        None when they are lost (the symbol left the rings, or they went round past them)."""
        ring = self.rings.get(f.interval)
        if ring is None or f.symbol not in ring:
            return None
        times, values = ring.window(ring.slot(f.symbol))
        if len(times) and times[0] > f.last_time + ring.timeframe_ms:
            return None
        start = int(np.searchsorted(times, f.last_time, side="right"))
        end = start + HORIZON - self.tracker.seen(f.row)
        if upto is not None:
            end = min(end, int(np.searchsorted(times, upto, side="right")))
        return times[start:end], values[:, start:end]

    def _levels(self, interval: str, symbol: str, open_time: int, direction: str) -> Levels:
        """ATR levels from the ring's bars up to the signal's."""
        ring = self.rings.get(interval)
        if ring is None or symbol not in ring:
            return Levels.none()
        times, values = ring.window(ring.slot(symbol))
        t = int(np.searchsorted(times, open_time))
        if t >= len(times) or times[t] != open_time or t < ATR_PERIOD:
            return Levels.none()
        lo = t - ATR_PERIOD
        bars = [np.ascontiguousarray(values[k, lo : t + 1]) for k in (HIGH, LOW, CLOSE)]
        return atr_levels(bars[0], bars[1], bars[2], ATR_PERIOD, direction)

    def follow(self, signal: Signal, direction: str, levels: Levels | None = None) -> Reports:
        """Start following a confirmed signal (again: nothing); returns the updates of the bars
        already after it in the ring (a signal screened late, in a catch-up)."""
        f = self._open(signal, direction, levels)
        if f is None:
            return Reports.empty()
        if self._newest(signal.interval, signal.symbol) == signal.bar_open_time:
            return self._report([f], start=True)  # the usual case: no bar after it yet
        return self._step([f], report_start=True)

    def follow_all(self, signals: Sequence[tuple[Signal, str]]) -> Reports:
        """:meth:`follow` each (signal, direction) of a screen, as a batch: the same rows and
        updates (those of the signals with no bar after them yet, then of those screened late;
        a signal given twice is followed once), computed at once — the ATR levels of all in
        one kernel call (:func:`~vyx.outcomes.batch.atr_levels_all`), their tracker rows in one
        write, the first updates of those with no bar after them yet read from those rows at
        once."""
        fresh: dict[str, tuple[Signal, str]] = {}
        for signal, direction in signals:
            if signal.id not in self.open:
                fresh.setdefault(signal.id, (signal, direction))
        if not fresh:
            return Reports.empty()
        given = list(fresh.values())
        stops, targets, sources, newest = atr_levels_all(self.rings, given)
        rows = self.tracker.open_many(
            np.asarray([s.price for s, _ in given], dtype=np.float64),
            np.asarray([direction_sign(d) for _, d in given], dtype=np.float64),
            stops,
            targets,
            sources,
        )
        self.refused += len(given) - len(rows)
        now: list[Followed] = []
        late: list[Followed] = []
        tracked = self._track_all([s for s, _ in given[: len(rows)]], rows)
        for j, f in enumerate(tracked):
            (now if newest[j] == f.bar_open_time else late).append(f)
        return self._reports(now) + self._step(late, report_start=True)

    def _open(self, signal: Signal, direction: str, levels: Levels | None) -> Followed | None:
        """A tracker row for ``signal`` (None: followed already, or no row left)."""
        if signal.id in self.open:
            return None
        if levels is None:
            levels = self._levels(signal.interval, signal.symbol, signal.bar_open_time, direction)
        try:
            row = self.tracker.open(signal.price, direction, levels)
        except TrackerFull:
            self.refused += 1
            return None
        return self._track(signal, row)

    def _track(self, signal: Signal, row: int) -> Followed:
        """``signal`` followed in tracker row ``row`` (no longer waiting to be restored)."""
        return self._track_all([signal], [row])[0]

    def _track_all(self, signals: Sequence[Signal], rows: Sequence[int]) -> list[Followed]:
        """:meth:`_track` each of ``signals`` in its row of ``rows``, their bookkeeping in one
        write."""
        book = self.book
        book.track_all(
            rows,
            [s.interval for s in signals],
            [s.symbol for s in signals],
            [s.bar_open_time for s in signals],
        )
        followed = []
        open_, by_row, pending = self.open, self._by_row, self._pending
        for s, row in zip(signals, rows, strict=True):
            f = Followed(
                s.id, s.trader_id, s.user_id, s.symbol, s.interval, s.bar_open_time, row, book
            )
            open_[s.id] = f
            by_row[row] = f
            pending.pop(s.id, None)
            followed.append(f)
        return followed

    def _let_go(self, f: Followed) -> None:
        """``f`` is no longer followed: its row is free."""
        self._let_go_all([f])

    def _let_go_all(self, followed: list[Followed]) -> None:
        """:meth:`_let_go` each of ``followed``, in order (their rows freed at once)."""
        rows = [f.row for f in followed]
        self.book.untrack(rows)
        self.tracker.release(rows)
        by_row, open_ = self._by_row, self.open
        for f in followed:
            by_row[f.row] = None
            del open_[f.signal_id]

    def _followed(self, rows: I64) -> list[Followed]:
        by_row = self._by_row
        return [f for f in map(by_row.__getitem__, rows.tolist()) if f is not None]

    def _newest(self, interval: str, symbol: str) -> int:
        """Open time of the symbol's newest bar in the ring (-1: none)."""
        ring = self.rings.get(interval)
        if ring is None or symbol not in ring:
            return -1
        return ring.last_open_time(ring.slot(symbol))

    def set_levels(self, signal_id: str, levels: Levels) -> Reports:
        """Score an open signal against other levels (the analysis' key levels): it is stepped
        again from its bar over the bars it had seen."""
        f = self.open.get(signal_id)
        if f is None:
            return Reports.empty()
        upto = f.last_time
        self.tracker.restart(f.row, levels)
        f.last_time = f.bar_open_time
        f.due = 1
        f.touch = 0
        return self._step([f], upto=upto, report_start=True)

    def restore(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Stored open outcomes (after a restart): each is followed again once its ring holds
        its bar (:meth:`advance`)."""
        for row in rows:
            if row["signal_id"] not in self.open:
                self._pending[str(row["signal_id"])] = row

    def _attach(self, interval: str) -> Reports:
        updates = Reports.empty()
        ring = self.rings.get(interval)
        for sid, row in list(self._pending.items()):
            if row["interval"] != interval or ring is None:
                continue
            symbol, opened = str(row["symbol"]), int(row["bar_open_time"])
            if symbol not in ring or ring.last_open_time(ring.slot(symbol)) < opened:
                continue  # not loaded yet
            del self._pending[sid]
            signal = Signal(
                sid,
                str(row["trader_id"]),
                str(row["user_id"]),
                symbol,
                interval,
                float(row["entry"]),
                opened,
                (),
                {},
                0,
            )
            updates = updates + self.follow(signal, str(row["direction"]), _levels_of(row))
        return updates

    def advance(self, interval: str) -> Reports:
        """Step the open signals of ``interval`` by their new bars; returns what moved.

        The common case — one new bar, the newest of its ring — is found and stepped for
        every such signal at once, from the rows' bookkeeping and the ring's newest bars; the
        others (several new bars after a gap repair or a restart, or a symbol the ring no
        longer holds) bar by bar through :meth:`_step`. The updates come in the order the
        signals were followed."""
        updates = self._attach(interval) if self._pending else Reports.empty()
        ring = self.rings.get(interval)
        rows = self.book.rows_of(interval)
        if ring is None or not len(rows):
            return updates + self._step(self._followed(rows))
        times, values = ring.newest()
        slots, newest = self.book.newest(rows, ring, times)
        last = self.book.last_time[rows]
        step = ring.timeframe_ms
        fast = newest == last + step
        slow = self._followed(rows[~fast & (newest != last)])
        if fast.any():
            stepped, at = rows[fast], slots[fast]
            self.tracker.advance(
                stepped,
                np.ascontiguousarray(values[at, HIGH]),
                np.ascontiguousarray(values[at, LOW]),
                np.ascontiguousarray(values[at, CLOSE]),
            )
            self.book.last_time[stepped] += step
            updates = updates + self._report_rows(stepped, start=False)
        return updates + self._step(slow)

    def _step(
        self,
        followed: list[Followed],
        *,
        upto: int | None = None,
        report_start: bool = False,
    ) -> Reports:
        """Step ``followed`` by their new bars: the k-th new bar of every one in one call."""
        stepped: list[tuple[Followed, I64, F64]] = []
        for f in followed:
            found = self._bars_after(f, upto)
            if found is None:
                self._drop(f)
            elif len(found[0]) or report_start:
                stepped.append((f, *found))
        for k in range(max((len(t) for _, t, _ in stepped), default=0)):
            now = [(f, t, v) for f, t, v in stepped if k < len(t)]
            self.tracker.advance(
                np.asarray([f.row for f, _, _ in now], dtype=np.int64),
                np.asarray([v[HIGH, k] for _, _, v in now]),
                np.asarray([v[LOW, k] for _, _, v in now]),
                np.asarray([v[CLOSE, k] for _, _, v in now]),
            )
            for f, t, _ in now:
                f.last_time = int(t[k])
        return self._report([f for f, _, _ in stepped], start=report_start)

    def _report(self, followed: list[Followed], *, start: bool) -> Reports:
        """:meth:`_report_rows` of ``followed``'s rows."""
        return self._report_rows(np.asarray([f.row for f in followed], np.int64), start=start)

    def _reports(self, followed: list[Followed]) -> Reports:
        """The updates of ``followed`` as they are (read from their tracker rows at once)."""
        block, levels = self.tracker.read(np.asarray([f.row for f in followed], np.int64))
        return Reports(followed, block, levels)

    def _report_rows(self, rows: I64, *, start: bool) -> Reports:
        """Updates of the signals of ``rows`` (distinct) that reached their next report (the
        first bar, the last) or first touched a level (and every one, with ``start``), in the
        order of ``rows``; a complete signal is let go. Checked for all of them at once from
        the tracker's state and the rows' bookkeeping."""
        if not len(rows):
            return Reports.empty()
        book = self.book
        seen, touch = self.tracker.progress(rows)
        flagged = np.flatnonzero((seen >= book.due[rows]) | (touch != book.touch[rows]) | start)
        moved = rows[flagged]
        book.touch[moved] = touch[flagged]
        book.due[moved] = _NEXT_DUE[np.searchsorted(REPORT_AT, seen[flagged], side="right")]
        block, levels = self.tracker.read(moved)
        followed = self._followed(moved)
        assert len(followed) == len(moved)  # a row stepped follows a signal
        done = np.flatnonzero(block[:, SEEN] >= HORIZON).tolist()
        self._let_go_all([followed[j] for j in done])
        return Reports(followed, block, levels)

    def _drop(self, f: Followed) -> None:
        ring = self.rings.get(f.interval)
        held = "none"
        if ring is not None and f.symbol in ring:
            times, _ = ring.window(ring.slot(f.symbol))
            held = f"{len(times)} from {int(times[0])}" if len(times) else "none"
        logger.warning(
            "outcome of signal {} ({} {}, bar {}, stepped to {}) given up: the rings no longer "
            "hold its bars (bars held: {})",
            f.signal_id,
            f.symbol,
            f.interval,
            f.bar_open_time,
            f.last_time,
            held,
        )
        self.lost += 1
        self._let_go(f)
