"""Ring buffers of closed OHLCV bars, one per timeframe.

Array contract: every field is stored per symbol *slot* as a row of ``2 * capacity`` values
(the mirror trick: each bar is written at ``i`` and ``i + capacity``), so the last ``n`` closed
bars of a slot are always one contiguous slice, whatever the write position. Prices and volumes
are float64; the open time is int64 epoch milliseconds. Slots live in fixed-size blocks, so
adding symbols never copies the bars already held, and a removed symbol's slot is reused.

The forming (not yet closed) bar is kept apart from history, one per slot, and never touches it.
There is a single writer (the market service); readers take copies through :meth:`window`. A
reader in another thread compares :attr:`RingBuffer.version` before and after reading to know
whether a write may have torn what it read.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

#: Float fields of a bar, in storage order. ``trades`` is a count but kept as float64 so every
#: field shares one array type.
FIELDS: tuple[str, ...] = (
    "open",
    "high",
    "low",
    "close",
    "volume",
    "quote_volume",
    "trades",
    "taker_buy_volume",
)
N_FIELDS = len(FIELDS)
FIELD_INDEX = {name: i for i, name in enumerate(FIELDS)}

#: Slots per block; a block is allocated when all slots are taken.
BLOCK = 64

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


class Append(enum.Enum):
    """Outcome of :meth:`RingBuffer.append`."""

    APPENDED = "appended"
    #: A bar with this open time is already held (duplicate or replayed frame): ignored.
    DUPLICATE = "duplicate"
    #: Older than the newest held bar: ignored, history is never rewritten.
    STALE = "stale"
    #: Newer than the next expected bar: refused; the caller must repair the gap first.
    GAP = "gap"


class RingError(Exception):
    """Misuse of a ring buffer (unknown symbol, wrong shapes)."""


class _Block:
    __slots__ = ("count", "data", "forming", "forming_time", "head", "times")

    def __init__(self, capacity: int) -> None:
        self.data = np.full((N_FIELDS, BLOCK, 2 * capacity), np.nan)
        self.times = np.full((BLOCK, 2 * capacity), -1, dtype=np.int64)
        # Index (0..capacity-1) of the newest bar, per slot.
        self.head = np.full(BLOCK, -1, dtype=np.int64)
        # Bars held, per slot (saturates at capacity).
        self.count = np.zeros(BLOCK, dtype=np.int64)
        self.forming = np.full((BLOCK, N_FIELDS), np.nan)
        self.forming_time = np.full(BLOCK, -1, dtype=np.int64)


class RingBuffer:
    """Closed bars of one timeframe for many symbols.

    Args:
        timeframe_ms: bar length in milliseconds (open times must be multiples apart).
        capacity: closed bars kept per symbol.
        symbols: initial symbols.
    """

    def __init__(self, timeframe_ms: int, capacity: int, symbols: Iterable[str] = ()) -> None:
        if timeframe_ms <= 0:
            raise RingError(f"timeframe_ms must be positive, got {timeframe_ms}")
        if capacity < 1:
            raise RingError(f"capacity must be at least 1, got {capacity}")
        self.timeframe_ms = timeframe_ms
        self.capacity = capacity
        self._blocks: list[_Block] = []
        self._slot_of: dict[str, int] = {}
        self._symbol_at: list[str | None] = []
        self._free: list[int] = []
        #: Bumped by every change of the closed bars or slots held.
        self.version = 0
        for symbol in symbols:
            self.add_symbol(symbol)

    # -- symbols -------------------------------------------------------------------------------

    @property
    def symbols(self) -> tuple[str, ...]:
        """Symbols held, in slot order."""
        return tuple(s for s in self._symbol_at if s is not None)

    @property
    def n_slots(self) -> int:
        """Slots allocated (held symbols plus free slots); slot ids are below this."""
        return len(self._symbol_at)

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._slot_of

    def __len__(self) -> int:
        return len(self._slot_of)

    def slot(self, symbol: str) -> int:
        """The slot id of ``symbol``; raises :class:`RingError` if it is not held."""
        try:
            return self._slot_of[symbol]
        except KeyError:
            raise RingError(f"unknown symbol {symbol!r}") from None

    def symbol_at(self, slot: int) -> str | None:
        """The symbol in ``slot``, or None for a free slot."""
        return self._symbol_at[slot]

    def add_symbol(self, symbol: str) -> int:
        """Add ``symbol`` (no-op if held) and return its slot; never copies existing bars."""
        if symbol in self._slot_of:
            return self._slot_of[symbol]
        if self._free:
            slot = min(self._free)
            self._free.remove(slot)
            self._symbol_at[slot] = symbol
        else:
            slot = len(self._symbol_at)
            if slot // BLOCK >= len(self._blocks):
                self._blocks.append(_Block(self.capacity))
            self._symbol_at.append(symbol)
        self._slot_of[symbol] = slot
        self.version += 1
        return slot

    def remove_symbol(self, symbol: str) -> None:
        """Drop ``symbol`` and its bars; its slot is reused by a later :meth:`add_symbol`."""
        slot = self.slot(symbol)
        block, row = self._locate(slot)
        block.data[:, row, :] = np.nan
        block.times[row, :] = -1
        block.head[row] = -1
        block.count[row] = 0
        block.forming[row, :] = np.nan
        block.forming_time[row] = -1
        del self._slot_of[symbol]
        self._symbol_at[slot] = None
        self._free.append(slot)
        self.version += 1

    def _locate(self, slot: int) -> tuple[_Block, int]:
        return self._blocks[slot // BLOCK], slot % BLOCK

    # -- closed bars ---------------------------------------------------------------------------

    def length(self, slot: int) -> int:
        """Closed bars held for ``slot`` (at most ``capacity``)."""
        block, row = self._locate(slot)
        return int(block.count[row])

    def lengths(self) -> I64:
        """Closed bars held per slot, every slot (0 for a free one)."""
        counts = [block.count for block in self._blocks]
        return np.concatenate(counts)[: self.n_slots] if counts else np.zeros(0, dtype=np.int64)

    def last_open_time(self, slot: int) -> int:
        """Open time of the newest closed bar of ``slot``, or -1 when empty."""
        block, row = self._locate(slot)
        h = block.head[row]
        return -1 if h < 0 else int(block.times[row, h])

    def next_open_time(self, slot: int) -> int:
        """Open time the next closed bar must have, or -1 when empty (anything goes)."""
        last = self.last_open_time(slot)
        return -1 if last < 0 else last + self.timeframe_ms

    def append(self, slot: int, open_time: int, values: Sequence[float] | F64) -> Append:
        """Append one closed bar (values in :data:`FIELDS` order); O(1).

        Idempotent by open time: a bar already held is a DUPLICATE, an older one STALE, and one
        that would leave a hole is refused as GAP (nothing is written in those cases).
        """
        block, row = self._locate(slot)
        h = block.head[row]
        if h >= 0:
            last = block.times[row, h]
            if open_time == last:
                return Append.DUPLICATE
            if open_time < last:
                return Append.STALE
            if open_time != last + self.timeframe_ms:
                return Append.GAP
        cap = self.capacity
        i = 0 if h < 0 else (h + 1) % cap
        col = block.data[:, row]
        col[:, i] = values
        col[:, i + cap] = values
        block.times[row, i] = open_time
        block.times[row, i + cap] = open_time
        block.head[row] = i
        self.version += 1
        if block.count[row] < cap:
            block.count[row] += 1
        if block.forming_time[row] <= open_time:
            block.forming[row, :] = np.nan
            block.forming_time[row] = -1
        return Append.APPENDED

    def extend(
        self, slot: int, open_times: Sequence[int], values: Sequence[Sequence[float]]
    ) -> int:
        """:meth:`append` each bar in turn; returns how many were APPENDED.

        The same result bar for bar, written at once (a backfill is thousands of bars): bars
        not newer than the newest held are skipped, then a contiguous run is written with one
        array assignment (only its last ``capacity`` bars can survive). Anything else (a hole)
        goes bar by bar through :meth:`append`.
        """
        n = len(open_times)
        last = self.last_open_time(slot)
        j = 0
        while j < n and open_times[j] <= last:
            j += 1  # DUPLICATE or STALE
        if j == n:
            return 0
        step = self.timeframe_ms
        first = open_times[j]
        m = n - j
        if (last >= 0 and first != last + step) or open_times[n - 1] != first + (m - 1) * step:
            return self._extend_slowly(slot, open_times[j:], values[j:])
        times = np.asarray(open_times[j:], dtype=np.int64)
        if m > 1 and not bool(np.all(np.diff(times) == step)):
            return self._extend_slowly(slot, open_times[j:], values[j:])
        block, row = self._locate(slot)
        cap = self.capacity
        h = int(block.head[row])
        start = 0 if h < 0 else (h + 1) % cap
        kept = min(m, cap)
        pos = (start + m - kept + np.arange(kept)) % cap
        bars = np.asarray(values[n - kept :], dtype=np.float64).T
        block.data[:, row, pos] = bars
        block.data[:, row, pos + cap] = bars
        block.times[row, pos] = times[m - kept :]
        block.times[row, pos + cap] = times[m - kept :]
        block.head[row] = (start + m - 1) % cap
        block.count[row] = min(cap, int(block.count[row]) + m)
        self.version += 1
        if block.forming_time[row] <= times[-1]:
            block.forming[row, :] = np.nan
            block.forming_time[row] = -1
        return m

    def _extend_slowly(
        self, slot: int, open_times: Sequence[int], values: Sequence[Sequence[float]]
    ) -> int:
        return sum(
            self.append(slot, t, v) is Append.APPENDED
            for t, v in zip(open_times, values, strict=True)
        )

    def window(self, slot: int, n: int | None = None) -> tuple[I64, F64]:
        """The last ``n`` closed bars of ``slot`` (all held if None), oldest first.

        Returns ``(open_times[n], values[N_FIELDS, n])`` as *views* into the ring: copy them if
        they must outlive the next append.
        """
        block, row = self._locate(slot)
        h = int(block.head[row])
        held = int(block.count[row])
        n = held if n is None else min(n, held)
        if h < 0 or n == 0:
            return np.empty(0, dtype=np.int64), np.empty((N_FIELDS, 0))
        end = h + self.capacity + 1
        return block.times[row, end - n : end], block.data[:, row, end - n : end]

    def blocks(self, slots: I64) -> list[tuple[F64, I64, I64, I64]]:
        """Where the bars of ``slots`` are held, block by block: ``(data, times, of, rows)``
        with ``data`` float64[N_FIELDS, rows, 2 * capacity] and ``times`` int64[rows, 2 *
        capacity] the block's arrays (not copies), ``of`` the positions in ``slots`` of the
        slots it holds and ``rows`` int64[k, 3] their row in it, the end of their window
        (:meth:`window`'s bars are ``end - held .. end - 1`` of the row) and the bars held."""
        found = []
        for b in np.unique(slots // BLOCK).tolist():
            block = self._blocks[b]
            of = np.nonzero(slots // BLOCK == b)[0]
            row = slots[of] % BLOCK
            held = block.count[row]
            end = np.where(held > 0, block.head[row] + self.capacity + 1, 0)
            found.append((block.data, block.times, of, np.stack([row, end, held], axis=1)))
        return found

    def latest(self, slots: Sequence[int] | I64) -> tuple[I64, F64]:
        """Newest closed bar of each slot: ``(open_times[k], values[k, N_FIELDS])`` (copies).

        Slots without bars give open time -1 and NaN values.
        """
        k = len(slots)
        times = np.full(k, -1, dtype=np.int64)
        values = np.full((k, N_FIELDS), np.nan)
        for j, slot in enumerate(slots):
            block, row = self._locate(int(slot))
            h = block.head[row]
            if h >= 0:
                times[j] = block.times[row, h]
                values[j] = block.data[:, row, h]
        return times, values

    def newest(self) -> tuple[I64, F64]:
        """Newest closed bar of every slot, vectorised: ``(open_times[n_slots],
        values[n_slots, N_FIELDS])`` (copies; open time -1 and NaN where a slot is empty)."""
        n = self.n_slots
        times = np.full(n, -1, dtype=np.int64)
        values = np.full((n, N_FIELDS), np.nan)
        for b, block in enumerate(self._blocks):
            lo = b * BLOCK
            hi = min(n, lo + BLOCK)
            if hi <= lo:
                break
            rows = np.arange(hi - lo)
            head = block.head[: hi - lo]
            held = head >= 0
            idx = np.where(held, head, 0)
            times[lo:hi] = np.where(held, block.times[rows, idx], -1)
            vals = block.data[:, rows, idx].T
            values[lo:hi] = np.where(held[:, None], vals, np.nan)
        return times, values

    # -- forming bar ---------------------------------------------------------------------------

    def set_forming(self, slot: int, open_time: int, values: Sequence[float] | F64) -> bool:
        """Replace the forming bar of ``slot``; ignored (False) if not newer than history."""
        block, row = self._locate(slot)
        if open_time <= self.last_open_time(slot):
            return False
        block.forming[row, :] = values
        block.forming_time[row] = open_time
        return True

    def forming(self, slot: int) -> tuple[int, F64] | None:
        """``(open_time, values[N_FIELDS])`` of the forming bar (a copy), or None."""
        block, row = self._locate(slot)
        t = int(block.forming_time[row])
        return None if t < 0 else (t, block.forming[row].copy())

    def nbytes(self) -> int:
        """Bytes held by the bar arrays."""
        return sum(b.data.nbytes + b.times.nbytes + b.forming.nbytes for b in self._blocks)
