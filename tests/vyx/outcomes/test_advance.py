"""The step at a close over the rows' bookkeeping in arrays (``LiveOutcomes.advance``) gives
what one Python pass over the open signals gave: the same updates in the same order, the same
tracker state and bookkeeping, the same signals given up — through gaps repaired several bars
at once, symbols leaving the ring, late signals, analysis levels, a full tracker reusing rows,
and two timeframes."""

from __future__ import annotations

import numpy as np
from hypothesis import event, given, settings
from hypothesis import strategies as st

from kernels.klines_csv import Klines
from kernels.outcomes import HORIZON, Levels
from kernels.ring import RingBuffer
from kernels.timeframes import timeframe_ms
from tests.kernels.synthetic import random_klines
from vyx.outcomes.book import RowBook
from vyx.outcomes.live import REPORT_AT, Followed, LiveOutcomes, OutcomeUpdate
from vyx.signal import Signal, signal_id

TFS = ("5m", "1h")
SYMBOLS = ("S0USDT", "S1USDT", "S2USDT", "S3USDT")
BARS = 100


class PerSignal(LiveOutcomes):
    """The step at a close as it was written before: one Python pass over the open signals,
    those with exactly one new bar (the ring's newest) stepped together, then the others bar
    by bar; the updates due found and read signal by signal."""

    def advance(self, interval: str) -> list[OutcomeUpdate]:
        updates = self._attach(interval) if self._pending else []
        ring = self.rings.get(interval)
        mine = [f for f in self.open.values() if f.interval == interval]
        if ring is None:
            return updates + self._step(mine)
        one, more = [], []
        for f in mine:
            newest = ring.last_open_time(ring.slot(f.symbol)) if f.symbol in ring else -1
            if newest == f.last_time + ring.timeframe_ms:
                one.append(f)
            elif newest != f.last_time:
                more.append(f)
        return updates + self._step(one) + self._step(more)

    def _report(self, followed: list[Followed], *, start: bool) -> list[OutcomeUpdate]:
        # Signal by signal, each outcome read from its own tracker row.
        if not followed:
            return []
        seen, touch = self.tracker.progress(np.asarray([f.row for f in followed], np.int64))
        due = np.asarray([f.due for f in followed], dtype=np.int64)
        known = np.asarray([f.touch for f in followed], dtype=np.int64)
        flagged = (seen >= due) | (touch != known) | start
        updates = []
        for i in np.flatnonzero(flagged).tolist():
            f = followed[i]
            o = self.tracker.outcome(f.row)
            f.touch = int(touch[i])
            f.due = next((n for n in REPORT_AT if n > o.bars), HORIZON + 1)
            if o.complete:
                self._let_go(f)
            updates.append(f.update(o))
        return updates


def _signal(trader: str, symbol: str, tf: str, k: Klines, t: int) -> Signal:
    opened = int(k.open_time[t])
    sid = signal_id(trader, symbol, tf, opened)
    return Signal(sid, trader, "u", symbol, tf, float(k.bars[t, 3]), opened, (), {}, 0)


def _rows(updates: list[OutcomeUpdate]) -> list[str]:
    # As text: a row may hold NaN (not known yet), which equals nothing.
    return [repr(u.to_row(0)) for u in updates]


def _same_state(a: LiveOutcomes, b: LiveOutcomes) -> None:
    assert list(a.open) == list(b.open)
    assert [(f.row, f.last_time, f.due, f.touch) for f in a.open.values()] == [
        (f.row, f.last_time, f.due, f.touch) for f in b.open.values()
    ]
    assert np.array_equal(a.tracker.state, b.tracker.state, equal_nan=True)
    assert (a.lost, a.refused, len(a.tracker)) == (b.lost, b.refused, len(b.tracker))


