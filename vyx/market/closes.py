"""What consumers hear from the market service, and when closes are announced (sans I/O).

Events, in the order a consumer must apply them:

- :class:`HistoryLoaded` — these symbols' history of a timeframe was (re)loaded wholesale
  (start-up, a symbol joining, a hole larger than the ring): rebuild their state from the ring;
- :class:`BarClosed` — closed bars opening at ``open_time`` were appended for ``symbols``;
- :class:`SymbolsRemoved` — these symbols left the universe; their slots may be reused.

Per (symbol, timeframe), BarClosed events come in strictly increasing, contiguous open-time
order and name each bar exactly once (gap repair hands on the missing bars first). A bucket
``(timeframe, open_time)`` is announced as soon as every live symbol has closed it, or after
``grace_s`` with the symbols that have (``complete=False``); stragglers follow in a
``late=True`` event of their own.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import attrs


@attrs.frozen
class BarClosed:
    """Closed bars of ``timeframe`` opening at ``open_time`` are in the ring for ``symbols``."""

    timeframe: str
    open_time: int
    symbols: tuple[str, ...]
    #: Every live symbol of the timeframe is included.
    complete: bool
    #: Symbols whose bar arrived after this bucket was already announced.
    late: bool = False
    #: ``trio.current_time()`` when the bucket was announced (latency measurements).
    at: float = attrs.field(default=math.nan, eq=False)


@attrs.frozen
class HistoryLoaded:
    """History of ``symbols`` in ``timeframe`` was loaded afresh: rebuild state from the ring.

    ``upto`` holds, per symbol, the open time of the newest bar the load put in the ring (-1:
    none). Live bars the stream appends after the load, before the screener takes this event,
    are newer than it: they are screened as closes (with their signals), not as history. Empty
    means "what the ring holds when the event is taken"."""

    timeframe: str
    symbols: tuple[str, ...]
    upto: tuple[int, ...] = ()


@attrs.frozen
class SymbolsRemoved:
    """``symbols`` left the universe (every timeframe)."""

    symbols: tuple[str, ...]


MarketEvent = BarClosed | HistoryLoaded | SymbolsRemoved


@attrs.define
class _Bucket:
    deadline: float
    symbols: list[str] = attrs.Factory(list)
    late: bool = False


class CloseTracker:
    """Groups appended closed bars into :class:`BarClosed` events per (timeframe, open_time).

    Args:
        expected: number of live symbols of a timeframe (a bucket with that many is complete).
        grace_s: how long a bucket waits for stragglers.
    """

    def __init__(self, expected: Callable[[str], int], grace_s: float = 2.0) -> None:
        self._expected = expected
        self.grace_s = grace_s
        self._buckets: dict[tuple[str, int], _Bucket] = {}
        self._announced: dict[str, int] = {}
        self._ready: list[BarClosed] = []

    def add(self, timeframe: str, open_time: int, symbol: str, now: float) -> None:
        """A closed bar was appended."""
        late = open_time <= self._announced.get(timeframe, -1)
        key = (timeframe, open_time)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(now if late else now + self.grace_s, late=late)
        bucket.symbols.append(symbol)
        if not bucket.late and len(bucket.symbols) >= self._expected(timeframe):
            self._flush(timeframe, open_time, complete=True, now=now)

    def loaded(self, timeframe: str, upto: int) -> None:
        """A backfill put bars of ``timeframe`` up to open time ``upto`` in some symbols'
        rings (the consumer hears of them as history). Another symbol's bar of such a bucket
        appended later (a close missed while the streams were being subscribed, repaired) is
        a straggler, announced at once (``late``): it does not wait ``grace_s`` for symbols
        whose bar came with their history."""
        self._announced[timeframe] = max(self._announced.get(timeframe, -1), upto)

    def next_deadline(self) -> float:
        """When :meth:`due` next has something (inf if nothing is pending)."""
        if self._ready:
            return -math.inf
        return min((b.deadline for b in self._buckets.values()), default=math.inf)

    def due(self, now: float) -> list[BarClosed]:
        """Events ready at ``now``, oldest bar first per timeframe."""
        for (tf, t), bucket in sorted(self._buckets.items(), key=lambda kv: kv[0][1]):
            if (tf, t) in self._buckets and bucket.deadline <= now:
                self._flush(tf, t, complete=False, now=now)
        out, self._ready = self._ready, []
        return out

    def _flush(self, timeframe: str, open_time: int, *, complete: bool, now: float) -> None:
        # Older buckets of the timeframe go first so open times never run backwards.
        keys = sorted(k for k in self._buckets if k[0] == timeframe and k[1] <= open_time)
        for key in keys:
            bucket = self._buckets.pop(key)
            whole = complete and key[1] == open_time
            self._ready.append(
                BarClosed(timeframe, key[1], tuple(bucket.symbols), whole, bucket.late, now)
            )
            if not bucket.late:
                self._announced[timeframe] = max(self._announced.get(timeframe, -1), key[1])

    def forget(self, symbols: set[str]) -> None:
        """Drop pending mentions of symbols that left."""
        for bucket in self._buckets.values():
            bucket.symbols = [s for s in bucket.symbols if s not in symbols]
