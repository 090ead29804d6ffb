"""Keeps ring history contiguous: the single writer's decisions, without I/O.

Every (symbol, timeframe) is in one of three states:

- *loading*: not backfilled yet; closed frames are ignored (the backfill and the first gap
  repair after it cover them), forming frames still update the forming bar;
- *live*: a closed frame whose open time is the next expected one is appended; an older one is
  a duplicate (counted, ignored); a newer one, or a *forming* frame newer than the next expected
  bar, reveals that closed bars are missing -> *repairing*;
- *repairing*: closed frames are held back (bounded) while the shell fetches the missing bars
  over REST; :meth:`History.complete_repair` appends them, then the held frames, in order.

A stream says nothing of a bar that closed before it was subscribed until its next frame;
:meth:`History.closed_by` finds such bars from the exchange's clock instead.

So a closed bar is handed on (:attr:`History.appended`) only once every bar before it is in
the ring: per (symbol, timeframe), notifications come in strictly increasing, contiguous open
time order, each bar exactly once.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping

import attrs

from kernels.ring import Append, RingBuffer
from kernels.timeframes import bar_open
from vyx.market.backfill import fill_holes
from vyx.market.frames import Kline

#: Closed frames held per key while a repair is in flight; beyond it they are dropped and the
#: repair fetches them over REST instead.
MAX_HELD = 64


class KeyState(enum.Enum):
    """Where one (symbol, timeframe) stands."""

    LOADING = "loading"
    LIVE = "live"
    REPAIRING = "repairing"


@attrs.frozen
class Repair:
    """Closed bars ``start <= open_time < end`` of ``symbol`` are missing and must be fetched."""

    symbol: str
    timeframe: str
    start: int
    end: int


@attrs.frozen
class HistoryCounts:
    """Counters of the history writer."""

    #: Closed bars appended from the stream and from repairs.
    closed_appended: int
    #: Closed frames ignored as already held.
    duplicates: int
    #: Missing-bar ranges detected and repaired.
    gaps_detected: int
    gaps_repaired: int
    #: Bars fetched over REST by gap repair.
    bars_repaired: int
    #: Flat bars standing in for candles the exchange never produced.
    bars_synthesized: int
    #: Bars loaded by backfill.
    bars_backfilled: int
    #: Closed frames held during a repair that overflowed (refetched over REST instead).
    held_dropped: int


@attrs.define
class _Key:
    state: KeyState = KeyState.LOADING
    #: Closed frames held back during a repair, by open time.
    held: dict[int, Kline] = attrs.Factory(dict)
    #: Every bar opening before this is known to be closed (revealed by a frame).
    revealed: int = -1


def _revealed(k: Kline, step: int) -> int:
    return k.open_time + step if k.closed else k.open_time


def _end(key: _Key) -> int:
    """End of the range to fetch: up to the first held frame, else all that is known closed."""
    return min(key.held) if key.held else key.revealed


class History:
    """The writer's per-(symbol, timeframe) state over the rings (one ring per timeframe)."""

    def __init__(self, rings: Mapping[str, RingBuffer]) -> None:
        self.rings = rings
        self._keys: dict[tuple[str, str], _Key] = {}
        #: Appended since :meth:`take_appended`: (timeframe, open_time, symbol).
        self._appended: list[tuple[str, int, str]] = []
        self._closed = self._dup = self._gaps = self._repaired = 0
        self._bars_repaired = self._synth = self._backfilled = self._held_dropped = 0
        #: live_count per timeframe, recomputed after a key enters or leaves LOADING.
        self._live: dict[str, int] | None = None

    # -- symbols ---------------------------------------------------------------------------------

    def add_symbol(self, symbol: str) -> None:
        """Track ``symbol`` in every ring, in the loading state."""
        for tf, ring in self.rings.items():
            ring.add_symbol(symbol)
            self._keys[(symbol, tf)] = _Key()
        self._live = None

    def remove_symbol(self, symbol: str) -> None:
        """Forget ``symbol`` everywhere (bars, forming bar, held frames)."""
        for tf, ring in self.rings.items():
            if symbol in ring:
                ring.remove_symbol(symbol)
            self._keys.pop((symbol, tf), None)
        self._live = None

    def state(self, symbol: str, timeframe: str) -> KeyState | None:
        """State of a key, None if not tracked."""
        key = self._keys.get((symbol, timeframe))
        return None if key is None else key.state

    def live_count(self, timeframe: str) -> int:
        """How many symbols of ``timeframe`` are past their backfill (the ones a close is expected
        from), cached: the close tracker asks at every closed bar."""
        if self._live is None:
            live: dict[str, int] = dict.fromkeys(self.rings, 0)
            for (_, tf), k in self._keys.items():
                if k.state is not KeyState.LOADING:
                    live[tf] = live.get(tf, 0) + 1
            self._live = live
        return self._live.get(timeframe, 0)

    # -- backfill --------------------------------------------------------------------------------

    def load(self, symbol: str, timeframe: str, bars: Iterable[Kline]) -> int:
        """Backfilled history for a loading key (oldest first); the key goes live.

        Holes inside the fetched bars are filled with flat bars. Returns bars appended.
        """
        ring = self.rings[timeframe]
        slot = ring.slot(symbol)
        bars = list(bars)
        appended = 0
        if bars:
            end = bars[-1].open_time + ring.timeframe_ms
            filled, synth = fill_holes(bars, symbol, timeframe, bars[0].open_time, end, math.nan)
            self._synth += synth
            appended = ring.extend(
                slot, [bar.open_time for bar in filled], [bar.values for bar in filled]
            )
        self._backfilled += appended
        key = self._keys[(symbol, timeframe)]
        key.state = KeyState.LIVE
        self._live = None
        return appended

    # -- frames ----------------------------------------------------------------------------------

    def on_kline(self, k: Kline) -> Repair | None:
        """Apply one stream kline; returns a :class:`Repair` when it reveals missing bars."""
        key = self._keys.get((k.symbol, k.timeframe))
        if key is None:
            return None  # a symbol that left, or a timeframe we do not keep
        ring = self.rings[k.timeframe]
        slot = ring.slot(k.symbol)
        if not k.closed:
            ring.set_forming(slot, k.open_time, k.values)
        if key.state is KeyState.LOADING:
            return None
        expected = ring.next_open_time(slot)
        if key.state is KeyState.REPAIRING:
            if k.closed and k.open_time >= expected:
                if len(key.held) >= MAX_HELD:
                    self._held_dropped += len(key.held)
                    key.held.clear()
                key.held[k.open_time] = k
            key.revealed = max(key.revealed, _revealed(k, ring.timeframe_ms))
            return None
        if expected < 0:
            if k.closed:
                self._append(ring, slot, k)
            return None
        if k.open_time < expected or (not k.closed and k.open_time == expected):
            self._dup += k.closed
            return None
        if k.closed and k.open_time == expected:
            self._append(ring, slot, k)
            return None
        # A frame of a bar beyond the next expected one: everything before it has closed.
        self._gaps += 1
        key.state = KeyState.REPAIRING
        key.revealed = _revealed(k, ring.timeframe_ms)
        if k.closed:
            key.held[k.open_time] = k
        return Repair(k.symbol, k.timeframe, expected, _end(key))

    def _append(self, ring: RingBuffer, slot: int, k: Kline) -> int:
        outcome = ring.append(slot, k.open_time, k.values)
        if outcome is Append.APPENDED:
            self._closed += 1
            self._appended.append((k.timeframe, k.open_time, k.symbol))
            return 1
        self._dup += 1
        return 0

    def closed_by(self, now_ms: int) -> list[Repair]:
        """Exchange time ``now_ms`` reveals that every bar opening before the one forming then
        has closed: each live key missing some of them goes repairing (returned); a repairing
        key's range to fetch grows to them.

        A stream tells nothing of a bar that closed before it was subscribed until its next
        frame, which for a long timeframe can be far off; asked with a clock reading taken
        once the streams are subscribed (after every frame sent before it is in), this finds
        the bars that closed in between."""
        out = []
        for (symbol, timeframe), key in self._keys.items():
            if key.state is KeyState.LOADING:
                continue
            ring = self.rings[timeframe]
            expected = ring.next_open_time(ring.slot(symbol))
            current = bar_open(timeframe, now_ms)
            if expected < 0 or expected >= current:
                continue
            key.revealed = max(key.revealed, current)
            if key.state is KeyState.LIVE:
                self._gaps += 1
                key.state = KeyState.REPAIRING
                out.append(Repair(symbol, timeframe, expected, _end(key)))
        return out

    # -- repair ----------------------------------------------------------------------------------

    def pending_repair(self, symbol: str, timeframe: str) -> Repair | None:
        """The range still missing for a repairing key, computed now (None if none is)."""
        key = self._keys.get((symbol, timeframe))
        if key is None or key.state is not KeyState.REPAIRING:
            return None
        ring = self.rings[timeframe]
        start = ring.next_open_time(ring.slot(symbol))
        return Repair(symbol, timeframe, start, _end(key))

    def complete_repair(self, symbol: str, timeframe: str, bars: Iterable[Kline]) -> Repair | None:
        """Append fetched bars, then the held frames; returns a further Repair if still short.

        A hole is filled with flat bars only when the exchange has a later bar (fetched or
        held), which proves the missing ones will never exist; a missing tail is fetched again.
        """
        key = self._keys.get((symbol, timeframe))
        if key is None or key.state is not KeyState.REPAIRING:
            return None
        ring = self.rings[timeframe]
        slot = ring.slot(symbol)
        step = ring.timeframe_ms
        start, end = ring.next_open_time(slot), _end(key)
        fetched = sorted((b for b in bars if start <= b.open_time < end), key=lambda b: b.open_time)
        boundary = end if key.held else (fetched[-1].open_time + step if fetched else start)
        last_close = float(ring.latest([slot])[1][0][3])
        filled, synth = fill_holes(fetched, symbol, timeframe, start, boundary, last_close)
        self._synth += synth
        for bar in filled:
            self._bars_repaired += self._append(ring, slot, bar)
        for t in sorted(key.held):
            expected = ring.next_open_time(slot)
            if t > expected:
                break
            bar = key.held.pop(t)
            if t == expected:
                self._append(ring, slot, bar)
        expected = ring.next_open_time(slot)
        if expected < _end(key):
            return Repair(symbol, timeframe, expected, _end(key))
        key.state = KeyState.LIVE
        self._repaired += 1
        return None

    def reset(self, symbol: str, timeframe: str) -> None:
        """Start a key over from a fresh backfill (when the hole is larger than the ring)."""
        ring = self.rings[timeframe]
        ring.remove_symbol(symbol)
        ring.add_symbol(symbol)
        self._keys[(symbol, timeframe)] = _Key()
        self._live = None

    # -- output ----------------------------------------------------------------------------------

    def take_appended(self) -> list[tuple[str, int, str]]:
        """Closed bars appended since the last call: (timeframe, open_time, symbol), in order."""
        out, self._appended = self._appended, []
        return out

    def counts(self) -> HistoryCounts:
        """Counters so far."""
        return HistoryCounts(
            closed_appended=self._closed,
            duplicates=self._dup,
            gaps_detected=self._gaps,
            gaps_repaired=self._repaired,
            bars_repaired=self._bars_repaired,
            bars_synthesized=self._synth,
            bars_backfilled=self._backfilled,
            held_dropped=self._held_dropped,
        )