#: Per close: (symbol index, "gap" | "leave" | None), signals as (symbol index, bars late,
#: short?), and an open signal given analysis levels (its index among the open ones, or None).
_CLOSE = st.tuples(
    st.lists(st.tuples(st.integers(0, 3), st.sampled_from(["gap", "leave"])), max_size=2),
    st.lists(st.tuples(st.integers(0, 4), st.integers(0, 30), st.booleans()), max_size=6),
    st.none() | st.integers(0, 50),
)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 24), st.lists(_CLOSE, min_size=26, max_size=50))
def test_the_step_over_arrays_is_the_step_signal_by_signal(
    seed: int,
    capacity: int,
    closes: list[tuple[list[tuple[int, str]], list[tuple[int, int, bool]], int | None]],
) -> None:
    market = {
        tf: {
            s: random_klines(seed + 7 * i + j, BARS, timeframe_ms(tf))
            for j, s in enumerate(SYMBOLS)
        }
        for i, tf in enumerate(TFS)
    }
    rings = {tf: RingBuffer(timeframe_ms(tf), 120, SYMBOLS) for tf in TFS}
    start = 40
    for tf in TFS:
        for s in SYMBOLS:
            k = market[tf][s]
            for t in range(start):
                rings[tf].append(rings[tf].slot(s), int(k.open_time[t]), k.bars[t, :8])
    arrays, per_signal = LiveOutcomes(rings, capacity), PerSignal(rings, capacity)
    next_bar = {(tf, s): start for tf in TFS for s in SYMBOLS}
    complete = 0
    for c, (events, picks, levels_at) in enumerate(closes):
        t = start + c
        if t >= BARS:
            break
        skipped = {(SYMBOLS[i], what) for i, what in events}
        for tf in TFS:
            ring = rings[tf]
            for s in SYMBOLS:
                if (s, "leave") in skipped and s in ring and tf == "5m":
                    # Its slot goes to a newcomer: the signals of the one that left are given
                    # up, never stepped with the newcomer's bars.
                    ring.remove_symbol(s)
                    newcomer = ring.add_symbol("X" + s)
                    k = market[tf][s]
                    for u in range(t - 3, t + 1):
                        ring.append(newcomer, int(k.open_time[u]), k.bars[u, :8] * 2)
                if s not in ring or (s, "gap") in skipped:
                    continue  # its bars come later, several at once (a gap repaired)
                k = market[tf][s]
                for u in range(next_bar[(tf, s)], t + 1):
                    ring.append(ring.slot(s), int(k.open_time[u]), k.bars[u, :8])
                next_bar[(tf, s)] = t + 1
            got, want = arrays.advance(tf), per_signal.advance(tf)
            assert _rows(got) == _rows(want)
            complete += sum(u.outcome.complete for u in got)
        signals = []
        for which, late, short in picks:
            tf = TFS[which % 2]
            s = SYMBOLS[which % 4]
            bar = max(start - 20, next_bar[(tf, s)] - 1 - late)
            sig = _signal(f"t{which}", s, tf, market[tf][s], bar)
            signals.append((sig, "short" if short else "long"))
        assert _rows(arrays.follow_all(signals)) == _rows(per_signal.follow_all(signals))
        if levels_at is not None and arrays.open:
            sid = list(arrays.open)[levels_at % len(arrays.open)]
            entry = arrays.tracker.outcome(arrays.open[sid].row).entry
            d = 1.0 if arrays.tracker.outcome(arrays.open[sid].row).direction == "long" else -1.0
            levels = Levels(entry * (1 - d * 0.002), entry * (1 + d * 0.004), "analysis")
            assert _rows(arrays.set_levels(sid, levels)) == _rows(
                per_signal.set_levels(sid, levels)
            )
        _same_state(arrays, per_signal)
    # What the examples went through (--hypothesis-show-statistics).
    gaps = any(what == "gap" for c in closes for _, what in c[0])
    event(f"complete: {complete > 0}, given up: {arrays.lost > 0}")
    event(f"refused: {arrays.refused > 0}, gaps: {gaps}")


def test_rows_of_a_timeframe_come_in_the_order_their_signals_were_followed() -> None:
    book = RowBook(6)
    for row, tf in [(4, "5m"), (1, "1h"), (0, "5m"), (5, "5m")]:
        book.track(row, tf, "S0USDT", 0)
    book.untrack(0)
    book.track(3, "5m", "S1USDT", 0)
    assert book.rows_of("5m").tolist() == [4, 5, 3]
    assert book.rows_of("1h").tolist() == [1]
    assert book.rows_of("1d").tolist() == []


def test_newest_reads_each_rows_symbol_slot_and_none_for_a_symbol_not_held() -> None:
    ring = RingBuffer(300_000, 10, ["A", "B"])
    ring.append(ring.slot("B"), 600_000, np.ones(8))
    book = RowBook(3)
    book.track(0, "5m", "B", 0)
    book.track(1, "5m", "C", 0)
    book.track(2, "5m", "A", 0)
    times, _ = ring.newest()
    slots, newest = book.newest(np.arange(3), ring, times)
    assert slots.tolist() == [ring.slot("B"), -1, ring.slot("A")]
    assert newest.tolist() == [600_000, -1, -1]
